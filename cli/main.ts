import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ROOT } from '../local/emulator';
import { registerGroup } from './commands/group';
import { registerLocal } from './commands/local';
import { registerNbd } from './commands/nbd';
import { registerPair } from './commands/pair';
import { registerRole } from './commands/role';
import { registerRp } from './commands/rp';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerUp } from './commands/up';
import { registerVolume } from './commands/volume';
import { oneLine } from './output';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

const program = new Command('volmirror')
  .description('Asynchronous volume mirroring: consistency groups, recovery points, two sites')
  .version(version)
  // Usage errors are one line too, like every other failure.
  .configureOutput({ outputError: (str, write) => write(`${oneLine(str)}\n`) })
  .showHelpAfterError(false);

registerUp(program);
registerVolume(program);
registerGroup(program);
registerPair(program);
registerSync(program);
registerRole(program);
registerRp(program);
registerStatus(program);
registerLocal(program);
registerNbd(program);

await program.parseAsync(process.argv);

// The work is done: an SDK socket or a stray timer must not keep the process alive.
setTimeout(() => process.exit(), 2000).unref();
