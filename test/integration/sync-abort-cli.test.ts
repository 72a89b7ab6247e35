import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLocalConfig } from '../../local/local-config';
import type { SyncView } from '../../shared/usecases/sync/index';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import { cli } from '../support/cli';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startApi,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';

const CHUNK = 64 * 1024;
describe('volmirror sync abort', () => {
  let h: Harness | undefined;
  let home: string | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("aborts the group's running sync, then says there is none", async () => {
    h = await startHarness();
    const harness = h;
    // No copy worker ever finishes a task: the sync stays in its copy phase.
    startRuntime(harness, { shouldStopCopy: () => true });
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 101));
    await gw.close();
    const api = await startApi(harness);
    home = mkdtempSync(join(tmpdir(), 'volmirror-abort-'));
    writeLocalConfig(
      {
        apiUrl: api.server.url,
        token: api.token,
        config: harness.stack.config,
        pid: process.pid,
        sites: ['east', 'west'],
        endpoints: {},
        adminUrl: 'http://127.0.0.1:9',
        emulatorPids: [],
        topology: 'per-site',
        startedAt: new Date().toISOString(),
      },
      { VOLMIRROR_HOME: home },
    );
    try {
      const { syncId } = await startSync(harness.deps, g.groupId);
      harness.runtime?.drive(g.groupId, syncId);
      await waitFor(
        'the copy phase',
        async () => (await getSync(harness.deps, g.groupId, syncId)).phase === 'copying',
      );
      const aborted = await cli(home, ['sync', 'abort', g.groupId, '--json']);
      expect(aborted.code).toBe(0);
      const view = JSON.parse(aborted.stdout) as SyncView;
      expect(view.syncId).toBe(syncId);
      expect(view.state).toBe('failed');
      const again = await cli(home, ['sync', 'abort', g.groupId]);
      expect(again.code).not.toBe(0);
      expect(again.stdout).toBe('');
      expect(again.stderr).toMatch(/no sync running/);
    } finally {
      await api.server.stop();
    }
  });
});
