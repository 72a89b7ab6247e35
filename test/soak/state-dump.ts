import { groupPartition } from '../../shared/aws/keys';
import type { Deps } from '../../shared/deps';
import type { Group, RecoveryPoint } from '../../shared/domain/model';
import { primaryManifestSite } from '../../shared/domain/roles';

/**
 * What the control table and the manifests say about a group, one line per item: printed with
 * a violation, so that the failing run can be understood without reproducing it again.
 */
export async function dumpGroupState(deps: Deps, groupId: string): Promise<string[]> {
  const lines: string[] = [];
  const items = await deps.table.queryPrefix<Record<string, unknown> & { sk?: string }>(
    groupPartition(groupId),
    '',
  );
  const group = await deps.table.get<Record<string, unknown>>({ pk: 'GROUPS', sk: groupId });
  lines.push(`group ${JSON.stringify(group)}`);
  for (const item of items) {
    const { records, ...rest } = item;
    const shown = typeof records === 'string' ? { ...rest, records: JSON.parse(records) } : rest;
    lines.push(JSON.stringify(shown));
    const rp = item as unknown as RecoveryPoint;
    if (rp.volumes && rp.number !== undefined) {
      for (const v of rp.volumes) {
        // A preserved-writes item names its one manifest twice.
        const sites: (readonly [string, string])[] =
          rp.kind === 'preserved-writes'
            ? [[rp.site, v.primaryManifestKey]]
            : [
                [primaryManifestSite(group as unknown as Group, rp), v.primaryManifestKey],
                [rp.site, v.secondaryManifestKey],
              ];
        for (const [site, key] of sites) {
          const entries: string[] = [];
          try {
            for await (const [i, ver] of deps.stores[site].readManifest(key)) entries.push(`${i}:${ver}`);
          } catch (e) {
            entries.push(`unreadable: ${(e as Error).message}`);
          }
          lines.push(`  ${rp.id} ${site} ${key}: ${entries.join(' ')}`);
        }
      }
    }
  }
  return lines;
}
