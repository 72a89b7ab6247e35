import { Argument, type Command } from 'commander';
import { loadLocal } from '../api-client';
import { leaf } from '../command';
import { ApiError, CliError } from '../errors';
import { emit, type JsonFlag, run } from '../output';

interface LinkAnswer {
  action: 'cut' | 'heal';
  sites: string[];
  links: Record<string, 'cut' | 'up'>;
}

export function registerLocal(program: Command): void {
  const local = program.command('local').description('the embedded local stack (see `volmirror up`)');

  leaf(local, 'link', 'fault injection: cut or restore the network path to a site')
    .addArgument(new Argument('<action>', 'cut or heal').choices(['cut', 'heal']))
    .option('--site <site>', 'the site whose link changes (default: every site)')
    .action(
      run(async (action: 'cut' | 'heal', o: JsonFlag & { site?: string }) => {
        const cfg = loadLocal();
        let res: Response;
        try {
          res = await fetch(`${cfg.adminUrl}/link`, {
            method: 'POST',
            headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ action, ...(o.site && { site: o.site }) }),
            signal: AbortSignal.timeout(10_000),
          });
        } catch (e) {
          throw new CliError(`cannot reach the local stack at ${cfg.adminUrl}: ${(e as Error).message}`);
        }
        const body = (await res.json()) as LinkAnswer & { error?: { code: string; message: string } };
        if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'error', body.error?.message ?? '');
        emit(o, body, () =>
          Object.entries(body.links)
            .map(([site, state]) => `link to ${site}: ${state}`)
            .join('\n'),
        );
      }),
    );
}
