import type { JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { z } from 'zod';
import {
  AddPairBody,
  CreateGroupBody,
  CreateVolumeBody,
  PatchGroupBody,
  RoleBody,
} from '../shared/api/schemas/index';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Route {
  method: HttpMethod;
  path: string;
  /** The API's own schema of the JSON body (shared/api/schemas); API Gateway checks its shape. */
  body?: z.ZodType;
  /** Open without auth: /health (CONTRACT.md) and the OpenAPI document. */
  public?: true;
}

/** Every route of CONTRACT.md's REST API. */
export const ROUTES: Route[] = [
  { method: 'GET', path: '/health', public: true },
  { method: 'GET', path: '/openapi.json', public: true },
  { method: 'POST', path: '/volumes', body: CreateVolumeBody },
  { method: 'GET', path: '/volumes' },
  { method: 'GET', path: '/volumes/{volumeId}' },
  { method: 'DELETE', path: '/volumes/{volumeId}' },
  { method: 'POST', path: '/groups', body: CreateGroupBody },
  { method: 'GET', path: '/groups' },
  { method: 'GET', path: '/groups/{groupId}' },
  { method: 'PATCH', path: '/groups/{groupId}', body: PatchGroupBody },
  { method: 'DELETE', path: '/groups/{groupId}' },
  { method: 'POST', path: '/groups/{groupId}/pairs', body: AddPairBody },
  { method: 'DELETE', path: '/groups/{groupId}/pairs/{primaryVolumeId}' },
  { method: 'POST', path: '/groups/{groupId}/sync' },
  { method: 'GET', path: '/groups/{groupId}/syncs/{syncId}' },
  { method: 'POST', path: '/groups/{groupId}/syncs/{syncId}/abort' },
  { method: 'POST', path: '/groups/{groupId}/suspend' },
  { method: 'POST', path: '/groups/{groupId}/resume' },
  { method: 'POST', path: '/groups/{groupId}/role', body: RoleBody },
  { method: 'GET', path: '/groups/{groupId}/recovery-points' },
  { method: 'POST', path: '/groups/{groupId}/recovery-points/{rpId}/clones' },
  { method: 'DELETE', path: '/groups/{groupId}/recovery-points/{rpId}' },
  { method: 'GET', path: '/groups/{groupId}/events' },
];

/** The `{name}` segments of a route's path. */
export const pathParameters = (path: string): string[] => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);

/**
 * Draft-4 keywords API Gateway models validate with. Everything else (`$schema`, which the
 * model sets itself, `format`, `default`, `example`...) is dropped.
 */
const MODEL_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'description',
]);

function forModel(node: unknown, inProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => forModel(n));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => inProperties || MODEL_KEYWORDS.has(k))
      .map(([k, v]) => [k, forModel(v, !inProperties && k === 'properties')]),
  );
}

/**
 * The request model of a body: the same zod schema the router validates with, as draft-4 JSON
 * Schema. The gateway rejects what is malformed on its face (not an object, a required field
 * missing, a wrong type); domain rules (sizes, ids, names) stay with the app, which answers
 * with the contract's error codes.
 */
export function requestModel(body: z.ZodType): JsonSchema {
  return forModel(
    z.toJSONSchema(body, { target: 'draft-4', io: 'input', unrepresentable: 'any' }),
  ) as JsonSchema;
}
