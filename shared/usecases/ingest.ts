import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { badInput } from '../domain/errors';
import { checkId } from '../domain/ids';
import type { ChangeBatch } from '../domain/model';
import { tracksChangeBatch } from './backlog';
import type { StoredChangeBatch } from './sync/index';

export function parseChangeBatch(body: string): ChangeBatch {
  let b: Partial<ChangeBatch>;
  try {
    b = JSON.parse(body);
  } catch {
    throw badInput('change batch is not JSON');
  }
  checkId(b.groupId, 'groupId');
  checkId(b.session, 'session');
  if (!Number.isInteger(b.epoch) || !Number.isInteger(b.batch) || !Array.isArray(b.records)) {
    throw badInput('change batch needs integer epoch and batch and a records array');
  }
  for (const r of b.records) {
    checkId(r.volumeId, 'volumeId');
    if (
      !Number.isInteger(r.chunk) ||
      !Number.isInteger(r.seq) ||
      typeof r.versionId !== 'string' ||
      typeof r.pairId !== 'string'
    ) {
      throw badInput('change record needs integer chunk and seq, a versionId and a pairId');
    }
  }
  return b as ChangeBatch;
}

/**
 * Stores one change batch durably, keyed by (group, epoch, session, batch): a duplicate
 * delivery finds its key taken and changes nothing; order does not matter because the
 * sync coalesces by (epoch, seq).
 */
export async function ingestChangeBatch(
  deps: Deps,
  body: string,
): Promise<'stored' | 'duplicate' | 'dropped'> {
  const b = parseChangeBatch(body);
  if (!(await tracksChangeBatch(deps, b))) return 'dropped';
  const item: StoredChangeBatch = {
    epoch: b.epoch,
    session: b.session,
    batch: b.batch,
    records: JSON.stringify(b.records),
    bytes: b.records.reduce((n, r) => n + r.bytes, 0),
    storedAt: deps.now(),
  };
  const stored = await deps.table.put(keys.changeBatch(b.groupId, b.epoch, b.session, b.batch), item, {
    expr: 'attribute_not_exists(pk)',
  });
  return stored ? 'stored' : 'duplicate';
}
