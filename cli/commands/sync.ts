import type { Command } from 'commander';
import { ApiClient, type GroupView, type SyncStartedView, type SyncView, seg } from '../api-client';
import { leaf, onInterrupt, secondsArg } from '../command';
import { CliError } from '../errors';
import { emit, type JsonFlag, Progress, run } from '../output';

const POLL_MS = 500;

/**
 * Polls the sync until it commits or fails. A paused sync (other site unreachable) is
 * still alive, so waiting goes on; Ctrl-C stops waiting, not the sync.
 */
async function waitForSync(
  api: ApiClient,
  groupId: string,
  syncId: string,
  timeoutSeconds: number | undefined,
  opts: JsonFlag,
): Promise<SyncView> {
  const deadline = timeoutSeconds ? Date.now() + timeoutSeconds * 1000 : Number.POSITIVE_INFINITY;
  let bar: Progress | undefined;
  let interrupted = false;
  let pausedNoted = false;
  const release = onInterrupt(() => {
    interrupted = true;
  });
  try {
    for (;;) {
      const s = await api.get<SyncView>(`/groups/${seg(groupId)}/syncs/${seg(syncId)}`);
      if (s.chunksTotal > 0) {
        bar ??= Progress.start(opts, s.chunksTotal, 'chunks', `sync ${s.recoveryPointId}`);
        bar.update(s.chunksCopied, s.chunksTotal);
      }
      if (s.state === 'committed') return s;
      if (s.state === 'failed') {
        throw new CliError(`sync ${syncId} failed: ${s.error ?? 'no reason recorded'}`);
      }
      if (s.state === 'paused' && !pausedNoted && !opts.json) {
        pausedNoted = true;
        process.stderr.write(`sync ${syncId} is paused (the other site is unreachable); still waiting\n`);
      }
      if (interrupted) {
        throw new CliError(`stopped waiting; sync ${syncId} goes on (see \`volmirror status\`)`, 130);
      }
      if (Date.now() >= deadline) {
        throw new CliError(`sync ${syncId} did not commit within ${timeoutSeconds}s; it goes on`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    bar?.stop();
    release();
  }
}

function groupLine(g: GroupView): string {
  return `group ${g.name} (${g.id}): ${g.status}`;
}

export function registerSync(program: Command): void {
  const sync = leaf(program, 'sync <group>', 'start a manual sync of the group (one recovery point)')
    .option('--wait', 'wait until the recovery point is committed and print its id')
    .option('--timeout <seconds>', 'with --wait, give up waiting after this long', secondsArg)
    .action(
      run(async (ref: string, o: JsonFlag & { wait?: boolean; timeout?: number }) => {
        const api = ApiClient.fromLocal();
        const groupId = await api.groupId(ref);
        const started = await api.post<SyncStartedView>(`/groups/${seg(groupId)}/sync`);
        if (!o.wait) {
          emit(o, started, () => `sync ${started.syncId} started for ${started.recoveryPointId}`);
          return;
        }
        const done = await waitForSync(api, groupId, started.syncId, o.timeout, o);
        emit(o, done, () => done.recoveryPointId);
      }),
    );

  leaf(sync, 'abort <group>', "abort the group's running sync (the last recovery point stays served)").action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const groupId = await api.groupId(ref);
      const g = await api.get<GroupView>(`/groups/${seg(groupId)}`);
      if (!g.activeSyncId) throw new CliError(`group ${g.name} has no sync running`);
      const s = await api.post<SyncView>(`/groups/${seg(groupId)}/syncs/${seg(g.activeSyncId)}/abort`);
      // `sync` has its own --json, which commander gives to it wherever it appears.
      const out = { json: o.json || sync.opts().json };
      emit(out, s, () => `sync ${s.syncId} aborted; ${s.recoveryPointId} will not be committed`);
    }),
  );

  leaf(program, 'suspend <group>', 'suspend mirroring (writes go on and are tracked)').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const g = await api.post<GroupView>(`/groups/${seg(await api.groupId(ref))}/suspend`);
      emit(o, g, () => groupLine(g));
    }),
  );

  leaf(program, 'resume <group>', 'resume mirroring of a suspended or paused group').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const g = await api.post<GroupView>(`/groups/${seg(await api.groupId(ref))}/resume`);
      emit(o, g, () => groupLine(g));
    }),
  );
}
