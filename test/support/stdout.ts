import { vi } from 'vitest';

/**
 * The JSON lines written to stdout and stderr while `work` runs: Powertools' Logger and Metrics
 * write there directly (their own Console; errors and warnings to stderr), and both streams
 * are what Lambda sends to CloudWatch.
 */
export async function jsonLinesOf<T>(
  work: () => Promise<T> | T,
): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const written: string[] = [];
  const capture = (stream: NodeJS.WriteStream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  const spies = [capture(process.stdout), capture(process.stderr)];
  try {
    const result = await work();
    const lines = written
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { result, lines };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
