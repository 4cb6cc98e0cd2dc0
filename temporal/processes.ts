// Finds live processes by their arguments through /proc (Linux). Used to refuse a second dev
// server on the same SQLite file, which the dev server itself does not prevent.
import { readdirSync, readFileSync } from 'node:fs';
import { isAlive } from './supervisor.ts';

/** Pids of live, non-zombie processes (other than this one) whose argv satisfies `match`. */
export function findProcesses(match: (argv: string[]) => boolean): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // no procfs: nothing we can check
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited while we looked, or not ours to read
    }
    if (match(argv) && isAlive(pid)) found.push(pid);
  }
  return found;
}
