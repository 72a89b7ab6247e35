import type { z } from 'zod';
import type { Deps } from '../deps';
import { badInput, DomainError, notFound } from '../domain/errors';
import { cloneRecoveryPoint } from '../usecases/clones';
import { listEvents } from '../usecases/events';
import {
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  loadGroup,
  patchGroup,
  resumeGroup,
  suspendGroup,
} from '../usecases/groups';
import { addPair, removePair } from '../usecases/pairs';
import { removePreservedWrites } from '../usecases/preserved-writes';
import { listRecoveryPoints } from '../usecases/recovery-points';
import { requestRoleChange } from '../usecases/roles';
import { abortSync, getSync, startSync } from '../usecases/sync/index';
import { createVolume, deleteVolume, getVolume, listVolumes } from '../usecases/volumes';
import { openApiDocument } from './openapi';
import * as S from './schemas/index';

/** A request as the local HTTP server sees it: the path still percent-encoded, as sent. */
export interface ApiRequest {
  method: string;
  path: string;
  body?: string | null;
}

/**
 * A request API Gateway has routed already: the resource's pattern (`/volumes/{volumeId}`) and
 * the path parameters, which a REST API delivers decoded (its `path` stays percent-encoded).
 */
export interface MatchedRequest {
  method: string;
  resource: string;
  params: Record<string, string | undefined> | null;
  body?: string | null;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** For a 500: what failed, for the caller's log (never sent to the client). */
  failure?: { path: string; error: unknown };
}

type Params = Record<string, string>;
type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
/** What a handler resolves to: the response schema's shape; a 204 route answers nothing. */
type Answer<S> = S extends z.ZodType ? z.input<S> : unknown;

/** One route: its schemas are the contract, the handler is typed by them. */
export interface Route {
  method: HttpMethod;
  pattern: string;
  summary: string;
  /** Status of a success; 204 answers without a body. */
  status: 200 | 201 | 202 | 204;
  params?: z.ZodObject;
  body?: z.ZodType;
  response?: z.ZodType;
  /**
   * The path parameters of other routes that a success names, as OpenAPI runtime expressions
   * (`$response.body#/id`): the document's links, which fuzzers and clients follow.
   */
  yields?: Record<string, string>;
  /** Answers without auth (CONTRACT.md: /health; the OpenAPI document). */
  public?: true;
  handle: (deps: Deps, params: never, body: never) => Promise<unknown>;
}

function def<
  P extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(
  spec: Omit<Route, 'handle' | 'params' | 'body' | 'response'> & { params?: P; body?: B; response?: R },
  handle: (deps: Deps, params: Out<P>, body: Out<B>) => Promise<Answer<R>>,
): Route {
  return { ...spec, handle };
}

/** Every route of the REST API, shared by API Gateway's Lambda and the local HTTP server. */
export const ROUTES: Route[] = [
  def(
    { method: 'GET', pattern: '/health', summary: 'Liveness', status: 200, response: S.Health, public: true },
    async () => ({ status: 'ok' as const }),
  ),
  def(
    {
      method: 'GET',
      pattern: '/openapi.json',
      summary: 'This API as OpenAPI 3.1',
      status: 200,
      response: S.OpenApiDocument,
      public: true,
    },
    async () => ({ ...openApiDocument(ROUTES) }),
  ),
  def(
    {
      method: 'POST',
      pattern: '/volumes',
      summary: 'Create a volume',
      status: 201,
      body: S.CreateVolumeBody,
      response: S.Volume,
      yields: { volumeId: '$response.body#/id' },
    },
    (d, _p, b) => createVolume(d, b),
  ),
  def(
    { method: 'GET', pattern: '/volumes', summary: 'List volumes', status: 200, response: S.VolumeList },
    (d) => listVolumes(d),
  ),
  def(
    {
      method: 'GET',
      pattern: '/volumes/{volumeId}',
      summary: 'Show a volume',
      status: 200,
      params: S.VolumeParams,
      response: S.Volume,
    },
    (d, p) => getVolume(d, p.volumeId),
  ),
  def(
    {
      method: 'DELETE',
      pattern: '/volumes/{volumeId}',
      summary: 'Delete a volume not in a pair',
      status: 204,
      params: S.VolumeParams,
    },
    (d, p) => deleteVolume(d, p.volumeId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups',
      summary: 'Create a mirror group',
      status: 201,
      body: S.CreateGroupBody,
      response: S.Group,
      yields: { groupId: '$response.body#/id' },
    },
    (d, _p, b) => createGroup(d, b),
  ),
  def(
    { method: 'GET', pattern: '/groups', summary: 'List groups', status: 200, response: S.GroupList },
    (d) => listGroups(d),
  ),
  def(
    {
      method: 'GET',
      pattern: '/groups/{groupId}',
      summary: 'Show a group',
      status: 200,
      params: S.GroupParams,
      response: S.Group,
    },
    (d, p) => getGroup(d, p.groupId),
  ),
  def(
    {
      method: 'PATCH',
      pattern: '/groups/{groupId}',
      summary: 'Change group settings',
      status: 200,
      params: S.GroupParams,
      body: S.PatchGroupBody,
      response: S.Group,
    },
    (d, p, b) => patchGroup(d, p.groupId, b),
  ),
  def(
    {
      method: 'DELETE',
      pattern: '/groups/{groupId}',
      summary: 'Delete an empty group',
      status: 204,
      params: S.GroupParams,
    },
    (d, p) => deleteGroup(d, p.groupId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/pairs',
      summary: 'Add a mirrored pair',
      status: 201,
      params: S.GroupParams,
      body: S.AddPairBody,
      response: S.Pair,
      yields: {
        groupId: '$request.path.groupId',
        primaryVolumeId: '$response.body#/primaryVolumeId',
        volumeId: '$response.body#/secondaryVolumeId',
      },
    },
    (d, p, b) => addPair(d, p.groupId, b),
  ),
  def(
    {
      method: 'DELETE',
      pattern: '/groups/{groupId}/pairs/{primaryVolumeId}',
      summary: 'Remove a pair',
      status: 204,
      params: S.PairParams,
    },
    (d, p) => removePair(d, p.groupId, p.primaryVolumeId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/sync',
      summary: 'Start a manual sync',
      status: 202,
      params: S.GroupParams,
      response: S.SyncStarted,
      yields: { groupId: '$request.path.groupId', syncId: '$response.body#/syncId' },
    },
    (d, p) => startSync(d, p.groupId),
  ),
  def(
    {
      method: 'GET',
      pattern: '/groups/{groupId}/syncs/{syncId}',
      summary: 'Show a sync',
      status: 200,
      params: S.SyncParams,
      response: S.Sync,
    },
    (d, p) => getSync(d, p.groupId, p.syncId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/syncs/{syncId}/abort',
      summary: 'Abort a running sync',
      status: 200,
      params: S.SyncParams,
      response: S.Sync,
    },
    (d, p) => abortSync(d, p.groupId, p.syncId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/suspend',
      summary: 'Suspend mirroring',
      status: 200,
      params: S.GroupParams,
      response: S.Group,
    },
    (d, p) => suspendGroup(d, p.groupId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/resume',
      summary: 'Resume mirroring',
      status: 200,
      params: S.GroupParams,
      response: S.Group,
    },
    (d, p) => resumeGroup(d, p.groupId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/role',
      summary: 'Change the role of a site (planned, or forced with force: true)',
      status: 202,
      params: S.GroupParams,
      body: S.RoleBody,
      response: S.Group,
    },
    (d, p, b) => requestRoleChange(d, p.groupId, b),
  ),
  def(
    {
      method: 'GET',
      pattern: '/groups/{groupId}/recovery-points',
      summary: 'List committed recovery points',
      status: 200,
      params: S.GroupParams,
      response: S.RecoveryPointList,
    },
    (d, p) => listRecoveryPoints(d, p.groupId),
  ),
  def(
    {
      method: 'POST',
      pattern: '/groups/{groupId}/recovery-points/{rpId}/clones',
      summary:
        'Clone a recovery point: writable point-in-time volumes at the secondary site, no chunk copied',
      status: 201,
      params: S.RecoveryPointParams,
      response: S.Clones,
    },
    (d, p) => cloneRecoveryPoint(d, p.groupId, p.rpId),
  ),
  def(
    {
      method: 'DELETE',
      pattern: '/groups/{groupId}/recovery-points/{rpId}',
      summary:
        'Remove a preserved-writes item and the chunk versions only it holds (committed RPs are refused)',
      status: 204,
      params: S.RecoveryPointParams,
    },
    (d, p) => removePreservedWrites(d, p.groupId, p.rpId),
  ),
  def(
    {
      method: 'GET',
      pattern: '/groups/{groupId}/events',
      summary: "List the group's events",
      status: 200,
      params: S.GroupParams,
      response: S.EventList,
    },
    async (d, p) => listEvents(d, (await loadGroup(d, p.groupId)).id),
  ),
];

/** Decodes every segment up front, so a malformed escape is bad input wherever it is. */
function segmentsOf(path: string): string[] {
  return path.split('/').map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw badInput(`the path segment "${segment}" is not valid percent-encoding`, 'bad-path');
    }
  });
}

/** Path parameters by name; decoded values are validated by the route's schema, so `..` or `/` never reach a key. */
function match(pattern: string, got: string[]): Params | undefined {
  const want = pattern.split('/');
  if (want.length !== got.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith('{')) params[want[i].slice(1, -1)] = got[i];
    else if (want[i] !== got[i]) return undefined;
  }
  return params;
}

/**
 * Routes a request by its percent-encoded path. Unknown paths are 404; a known path asked with
 * a method it does not serve is 405 with an Allow header naming the methods it does.
 */
export function route(deps: Deps, req: ApiRequest): Promise<ApiResponse> {
  return answer(req.path, async () => {
    const segments = segmentsOf(req.path.replace(/\/+$/, '') || '/');
    const candidates = ROUTES.flatMap((r) => {
      const params = match(r.pattern, segments);
      return params ? [{ route: r, params }] : [];
    });
    return dispatch(deps, req, req.path, candidates);
  });
}

/** Routes a request API Gateway matched to a resource, with the parameters it decoded. */
export function routeMatched(deps: Deps, req: MatchedRequest): Promise<ApiResponse> {
  return answer(req.resource, async () => {
    const params: Params = {};
    for (const [name, value] of Object.entries(req.params ?? {}))
      if (value !== undefined) params[name] = value;
    const candidates = ROUTES.filter((r) => r.pattern === req.resource).map((r) => ({ route: r, params }));
    return dispatch(deps, req, req.resource, candidates);
  });
}

async function dispatch(
  deps: Deps,
  req: { method: string; body?: string | null },
  path: string,
  candidates: { route: Route; params: Params }[],
): Promise<ApiResponse> {
  if (candidates.length === 0) throw notFound('route', path);
  const hit = candidates.find((c) => c.route.method === req.method);
  if (!hit) {
    const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
    return {
      status: 405,
      headers: { allow },
      body: {
        error: { code: 'method-not-allowed', message: `${req.method} is not served here; allowed: ${allow}` },
      },
    };
  }
  const { route: r } = hit;
  // Validated before the use case runs, so a refused request changes nothing.
  const params = r.params ? S.parseWith(r.params, hit.params, 'path') : undefined;
  const body = r.body ? S.parseWith(r.body, parseBody(req.body), 'body') : undefined;
  const out = await r.handle(deps, params as never, body as never);
  return r.status === 204 ? { status: 204 } : { status: r.status, body: out };
}

/** Domain errors become their 4xx; anything else is a 500 without detail, the failure kept for the log. */
async function answer(where: string, work: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof DomainError) return errorResponse(e);
    return {
      status: 500,
      failure: { path: where, error: e },
      body: { error: { code: 'internal', message: 'internal error; see the service log' } },
    };
  }
}

/** The JSON object a body route needs; a missing body is bad input, not an empty object. */
function parseBody(body: string | null | undefined): Record<string, unknown> {
  if (!body) throw badInput('body: a JSON object is required', 'bad-json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw badInput('body: not valid JSON', 'bad-json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badInput('body: must be a JSON object', 'bad-json');
  }
  return parsed as Record<string, unknown>;
}

export function errorResponse(e: DomainError): ApiResponse {
  return { status: e.status, body: { error: { code: e.code, message: e.message } } };
}
