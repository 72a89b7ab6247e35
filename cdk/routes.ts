import { type JsonSchema, JsonSchemaType } from 'aws-cdk-lib/aws-apigateway';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Route {
  method: HttpMethod;
  path: string;
  /** Schema API Gateway checks the JSON body against; routes without a body have none. */
  body?: JsonSchema;
  /** Only /health is open: CONTRACT.md has it answer without auth. */
  public?: true;
}

const STRING = { type: JsonSchemaType.STRING };
const SIZE = { type: [JsonSchemaType.INTEGER, JsonSchemaType.STRING] };

// The gateway rejects what is malformed on its face (not an object, a required field missing,
// a wrong type); values are checked by the app, which answers with the contract's error codes.
const object = (required: string[], properties: JsonSchema['properties'] = {}): JsonSchema => ({
  type: JsonSchemaType.OBJECT,
  required,
  properties,
});

const SYNC = object(['mode'], {
  mode: { type: JsonSchemaType.STRING, enum: ['manual', 'scheduled', 'continuous'] },
  intervalSeconds: { type: JsonSchemaType.INTEGER },
});

/** Every route of CONTRACT.md's REST API. */
export const ROUTES: Route[] = [
  { method: 'GET', path: '/health', public: true },
  {
    method: 'POST',
    path: '/volumes',
    body: object(['name', 'site', 'sizeBytes'], {
      name: STRING,
      site: STRING,
      sizeBytes: SIZE,
      chunkSizeBytes: SIZE,
    }),
  },
  { method: 'GET', path: '/volumes' },
  { method: 'GET', path: '/volumes/{volumeId}' },
  { method: 'DELETE', path: '/volumes/{volumeId}' },
  {
    method: 'POST',
    path: '/groups',
    body: object(['name', 'primarySite', 'secondarySite'], {
      name: STRING,
      primarySite: STRING,
      secondarySite: STRING,
      sync: SYNC,
    }),
  },
  { method: 'GET', path: '/groups' },
  { method: 'GET', path: '/groups/{groupId}' },
  { method: 'PATCH', path: '/groups/{groupId}', body: object([]) },
  { method: 'DELETE', path: '/groups/{groupId}' },
  {
    method: 'POST',
    path: '/groups/{groupId}/pairs',
    body: object(['primaryVolumeId'], { primaryVolumeId: STRING, secondaryVolumeId: STRING }),
  },
  { method: 'DELETE', path: '/groups/{groupId}/pairs/{primaryVolumeId}' },
  { method: 'POST', path: '/groups/{groupId}/sync' },
  { method: 'GET', path: '/groups/{groupId}/syncs/{syncId}' },
  { method: 'POST', path: '/groups/{groupId}/syncs/{syncId}/abort' },
  { method: 'POST', path: '/groups/{groupId}/suspend' },
  { method: 'POST', path: '/groups/{groupId}/resume' },
  {
    method: 'POST',
    path: '/groups/{groupId}/role',
    body: object(['site', 'role'], {
      site: STRING,
      role: { type: JsonSchemaType.STRING, enum: ['primary', 'secondary'] },
      force: { type: JsonSchemaType.BOOLEAN },
    }),
  },
  { method: 'GET', path: '/groups/{groupId}/recovery-points' },
  { method: 'POST', path: '/groups/{groupId}/recovery-points/{rpId}/clones' },
  { method: 'GET', path: '/groups/{groupId}/events' },
];

/** The `{name}` segments of a route's path. */
export const pathParameters = (path: string): string[] => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
