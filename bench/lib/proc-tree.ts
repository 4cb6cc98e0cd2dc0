// Memory of a process with its descendants, sampled: for servers that fork workers (PostgreSQL's postmaster and
// its backends), whose own peak RSS says little. Each sample sums the proportional set size (PSS, from
// /proc/PID/smaps_rollup: shared pages split between the processes sharing them, so PostgreSQL's shared buffers
// count once) over the tree; the peak is the largest sample. CPU is lab.ts's cpuSeconds (it already counts
// children, live and reaped).
import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** The process and every descendant alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentOf(pid);
    if (ppid === null) continue;
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** PSS of a process and its descendants now, in MiB; null when the process is gone. */
export function treePssMiB(root: number): number | null {
  if (parentOf(root) === null) return null;
  const kib = processTree(root).reduce((sum, pid) => sum + pssKiB(pid), 0);
  return Math.round(kib / 1024);
}

export interface TreeSampler {
  /** The largest sample so far (MiB), null before any. */
  peakMiB(): number | null;
  /** Processes in the tree at the largest sample. */
  peakProcesses(): number;
  stop(): void;
}

/** Samples a process tree's PSS every `intervalMs` until stopped (or the process is gone). */
export function sampleTree(root: () => number | undefined, intervalMs = 2000): TreeSampler {
  let peak: number | null = null;
  let procs = 0;
  const sample = (): void => {
    const pid = root();
    if (pid === undefined) return;
    const tree = processTree(pid);
    if (parentOf(pid) === null) return;
    const mib = Math.round(tree.reduce((sum, p) => sum + pssKiB(p), 0) / 1024);
    if (peak === null || mib > peak) {
      peak = mib;
      procs = tree.length;
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    peakMiB: () => peak,
    peakProcesses: () => procs,
    stop: () => {
      sample();
      clearInterval(timer);
    },
  };
}
