import { Presets, SingleBar } from 'cli-progress';
import { DomainError } from '../shared/domain/errors';
import { formatBytes } from '../shared/domain/sizes';
import { ApiError, CliError } from './errors';

export { CliError, formatBytes };

export interface JsonFlag {
  json?: boolean;
}

/** Collapses a message to one line: scripts read the first stderr line as the reason. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function errorLine(e: unknown): string {
  if (e instanceof ApiError || e instanceof DomainError) return oneLine(`error: ${e.code}: ${e.message}`);
  if (e instanceof CliError) return oneLine(`error: ${e.message}`);
  if (e instanceof Error) {
    // AWS SDK and network errors on the data plane: the name says which kind it was.
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    const name = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
    return oneLine(`error: ${name}${e.message}${cause ? ` (${cause})` : ''}`);
  }
  return oneLine(`error: ${String(e)}`);
}

/** Prints the one-line reason on stderr and marks the process as failed. */
export function fail(e: unknown): void {
  process.stderr.write(`${errorLine(e)}\n`);
  process.exitCode = e instanceof CliError ? e.exitCode : 1;
}

/** Wraps a command action so that any error ends as one stderr line and a non-zero exit. */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** JSON on stdout with --json; otherwise the human rendering. */
export function emit(opts: JsonFlag, json: unknown, human: () => string | string[]): void {
  if (opts.json) {
    printJson(json);
    return;
  }
  const text = human();
  process.stdout.write(`${Array.isArray(text) ? text.join('\n') : text}\n`);
}

/** Left-aligned columns, two spaces apart. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Key: value lines for `show` commands. */
export function fields(entries: [string, string | number | undefined][]): string {
  const shown = entries.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
}

export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`;
}

/**
 * A progress bar on stderr, only on a terminal and never with --json: piped or scripted
 * runs get clean output.
 */
export class Progress {
  private constructor(private readonly bar: SingleBar | undefined) {}

  static start(opts: JsonFlag, total: number, unit: 'bytes' | 'chunks', label: string): Progress {
    if (opts.json || !process.stderr.isTTY) return new Progress(undefined);
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: `${label} {bar} {percentage}% | {value}/{total}${unit === 'chunks' ? ' chunks' : ''} | {duration_formatted}`,
        formatValue: (v, _o, type) =>
          unit === 'bytes' && (type === 'value' || type === 'total') ? formatBytes(v) : String(v),
        hideCursor: true,
        fps: 5,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0);
    return new Progress(bar);
  }

  update(value: number, total?: number): void {
    if (!this.bar) return;
    if (total !== undefined) this.bar.setTotal(total);
    this.bar.update(value);
  }

  stop(): void {
    this.bar?.stop();
  }
}
