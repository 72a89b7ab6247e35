import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';

export interface BarGroup {
  label: string;
  /** One value per series, in the order of `series`. */
  values: number[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A grouped bar chart on a log scale (counts span orders of magnitude), written as PNG. */
export function barChartPng(path: string, title: string, series: string[], groups: BarGroup[]): void {
  const w = Math.max(160 + groups.length * (series.length * 28 + 30), 80 + title.length * 8);
  const h = 360;
  const top = 50;
  const bottom = 300;
  const left = 70;
  const max = Math.max(1, ...groups.flatMap((g) => g.values));
  const decades = Math.ceil(Math.log10(max));
  const y = (v: number) => bottom - (Math.log10(Math.max(1, v)) / Math.max(1, decades)) * (bottom - top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="DejaVu Sans" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="14">${esc(title)}</text>`,
  ];
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d);
    parts.push(`<line x1="${left}" x2="${w - 20}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${(10 ** d).toLocaleString('en-US')}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const x0 = left + 10 + gi * (series.length * 28 + 30);
    g.values.forEach((v, si) => {
      const x = x0 + si * 28;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="24" height="${bottom - y(v)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      parts.push(`<text x="${x + 12}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${v}</text>`);
    });
    parts.push(
      `<text x="${x0 + (series.length * 28) / 2}" y="${bottom + 16}" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  series.forEach((s, si) => {
    parts.push(
      `<rect x="${left + si * 150}" y="${h - 30}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${left + si * 150 + 16}" y="${h - 20}">${esc(s)}</text>`);
  });
  parts.push('</svg>');
  writePng(path, parts.join(''));
}

export interface Line {
  label: string;
  /** [x, y] points in x order. */
  points: [number, number][];
}

/** Lines over a linear x and y axis (from 0), written as PNG. */
export function lineChartPng(
  path: string,
  title: string,
  axes: { x: string; y: string },
  lines: Line[],
): void {
  const [w, h, top, bottom, left, right] = [720, 360, 50, 290, 70, 700];
  const all = lines.flatMap((l) => l.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxY = Math.max(1, ...all.map((p) => p[1]));
  const x = (v: number) => left + (v / maxX) * (right - left);
  const y = (v: number) => bottom - (v / maxY) * (bottom - top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="DejaVu Sans" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="14">${esc(title)}</text>`,
    `<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#999"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#999"/>`,
    `<text x="${left - 6}" y="${top + 4}" text-anchor="end">${Math.round(maxY * 10) / 10}</text>`,
    `<text x="${left - 6}" y="${bottom + 4}" text-anchor="end">0</text>`,
    `<text x="${right}" y="${bottom + 16}" text-anchor="end">${Math.round(maxX)} ${esc(axes.x)}</text>`,
    `<text x="${left}" y="${top - 8}">${esc(axes.y)}</text>`,
  ];
  lines.forEach((l, i) => {
    const d = l.points.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`);
    parts.push(
      `<path d="${d.join(' ')}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`,
    );
    parts.push(
      `<rect x="${left + i * 220}" y="${h - 30}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${left + i * 220 + 16}" y="${h - 20}">${esc(l.label)}</text>`);
  });
  parts.push('</svg>');
  writePng(path, parts.join(''));
}

function writePng(path: string, svg: string): void {
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, png);
}
