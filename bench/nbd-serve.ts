/**
 * The NBD side of bench/nbd.ts in a process of its own, as `volmirror nbd serve` runs: the
 * replication runtime of the bench does not share its event loop, as s3backer shares nothing
 * with it. Serves the volume named in argv[2] writable, with the config in $VOLMIRROR_BENCH_CONFIG,
 * prints {"port":N} once listening; on SIGTERM stores what it buffered, releases the lease, exits.
 */

import { buildClients } from '../shared/aws/clients';
import type { MirrorConfig } from '../shared/config';
import { buildDeps } from '../shared/deps';
import { openExport } from '../shared/nbd/open-export';
import { NbdServer } from '../shared/nbd/server';

async function main(): Promise<void> {
  const config = JSON.parse(process.env.VOLMIRROR_BENCH_CONFIG ?? '') as MirrorConfig;
  const clients = buildClients(config);
  const deps = buildDeps(config, clients);
  const exp = await openExport(deps, process.argv[2], { readOnly: false });
  const server = new NbdServer([exp]);
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  process.once('SIGTERM', () => {
    void (async () => {
      await server.close();
      await exp.close();
      clients.destroy();
      process.exit(0);
    })().catch((e) => {
      console.error(e);
      process.exit(1);
    });
  });
  process.stdout.write(`${JSON.stringify({ port: 'port' in address ? address.port : 0 })}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
