import type { Command } from 'commander';
import { ApiClient, type PairView, seg } from '../api-client';
import { leaf } from '../command';
import { emit, type JsonFlag, run } from '../output';

export function registerPair(program: Command): void {
  const pair = program.command('pair').description('mirrored pairs: a primary volume and its secondary');

  leaf(
    pair,
    'add <group> <primary-volume>',
    'mirror a primary volume into the group (initial sync on the next sync)',
  )
    .option('--secondary <volume>', 'existing secondary volume (default: one of the same size is created)')
    .action(
      run(async (groupRef: string, primaryRef: string, o: JsonFlag & { secondary?: string }) => {
        const api = ApiClient.fromLocal();
        const groupId = await api.groupId(groupRef);
        const body = {
          primaryVolumeId: await api.volumeId(primaryRef),
          ...(o.secondary !== undefined && { secondaryVolumeId: await api.volumeId(o.secondary) }),
        };
        const p = await api.post<PairView>(`/groups/${seg(groupId)}/pairs`, body);
        emit(
          o,
          p,
          () => `pair ${p.primaryVolumeId} -> ${p.secondaryVolumeId} added to ${groupId} (${p.status})`,
        );
      }),
    );

  leaf(pair, 'remove <group> <primary-volume>', 'stop mirroring a volume (both volumes are kept)').action(
    run(async (groupRef: string, primaryRef: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const groupId = await api.groupId(groupRef);
      const volumeId = await api.volumeId(primaryRef);
      await api.delete(`/groups/${seg(groupId)}/pairs/${seg(volumeId)}`);
      emit(
        o,
        { groupId, primaryVolumeId: volumeId, removed: true },
        () => `pair of ${volumeId} removed from ${groupId}`,
      );
    }),
  );
}
