import { buildClients } from '../shared/aws/clients';
import { buildDeps, type Deps } from '../shared/deps';
import { listVolumes } from '../shared/usecases/volumes';
import { loadLocal, pickByName } from './api-client';
import { ApiError } from './errors';

/**
 * Data-plane commands talk to S3, SQS and DynamoDB themselves, as a gateway host would,
 * instead of pushing volume bytes through the REST API. The clients are built from the
 * resource config that `volmirror up` wrote, and destroyed afterwards so the process exits.
 */
export async function withDeps<T>(work: (deps: Deps) => Promise<T>): Promise<T> {
  const local = loadLocal();
  const clients = buildClients(local.config);
  try {
    return await work(buildDeps(local.config, clients));
  } catch (e) {
    throw unreachable(e);
  } finally {
    clients.destroy();
  }
}

export async function resolveVolume(deps: Deps, ref: string): Promise<string> {
  if (/^vol-[0-9a-f]{12}$/.test(ref)) return ref;
  return pickByName(await listVolumes(deps), ref, 'volume');
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

/** A storage endpoint that does not answer (a cut link, a stopped emulator) says so plainly. */
function unreachable(e: unknown): unknown {
  const err = e as Error & { code?: string; cause?: { code?: string } };
  const code = err?.code ?? err?.cause?.code ?? /\b(E[A-Z]+)\b/.exec(err?.message ?? '')?.[1];
  if (!code || !NETWORK_CODES.has(code)) return e;
  return new ApiError(
    503,
    'site-unreachable',
    `a site's storage did not answer (${err.message}); see \`volmirror status\` and \`volmirror local link heal\``,
  );
}
