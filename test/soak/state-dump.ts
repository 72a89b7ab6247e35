import { groupPartition } from '../../shared/aws/keys';
import type { Deps } from '../../shared/deps';
import type { RecoveryPoint } from '../../shared/domain/model';

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
      // An RP's primary manifests are at the site other than its own (the roles may have
      // flipped since it was made); a preserved-writes item keeps its one manifest at its site.
      const other = rp.site === group?.primarySite ? group?.secondarySite : group?.primarySite;
      for (const v of rp.volumes) {
        const sites: (readonly [string, string])[] =
          rp.kind === 'preserved-writes'
            ? [[rp.site, v.primaryManifestKey]]
            : [
                [other as string, v.primaryManifestKey],
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
