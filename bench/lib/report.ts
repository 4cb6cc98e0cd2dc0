// Writing results: the JSON as measured, and Markdown tables (one per benchmark: the median and the spread over
// runs for vaquero and each reference, and vaquero ÷ reference), also spliced into BENCHMARKS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Measure, Report, Row } from './results.ts';
import { shortfall } from './results.ts';
import { round } from './stats.ts';

export const DOC_START = '<!-- bench:results:start -->';
export const DOC_END = '<!-- bench:results:end -->';

const TITLES: Record<string, string> = {
  dhcp: 'DHCP (perfdhcp as a relay; vaquero vs dnsmasq and ISC Kea)',
  tftp: 'TFTP (curl clients; vaquero vs dnsmasq and tftpd-hpa)',
  http: 'HTTP (wrk; vaquero vs nginx) and rendering',
  orchestration: 'Orchestration (sim hosts, delays 0; vaquero vs minimal Temporal workflows)',
  fleet: 'Fleet scale (one rollout of sim hosts to completion, GET /hosts while it runs)',
};

function fmt(v: number | null): string {
  const r = round(v);
  return r === null ? '–' : String(r);
}

function cell(m: Measure | undefined): string {
  if (!m) return '';
  const present = m.runs.filter((v): v is number => v !== null);
  if (m.median === null) return '–';
  if (present.length < 2) return fmt(m.median);
  const lo = Math.min(...present);
  const hi = Math.max(...present);
  return `${fmt(m.median)} <sub>${fmt(lo)}–${fmt(hi)}</sub>`;
}

function table(rows: Row[]): string[] {
  const refs = [...new Set(rows.flatMap((r) => Object.keys(r.references)))];
  const head = ['case', 'metric', 'vaquero', ...refs.flatMap((r) => [r, `÷ ${r}`])];
  const lines = [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of rows) {
    const arrow = row.better === 'higher' ? '↑' : '↓';
    const cells = [row.case, `${row.metric} (${row.unit} ${arrow})`, cell(row.vaquero)];
    for (const ref of refs) {
      const ratio = row.ratios[ref];
      const behind = shortfall(row, ref);
      // Bold where vaquero is more than 20 % behind: the issue's threshold for profiling.
      const r =
        ratio === undefined || ratio === null
          ? ''
          : behind !== null && behind > 0.2
            ? `**${ratio.toFixed(2)}**`
            : ratio.toFixed(2);
      cells.push(cell(row.references[ref]), r);
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/** The results section: run, machine, then one table per benchmark with its notes. */
export function renderResults(report: Report): string {
  const m = report.machine;
  const tools = Object.entries(m.tools)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const out = [
    `Run ${report.startedAt} (${report.mode}, ${(report.durationS / 60).toFixed(1)} min): \`${report.command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}; load average at start ${m.loadAverageAtStart.join(' ')}.`,
    `Versions: ${tools}.`,
    ...(report.redone ?? []).map(
      (r) =>
        `Run again on the same machine, replacing the full run's ${r.benchmarks.join(', ')}: ${r.startedAt}, \`${r.command}\`${r.reason ? ` (${r.reason})` : ''}.`,
    ),
    '',
    "Values are medians over the runs, with the range of the runs in small type; ↑ higher is better, ↓ lower is better; ÷ is vaquero divided by the reference; **bold** ratios are more than 20 % in the reference's favour.",
  ];
  for (const b of report.benchmarks) {
    out.push('', `### ${TITLES[b.name] ?? b.name}`, '', ...table(b.rows));
    if (b.notes.length > 0) out.push('', ...b.notes.map((n) => `- ${n}`));
    // Charts a benchmark drew as text (details.charts), each in a code block.
    const charts = Array.isArray(b.details.charts) ? (b.details.charts as unknown[]) : [];
    for (const c of charts) if (typeof c === 'string') out.push('', '```', c.trimEnd(), '```');
    out.push('', `<sub>${b.durationS} s; parameters: \`${JSON.stringify(b.params)}\`</sub>`);
  }
  for (const f of report.failed) out.push('', `**${f.name} failed:** ${f.error.split('\n')[0]}`);
  return out.join('\n') + '\n';
}

export function renderReportMarkdown(report: Report): string {
  return `# vaquero benchmark results\n\n${renderResults(report)}`;
}

/** Replaces the results section of BENCHMARKS.md (between the markers), keeping the rest as written. */
export function updateBenchmarksDoc(file: string, report: Report): void {
  const doc = readFileSync(file, 'utf8');
  const a = doc.indexOf(DOC_START);
  const b = doc.indexOf(DOC_END);
  if (a < 0 || b < a) throw new Error(`${file} has no ${DOC_START} … ${DOC_END} section`);
  writeFileSync(file, `${doc.slice(0, a + DOC_START.length)}\n${renderResults(report)}${doc.slice(b)}`);
}
