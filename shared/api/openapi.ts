import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import type { Route } from './router';
import { ErrorBody } from './schemas/index';

type Document = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const ERRORS: [number, string][] = [
  [400, 'bad input: the body or a path parameter breaks its schema or a domain rule; nothing changed'],
  [401, 'missing or wrong bearer token (the local API); a deployed API answers 403 to a bad signature'],
  [404, 'the resource (or route) does not exist'],
  [405, 'the path does not serve this method; the Allow header names those it does'],
  [409, 'conflict: wrong state, lease held, role rule; nothing changed'],
  [422, 'a rule refused the request (the rule is in the message); nothing changed'],
];

const errorResponse = (description: string): ResponseConfig => ({
  description,
  content: { 'application/json': { schema: ErrorBody } },
});

/** `GET /groups/{groupId}/syncs/{syncId}` -> `getGroupsGroupIdSyncsSyncId`. */
const operationId = (r: Route) =>
  r.method.toLowerCase() +
  r.pattern
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

/** Links from a route's success to every route whose path parameters it names. */
function linksOf(r: Route, routes: readonly Route[]): ResponseConfig['links'] {
  const yields = r.yields;
  if (!yields) return undefined;
  const targets = routes.filter((t) => {
    const names = Object.keys(t.params?.shape ?? {});
    return names.length > 0 && names.every((n) => n in yields);
  });
  return Object.fromEntries(
    targets.map((t) => [
      operationId(t),
      {
        operationId: operationId(t),
        parameters: Object.fromEntries(Object.keys(t.params?.shape ?? {}).map((n) => [n, yields[n]])),
      },
    ]),
  );
}

function pathOf(r: Route, routes: readonly Route[], bearer: string): RouteConfig {
  const links = linksOf(r, routes);
  const success: ResponseConfig =
    r.status === 204 || !r.response
      ? { description: 'done' }
      : {
          description: r.summary,
          content: { 'application/json': { schema: r.response } },
          ...(links && { links }),
        };
  const errors = r.public ? ERRORS.filter(([status]) => status === 405) : ERRORS;
  return {
    method: r.method.toLowerCase() as RouteConfig['method'],
    path: r.pattern,
    operationId: operationId(r),
    summary: r.summary,
    security: r.public ? [] : [{ [bearer]: [] }],
    request: {
      ...(r.params && { params: r.params }),
      ...(r.body && { body: { required: true, content: { 'application/json': { schema: r.body } } } }),
    },
    responses: {
      [r.status]: success,
      ...Object.fromEntries(errors.map(([status, why]) => [status, errorResponse(why)])),
      default: errorResponse('internal error (500) or a gateway error; the service log has the detail'),
    },
  };
}

let built: { routes: readonly Route[]; doc: Document } | undefined;

/** The OpenAPI 3.1 document of the routes, made from the schemas the router validates with. */
export function openApiDocument(routes: readonly Route[]): Document {
  if (built?.routes === routes) return built.doc;
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'The local API (`volmirror up`) takes the bearer token from its local config. A deployed API ' +
      'Gateway stage takes AWS SigV4 (IAM) signatures for the execute-api service instead.',
  });
  for (const r of routes) registry.registerPath(pathOf(r, routes, bearer.name));
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'volmirror',
      version: '1',
      description:
        'Asynchronous volume mirroring: volumes, mirror groups, syncs, roles and recovery points. ' +
        'Errors are {"error":{"code","message"}}; a refused request changes nothing.',
    },
  });
  built = { routes, doc };
  return doc;
}
