import { type Command, Option } from 'commander';
import { ApiClient, type GroupView, seg } from '../api-client';
import { leaf, onInterrupt, secondsArg } from '../command';
import { CliError } from '../errors';
import { emit, type JsonFlag, run } from '../output';

const POLL_MS = 500;

interface RoleOptions extends JsonFlag {
  site: string;
  role: 'primary' | 'secondary';
  force?: boolean;
  wait?: boolean;
  timeout?: number;
}

const rolesLine = (g: GroupView) =>
  `group ${g.name} (${g.id}): ${g.status}, ${g.primarySite} primary, ${g.secondarySite} secondary, role epoch ${g.roleEpoch}`;

/**
 * Polls the group until the role change is done (optimal under a newer role epoch), printing
 * each state it passes through on stderr (none with --json). Ctrl-C stops waiting, not the change.
 */
async function waitForRoles(api: ApiClient, start: GroupView, o: RoleOptions): Promise<GroupView> {
  const deadline = o.timeout ? Date.now() + o.timeout * 1000 : Number.POSITIVE_INFINITY;
  let interrupted = false;
  const release = onInterrupt(() => {
    interrupted = true;
  });
  let shown = '';
  try {
    for (;;) {
      const g = await api.get<GroupView>(`/groups/${seg(start.id)}`);
      const line = `role change: ${g.status} (role epoch ${g.roleEpoch}, ${g.primarySite} primary)`;
      if (!o.json && line !== shown) {
        process.stderr.write(`${line}\n`);
        shown = line;
      }
      if (g.roleEpoch > start.roleEpoch && !g.status.startsWith('role-')) return g;
      if (interrupted)
        throw new CliError('stopped waiting; the role change goes on (see `volmirror status`)', 130);
      if (Date.now() >= deadline)
        throw new CliError(`the role change did not finish within ${o.timeout}s; it goes on`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    release();
  }
}

export function registerRole(program: Command): void {
  leaf(program, 'role <group>', 'change roles: planned switch, or forced promotion of the secondary')
    .requiredOption('--site <site>', 'site whose role changes')
    .addOption(
      new Option('--role <role>', 'the new role of --site')
        .choices(['primary', 'secondary'])
        .makeOptionMandatory(),
    )
    .option('--force', 'promote the secondary without the old primary (after a disaster)')
    .option('--wait', 'wait until the role change is done (the new primary takes writes)')
    .option('--timeout <seconds>', 'with --wait, give up waiting after this long', secondsArg)
    .action(
      run(async (ref: string, o: RoleOptions) => {
        const api = ApiClient.fromLocal();
        const g = await api.post<GroupView>(`/groups/${seg(await api.groupId(ref))}/role`, {
          site: o.site,
          role: o.role,
          ...(o.force && { force: true }),
        });
        const done = o.wait ? await waitForRoles(api, g, o) : g;
        emit(o, done, () => rolesLine(done));
      }),
    );
}
