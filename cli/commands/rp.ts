import type { Command } from 'commander';
import { ApiClient, type ClonesView, type RecoveryPointView, seg } from '../api-client';
import { leaf } from '../command';
import { emit, formatBytes, type JsonFlag, run, table } from '../output';

export function registerRp(program: Command): void {
  const rp = program.command('rp').description('recovery points: committed, write-order-consistent images');

  leaf(rp, 'list <group>', 'recovery points of a group, newest first').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const rps = await api.get<RecoveryPointView[]>(
        `/groups/${seg(await api.groupId(ref))}/recovery-points`,
      );
      emit(o, rps, () =>
        rps.length === 0
          ? 'no recovery points yet (run `volmirror sync GROUP --wait`)'
          : table(
              ['ID', 'KIND', 'SITE', 'CUT AT', 'COMMITTED AT', 'COPIED'],
              rps.map((r) => [r.id, r.kind, r.site, r.cutAt, r.committedAt, formatBytes(r.bytes)]),
            ),
      );
    }),
  );

  leaf(
    rp,
    'clone <group> <rp>',
    'writable point-in-time copies of every volume of an RP, at the secondary site',
  ).action(
    run(async (ref: string, rpId: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const out = await api.post<ClonesView>(
        `/groups/${seg(await api.groupId(ref))}/recovery-points/${seg(rpId)}/clones`,
      );
      emit(o, out, () =>
        table(
          ['ID', 'NAME', 'SITE', 'SIZE'],
          out.volumes.map((v) => [v.id, v.name, v.site, formatBytes(v.sizeBytes)]),
        ),
      );
    }),
  );

  leaf(
    rp,
    'remove <group> <rp>',
    'remove a preserved-writes item and the data only it holds (committed RPs expire on their own)',
  ).action(
    run(async (ref: string, rpId: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const groupId = await api.groupId(ref);
      await api.delete(`/groups/${seg(groupId)}/recovery-points/${seg(rpId)}`);
      emit(o, { groupId, recoveryPointId: rpId, removed: true }, () => `${rpId} removed from ${groupId}`);
    }),
  );
}
