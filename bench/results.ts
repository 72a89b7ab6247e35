import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

export interface Section {
  name: string;
  title: string;
  rows: Record<string, unknown>[];
  notes?: string[];
  /** When, and under what load average, the section was measured. */
  measured?: string;
}

export const measuredNow = () =>
  `${new Date().toISOString().slice(0, 16)}Z, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${process.env.BENCH_CPUS ?? 'this machine'}`;

/** Sections of this run replace those of the same name in latest.json; the others are kept. */
export function mergeWithLatest(sections: Section[]): Section[] {
  const file = join(RESULTS_DIR, 'latest.json');
  const old: Section[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).sections : [];
  const fresh = new Map(sections.map((s) => [s.name, s]));
  const merged = old.map((s) => fresh.get(s.name) ?? s);
  for (const s of sections) if (!old.some((o) => o.name === s.name)) merged.push(s);
  return merged;
}

const cell = (v: unknown) =>
  (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)).replace(/\|/g, '\\|');

export function markdownTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return [
    `| ${cols.join(' | ')} |`,
    `|${cols.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c] ?? '')).join(' | ')} |`),
  ].join('\n');
}

/** bench/results/latest.json and latest.md: every section of this run, with how it was run. */
export function writeResults(sections: Section[], meta: Record<string, string>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ meta, sections }, null, 2)}\n`);
  const md = [
    '# Benchmark results',
    '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`),
    ...sections.flatMap((s) => [
      '',
      `## ${s.name}: ${s.title}`,
      '',
      ...(s.measured ? [`Measured ${s.measured}.`, ''] : []),
      markdownTable(s.rows),
      ...(s.notes?.length ? ['', ...s.notes.map((n) => `- ${n}`)] : []),
    ]),
    '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, 'latest.md'), md);
}
