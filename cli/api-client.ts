import { isAlive, type LocalConfig, localConfigPath, readLocalConfig } from '../local/local-config';
import type {
  ClonesView,
  EventView,
  GroupView,
  PairView,
  RecoveryPointView,
  SyncStartedView,
  SyncView,
  VolumeView,
} from '../shared/api/schemas/index';
import { ApiError, CliError } from './errors';

/** The API's answers, typed by the schemas the API validates and documents them with. */
export type {
  ClonesView,
  EventView,
  GroupView,
  PairView,
  RecoveryPointView,
  SyncStartedView,
  SyncView,
  VolumeView,
};

const REQUEST_TIMEOUT_MS = 60_000;

export const NO_STACK = 'no local stack: run `volmirror up`';

/** The local config written by `volmirror up`, or the error every command gives without it. */
export function loadLocal(): LocalConfig {
  let local: LocalConfig | undefined;
  try {
    local = readLocalConfig();
  } catch (e) {
    throw new CliError(`cannot read ${localConfigPath()}: ${(e as Error).message}`);
  }
  if (!local) throw new CliError(NO_STACK);
  if (!isAlive(local.pid)) {
    throw new CliError(
      `the local stack (pid ${local.pid}) is not running any more: run \`volmirror down\` to clean up, then \`volmirror up\``,
    );
  }
  return local;
}

/** A path segment: whatever the user typed reaches the API as one segment, validated there. */
export const seg = (value: string) => encodeURIComponent(value);

/** Headers that authorize one request: a bearer token locally, a SigV4 signature on AWS. */
export type Authorizer = (
  method: string,
  url: string,
  body: string | undefined,
) => Promise<Record<string, string>>;

/**
 * The REST API of CONTRACT.md. With VOLMIRROR_API_URL set (a deployed API Gateway stage),
 * requests are SigV4-signed for VOLMIRROR_API_REGION (or AWS_REGION); otherwise they go to
 * the local stack with its bearer token.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly authorize: Authorizer,
  ) {}

  static fromLocal(env: NodeJS.ProcessEnv = process.env): ApiClient {
    const deployed = env.VOLMIRROR_API_URL;
    if (deployed) {
      const region = env.VOLMIRROR_API_REGION ?? env.AWS_REGION;
      if (!region)
        throw new CliError('VOLMIRROR_API_URL needs VOLMIRROR_API_REGION (or AWS_REGION) for SigV4');
      // The signer (the AWS SDK's credential chain) loads on the first request, not at startup.
      let signer: Promise<Authorizer> | undefined;
      return new ApiClient(deployed.replace(/\/+$/, ''), async (method, url, body) => {
        signer ??= import('./sigv4').then((m) => m.sigv4Signer(region));
        return (await signer)(method, url, body);
      });
    }
    const local = loadLocal();
    return new ApiClient(local.apiUrl, async () => ({ authorization: `Bearer ${local.token}` }));
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      const url = `${this.baseUrl}${path}`;
      const text = body === undefined ? undefined : JSON.stringify(body);
      res = await fetch(url, {
        method,
        headers: {
          ...(await this.authorize(method, url, text)),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: text,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw unreachable(this.baseUrl, e);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, 'bad-response', `HTTP ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? `http-${res.status}`, err?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  async delete(path: string): Promise<void> {
    await this.request<void>('DELETE', path);
  }

  /** A volume id, or a volume name resolved to its id (names are what people remember). */
  async volumeId(ref: string): Promise<string> {
    if (/^vol-[0-9a-f]{12}$/.test(ref)) return ref;
    return pickByName(await this.get<VolumeView[]>('/volumes'), ref, 'volume');
  }

  async groupId(ref: string): Promise<string> {
    if (/^grp-[0-9a-f]{12}$/.test(ref)) return ref;
    return pickByName(await this.get<GroupView[]>('/groups'), ref, 'group');
  }
}

/**
 * Resolves a name to the one item carrying it. An unknown reference is passed on as typed,
 * so the API validates it and answers with its own code (bad-id, ...-not-found).
 */
export function pickByName(items: { id: string; name: string }[], ref: string, kind: string): string {
  if (items.some((i) => i.id === ref)) return ref;
  const named = items.filter((i) => i.name === ref);
  if (named.length > 1) {
    throw new CliError(
      `${named.length} ${kind}s are named ${ref} (${named.map((i) => i.id).join(', ')}); use the id`,
    );
  }
  return named[0]?.id ?? ref;
}

function unreachable(url: string, e: unknown): CliError {
  const err = e as Error & { cause?: { code?: string } };
  if (err.name === 'TimeoutError') return new CliError(`the API at ${url} did not answer in time`);
  const why = err.cause?.code ?? err.message;
  return new CliError(
    `cannot reach the volmirror API at ${url} (${why}); is \`volmirror up\` still running?`,
  );
}
