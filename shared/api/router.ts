import type { Deps } from '../deps';
import { badInput, DomainError, notFound } from '../domain/errors';
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

export interface ApiRequest {
  method: string;
  path: string;
  body?: string | null;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
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
    'GET',
    '/groups/{groupId}/events',
    async (d, p) => {
      const group = await loadGroup(d, p.groupId);
      return ok(await listEvents(d, group.id));
    },
  ],
];

export const ROUTES = routes.map(([method, pattern]) => ({ method, pattern }));

function match(pattern: string, path: string): Params | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith('{')) {
      // Decoded here and validated by the use case, so `..` or `%2F` never reach a key.
      params[want[i].slice(1, -1)] = decodeURIComponent(got[i]);
    } else if (want[i] !== got[i]) {
      return undefined;
    }
  }
  return params;
}

export async function route(deps: Deps, req: ApiRequest): Promise<ApiResponse> {
  try {
    const path = req.path.replace(/\/+$/, '') || '/';
    const candidates = routes
      .map(([method, pattern, handler]) => ({ method, handler, params: match(pattern, path) }))
      .filter((r) => r.params);
    if (candidates.length === 0) throw notFound('route', path);
    const hit = candidates.find((r) => r.method === req.method);
    if (!hit?.params) {
      return errorResponse(
        new DomainError(400, 'method-not-allowed', `${req.method} is not supported on ${path}`),
      );
    }
    return await hit.handler(deps, hit.params, parseBody(req.body));
  } catch (e) {
    if (e instanceof DomainError) return errorResponse(e);
    console.error(
      JSON.stringify({ level: 'error', msg: 'request failed', path: req.path, error: String(e) }),
    );
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
