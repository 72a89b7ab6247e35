import { Argument, type Command, InvalidArgumentError } from 'commander';
import { loadLocal } from '../api-client';
import { leaf } from '../command';
import { ApiError, CliError } from '../errors';
import { emit, type JsonFlag, run } from '../output';

type LinkState = 'cut' | 'degraded' | 'up';

interface LinkAnswer {
  action: 'cut' | 'heal' | 'degrade';
  sites: string[];
  links: Record<string, LinkState>;
  degradation?: { errorRate: number; status: number; delayMs: number };
}

export function registerLocal(program: Command): void {
  const local = program.command('local').description('the embedded local stack (see `volmirror up`)');

  leaf(local, 'link', 'fault injection: cut, degrade or restore the network path to a site')
    .addArgument(new Argument('<action>', 'cut, heal or degrade').choices(['cut', 'heal', 'degrade']))
    .option('--site <site>', 'the site whose link changes (default: every site)')
    .option('--error-rate <rate>', 'degrade: fraction of requests (0..1) answered with --status', rate)
    .option('--status <status>', 'degrade: 503 (SlowDown, the default) or 500', status)
    .option('--delay-ms <ms>', 'degrade: delay added to every request', delay)
    .action(
      run(
        async (
          action: 'cut' | 'heal' | 'degrade',
          o: JsonFlag & { site?: string; errorRate?: number; status?: number; delayMs?: number },
        ) => {
          const degrade = action === 'degrade';
          if (degrade && o.errorRate === undefined) throw new CliError('degrade needs --error-rate');
          if (!degrade && (o.errorRate !== undefined || o.status !== undefined || o.delayMs !== undefined)) {
            throw new CliError('--error-rate, --status and --delay-ms go with degrade only');
          }
          const body = await postLink({
            action,
            ...(o.site && { site: o.site }),
            ...(degrade && { errorRate: o.errorRate, status: o.status ?? 503, delayMs: o.delayMs ?? 0 }),
          });
          emit(o, body, () =>
            Object.entries(body.links)
              .map(([site, state]) => `link to ${site}: ${describe(state, body)}`)
              .join('\n'),
          );
        },
      ),
    );
}

function describe(state: LinkState, body: LinkAnswer): string {
  if (state !== 'degraded' || !body.degradation) return state;
  const d = body.degradation;
  return `degraded (${d.errorRate * 100}% answered ${d.status}, ${d.delayMs} ms delay)`;
}

async function postLink(request: Record<string, unknown>): Promise<LinkAnswer> {
  const cfg = loadLocal();
  let res: Response;
  try {
    res = await fetch(`${cfg.adminUrl}/link`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new CliError(`cannot reach the local stack at ${cfg.adminUrl}: ${(e as Error).message}`);
  }
  const body = (await res.json()) as LinkAnswer & { error?: { code: string; message: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'error', body.error?.message ?? '');
  return body;
}

function rate(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('a number from 0 to 1');
  return n;
}

function status(v: string): number {
  if (v !== '503' && v !== '500') throw new InvalidArgumentError('503 or 500');
  return Number(v);
}

function delay(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 60_000) throw new InvalidArgumentError('an integer number of ms up to 60000');
  return n;
}
