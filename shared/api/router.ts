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
import { listRecoveryPoints } from '../usecases/recovery-points';
import { abortSync, getSync, startSync } from '../usecases/sync/index';
import { createVolume, deleteVolume, getVolume, listVolumes } from '../usecases/volumes';

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
}

type Params = Record<string, string>;
type Handler = (deps: Deps, params: Params, body: Record<string, unknown>) => Promise<ApiResponse>;

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });
const noContent = async (work: Promise<void>): Promise<ApiResponse> => {
  await work;
  return { status: 204 };
};

/** Every route of the REST API, shared by API Gateway's Lambda and the local HTTP server. */
const routes: [string, string, Handler][] = [
  ['GET', '/health', async () => ok({ status: 'ok' })],
  ['POST', '/volumes', async (d, _p, b) => ok(await createVolume(d, b), 201)],
  ['GET', '/volumes', async (d) => ok(await listVolumes(d))],
  ['GET', '/volumes/{volumeId}', async (d, p) => ok(await getVolume(d, p.volumeId))],
  ['DELETE', '/volumes/{volumeId}', (d, p) => noContent(deleteVolume(d, p.volumeId))],
  ['POST', '/groups', async (d, _p, b) => ok(await createGroup(d, b), 201)],
  ['GET', '/groups', async (d) => ok(await listGroups(d))],
  ['GET', '/groups/{groupId}', async (d, p) => ok(await getGroup(d, p.groupId))],
  ['PATCH', '/groups/{groupId}', async (d, p, b) => ok(await patchGroup(d, p.groupId, b))],
  ['DELETE', '/groups/{groupId}', (d, p) => noContent(deleteGroup(d, p.groupId))],
  ['POST', '/groups/{groupId}/pairs', async (d, p, b) => ok(await addPair(d, p.groupId, b), 201)],
  [
    'DELETE',
    '/groups/{groupId}/pairs/{primaryVolumeId}',
    (d, p) => noContent(removePair(d, p.groupId, p.primaryVolumeId)),
  ],
  ['POST', '/groups/{groupId}/sync', async (d, p) => ok(await startSync(d, p.groupId), 202)],
  ['GET', '/groups/{groupId}/syncs/{syncId}', async (d, p) => ok(await getSync(d, p.groupId, p.syncId))],
  [
    'POST',
    '/groups/{groupId}/syncs/{syncId}/abort',
    async (d, p) => ok(await abortSync(d, p.groupId, p.syncId)),
  ],
  ['POST', '/groups/{groupId}/suspend', async (d, p) => ok(await suspendGroup(d, p.groupId))],
  ['POST', '/groups/{groupId}/resume', async (d, p) => ok(await resumeGroup(d, p.groupId))],
  ['GET', '/groups/{groupId}/recovery-points', async (d, p) => ok(await listRecoveryPoints(d, p.groupId))],
  [
    'POST',
    '/groups/{groupId}/recovery-points/{rpId}/clones',
    async (d, p) => ok(await cloneRecoveryPoint(d, p.groupId, p.rpId), 201),
  ],
  [
    'GET',
    '/groups/{groupId}/events',
    async (d, p) => {
      const group = await loadGroup(d, p.groupId);
      return ok(await listEvents(d, group.id));
    },
  ],
];

export const ROUTES = routes.map(([method, pattern]) => ({ method, pattern }));

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

/** Path parameters by name; decoded values are validated by the use case, so `..` or `/` never reach a key. */
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
    const candidates = routes.flatMap(([method, pattern, handler]) => {
      const params = match(pattern, segments);
      return params ? [{ method, handler, params }] : [];
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
    const candidates = routes
      .filter(([, pattern]) => pattern === req.resource)
      .map(([method, , handler]) => ({ method, handler, params }));
    return dispatch(deps, req, req.resource, candidates);
  });
}

async function dispatch(
  deps: Deps,
  req: { method: string; body?: string | null },
  path: string,
  candidates: { method: string; handler: Handler; params: Params }[],
): Promise<ApiResponse> {
  if (candidates.length === 0) throw notFound('route', path);
  const hit = candidates.find((r) => r.method === req.method);
  if (!hit) {
    const allow = [...new Set(candidates.map((r) => r.method))].join(', ');
    return {
      status: 405,
      headers: { allow },
      body: {
        error: { code: 'method-not-allowed', message: `${req.method} is not served here; allowed: ${allow}` },
      },
    };
  }
  return hit.handler(deps, hit.params, parseBody(req.body));
}

/** Domain errors become their 4xx; anything else is logged and answered as a 500 without detail. */
async function answer(where: string, work: () => Promise<ApiResponse>): Promise<ApiResponse> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof DomainError) return errorResponse(e);
    console.error(JSON.stringify({ level: 'error', msg: 'request failed', path: where, error: String(e) }));
    return {
      status: 500,
      body: { error: { code: 'internal', message: 'internal error; see the service log' } },
    };
  }
}

function parseBody(body: string | null | undefined): Record<string, unknown> {
  if (!body) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw badInput('request body is not valid JSON', 'bad-json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badInput('request body must be a JSON object', 'bad-json');
  }
  return parsed as Record<string, unknown>;
}

export function errorResponse(e: DomainError): ApiResponse {
  return { status: e.status, body: { error: { code: e.code, message: e.message } } };
}
