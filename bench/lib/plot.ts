// Line charts of a benchmark's time series, with no dependency: an SVG file (kept next to a run's results) and
// an ASCII chart (for Markdown, in a code block). Both take the same series of (x, y) points.

export interface Series {
  name: string;
  points: readonly (readonly [x: number, y: number])[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** A tick step of 1, 2 or 5 × a power of ten giving about `target` ticks over [0, max]. */
export function niceStep(max: number, target = 6): number {
  if (!(max > 0)) return 1;
  const raw = max / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: number): string => String(Math.round(v * 10) / 10);

/** An SVG line chart, axes from 0. */
export function svgChart(spec: ChartSpec, size: { width?: number; height?: number } = {}): string {
  const W = size.width ?? 760;
  const H = size.height ?? 340;
  const m = { left: 60, right: 20, top: 36, bottom: 48 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = spec.series.flatMap((s) => s.points);
  const xStep = niceStep(Math.max(1, ...all.map((p) => p[0])));
  const yStep = niceStep(Math.max(1, ...all.map((p) => p[1])), 5);
  const xMax = Math.ceil(Math.max(1, ...all.map((p) => p[0])) / xStep) * xStep;
  const yMax = Math.ceil(Math.max(1, ...all.map((p) => p[1])) / yStep) * yStep;
  const X = (x: number): number => m.left + (x / xMax) * pw;
  const Y = (y: number): number => m.top + ph - (y / yMax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(spec.title)}</text>`,
  ];
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    out.push(
      `<line x1="${num(m.left)}" y1="${num(Y(y))}" x2="${num(m.left + pw)}" y2="${num(Y(y))}" stroke="#ddd"/>`,
      `<text x="${m.left - 6}" y="${num(Y(y) + 4)}" text-anchor="end">${num(y)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(
      `<line x1="${num(X(x))}" y1="${num(m.top + ph)}" x2="${num(X(x))}" y2="${num(m.top + ph + 4)}" stroke="#333"/>`,
      `<text x="${num(X(x))}" y="${num(m.top + ph + 18)}" text-anchor="middle">${num(x)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text x="14" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${m.top + ph / 2})">${esc(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (s.points.length > 0)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${s.points.map(([x, y]) => `${num(X(x))},${num(Y(y))}`).join(' ')}"/>`,
      );
    const ly = m.top + 8 + i * 16;
    out.push(
      `<line x1="${m.left + pw - 250}" y1="${ly}" x2="${m.left + pw - 228}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${m.left + pw - 222}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * An ASCII chart of one series: `width` columns over x from 0 to its largest x, each the mean y of the points
 * in its span, as a column of `#` on a y axis from 0 (`height` rows).
 */
export function asciiChart(
  series: Series,
  opts: { width?: number; height?: number; xLabel?: string; yLabel?: string } = {},
): string {
  const width = opts.width ?? 60;
  const height = opts.height ?? 10;
  const pts = series.points;
  if (pts.length === 0) return `${series.name}: no points\n`;
  const xMax = Math.max(...pts.map((p) => p[0]));
  const cols: number[] = [];
  for (let c = 0; c < width; c++) {
    const lo = (c / width) * xMax;
    const hi = ((c + 1) / width) * xMax;
    const inSpan = pts.filter(([x]) => x > lo && x <= hi);
    const prev = cols.length > 0 ? cols[cols.length - 1]! : 0;
    cols.push(inSpan.length > 0 ? inSpan.reduce((a, [, y]) => a + y, 0) / inSpan.length : prev);
  }
  const yStep = niceStep(Math.max(1, ...cols), height / 2);
  const yMax = Math.ceil(Math.max(1, ...cols) / yStep) * yStep;
  const label = (v: number): string => num(v).padStart(6);
  const lines: string[] = [`${series.name}${opts.yLabel ? ` — ${opts.yLabel}` : ''}`];
  for (let r = height; r >= 1; r--) {
    const level = (r / height) * yMax;
    const below = ((r - 1) / height) * yMax;
    const tick = r === height || r === Math.round(height / 2) ? label(level) : ' '.repeat(6);
    const row = cols.map((v) => (v >= level - 1e-9 ? '#' : v > below + (level - below) / 2 ? '+' : ' '));
    lines.push(`${tick} |${row.join('')}`);
  }
  lines.push(`${label(0)} +${'-'.repeat(width)}`);
  const end = num(xMax);
  lines.push(
    `${' '.repeat(8)}0${' '.repeat(Math.max(1, width - 1 - end.length))}${end}${opts.xLabel ? ` ${opts.xLabel}` : ''}`,
  );
  return lines.join('\n') + '\n';
}
