// The shape every benchmark reports: rows of one metric each, measured on vaquero and on each reference, with
// every run's value kept next to the median so a reader can see the spread.
import { median, ratio } from './stats.ts';

export type Better = 'higher' | 'lower';

export interface Measure {
  median: number | null;
  /** One value per run; null where that run produced none (a failure, or a search that found nothing). */
  runs: (number | null)[];
}

export interface Row {
  benchmark: string;
  /** What was measured, e.g. "max rate without drops" or "ipxe.efi, 10 clients". */
  case: string;
  metric: string;
  unit: string;
  better: Better;
  vaquero: Measure;
  /** Keyed by reference name: dnsmasq, tftpd-hpa, nginx, temporal (minimal workflows). */
  references: Record<string, Measure>;
  /** vaquero's median divided by each reference's median (so for `lower` metrics, below 1 is better). */
  ratios: Record<string, number | null>;
}

export interface BenchmarkResult {
  name: string;
  /** The parameters it ran with. */
  params: Record<string, unknown>;
  rows: Row[];
  /** Anything else worth keeping: server counters, per-run raw numbers, profiles. */
  details: Record<string, unknown>;
  /** Observations for the reader (limits hit, failed runs). */
  notes: string[];
  durationS: number;
}

export interface Machine {
  hostname: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  loadAverageAtStart: number[];
  tools: Record<string, string>;
}

export interface Report {
  tool: 'vaquero-bench';
  version: 1;
  mode: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  command: string;
  machine: Machine;
  benchmarks: BenchmarkResult[];
  /** Benchmarks that threw, with the error. */
  failed: { name: string; error: string }[];
  /**
   * Set when some benchmarks of a full run were run again (`--redo`): which, when, by what command. The rest of the
   * report is the full run's, as it was.
   */
  redone?: { benchmarks: string[]; startedAt: string; command: string; reason?: string }[];
}

function measure(runs: (number | null | undefined)[]): Measure {
  const clean = runs.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  return { median: median(clean), runs: clean };
}

export function makeRow(
  benchmark: string,
  spec: { case: string; metric: string; unit: string; better: Better },
  vaquero: (number | null | undefined)[],
  references: Record<string, (number | null | undefined)[]> = {},
): Row {
  const v = measure(vaquero);
  const refs = Object.fromEntries(Object.entries(references).map(([k, runs]) => [k, measure(runs)]));
  const ratios = Object.fromEntries(Object.entries(refs).map(([k, m]) => [k, ratio(v.median, m.median)]));
  return { benchmark, ...spec, vaquero: v, references: refs, ratios };
}

/**
 * How far vaquero is behind a reference on a row, as a fraction (0.25 = 25 % worse); 0 when it is as good or
 * better, null when either side has no value.
 */
export function shortfall(row: Row, reference: string): number | null {
  const r = row.ratios[reference];
  if (r === null || r === undefined) return null;
  if (row.better === 'higher') return r >= 1 ? 0 : 1 - r;
  return r <= 1 ? 0 : 1 - 1 / r;
}
