// The installer log lines an agent keeps, on disk under its data dir: one folder per host run
// (`<host>/<runId>/`), each bounded in lines and bytes, the oldest runs pruned beyond a count. A run's lines are two
// files: `current.jsonl` takes appends until it holds half the bound, then becomes `older.jsonl` (replacing the one
// before), so a run never holds more than its bound and the newest lines are always kept.
//
// A disk that refuses a write (full, failing) never reaches the caller: append() does not reject, the line is
// counted as dropped and the failure logged (at most once a minute), as the event outbox does for boot events —
// boot services must go on whatever happens to logs.
import { mkdir, readdir, readFile, rename, rm, stat, appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstallerLogLine } from '../../domain/installer-logs.ts';

export interface LogStoreLimits {
  /** Lines kept per host run. */
  maxLinesPerRun: number;
  /** Bytes (on disk, JSON lines) kept per host run. */
  maxBytesPerRun: number;
  /** Host runs kept; the least recently written go first. */
  maxRuns: number;
}

interface RunState {
  host: string;
  runId: string;
  dir: string;
  /** Lines and bytes in current.jsonl. */
  lines: number;
  bytes: number;
  /** Lines received for the run since this agent started (or found on disk at start). */
  received: number;
  lastWrite: number;
  writes: Promise<void>;
}

/** Host names follow the SoT's; run ids are Temporal's UUIDs. Anything else never becomes a path. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const DROP_LOG_EVERY_MS = 60_000;

export class InstallerLogStore {
  private readonly runs = new Map<string, RunState>();
  private dropped = 0;
  private lastDropLog = 0;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly limits: LogStoreLimits,
    private readonly warn: (msg: string) => void = () => undefined,
  ) {}

  static safeName(name: string): boolean {
    return SAFE_NAME.test(name) && !name.includes('..');
  }

  /** Finds the runs a previous start left (bounded by maxRuns, so this reads little). */
  load(): Promise<void> {
    this.loaded ??= this.scan();
    return this.loaded;
  }

  private async scan(): Promise<void> {
    const hosts = await readdir(this.dir).catch(() => [] as string[]);
    for (const host of hosts) {
      if (!InstallerLogStore.safeName(host)) continue;
      for (const runId of await readdir(path.join(this.dir, host)).catch(() => [] as string[])) {
        if (!InstallerLogStore.safeName(runId)) continue;
        const dir = path.join(this.dir, host, runId);
        const current = await readFile(path.join(dir, 'current.jsonl'), 'utf8').catch(() => '');
        const older = await readFile(path.join(dir, 'older.jsonl'), 'utf8').catch(() => '');
        const lastWrite = await stat(dir).then(
          (s) => s.mtimeMs,
          () => 0,
        );
        const lines = countLines(current);
        this.runs.set(key(host, runId), {
          host,
          runId,
          dir,
          lines,
          bytes: Buffer.byteLength(current),
          received: lines + countLines(older),
          lastWrite,
          writes: Promise.resolve(),
        });
      }
    }
  }

  /** Keeps a line of the run; never rejects (a failed write is counted in dropped()). */
  async append(host: string, runId: string, line: InstallerLogLine): Promise<void> {
    if (!InstallerLogStore.safeName(host) || !InstallerLogStore.safeName(runId)) {
      this.drop(`not a host or run name: ${JSON.stringify(host).slice(0, 80)}`);
      return;
    }
    await this.load();
    let run = this.runs.get(key(host, runId));
    if (!run) {
      run = {
        host,
        runId,
        dir: path.join(this.dir, host, runId),
        lines: 0,
        bytes: 0,
        received: 0,
        lastWrite: Date.now(),
        writes: Promise.resolve(),
      };
      this.runs.set(key(host, runId), run);
      this.prune();
    }
    const r = run;
    r.received++;
    r.lastWrite = Date.now();
    const body = JSON.stringify(line) + '\n';
    const size = Buffer.byteLength(body);
    r.writes = r.writes.then(async () => {
      try {
        // Half the bound in each file: the two together never hold more than the bound.
        if (r.lines + 1 > this.limits.maxLinesPerRun / 2 || r.bytes + size > this.limits.maxBytesPerRun / 2) {
          await rename(path.join(r.dir, 'current.jsonl'), path.join(r.dir, 'older.jsonl')).catch(
            (err: NodeJS.ErrnoException) => {
              if (err.code !== 'ENOENT') throw err;
            },
          );
          r.lines = 0;
          r.bytes = 0;
        }
        await mkdir(r.dir, { recursive: true });
        await appendFile(path.join(r.dir, 'current.jsonl'), body);
        r.lines++;
        r.bytes += size;
      } catch (err) {
        this.drop((err as Error).message);
      }
    });
    await r.writes;
  }

  /** The newest `limit` lines of the host's run (its newest run here when none is named), oldest first. */
  async read(
    host: string,
    runId: string | undefined,
    limit: number,
  ): Promise<{ runId?: string; lines: InstallerLogLine[]; received: number }> {
    if (!InstallerLogStore.safeName(host) || (runId !== undefined && !InstallerLogStore.safeName(runId)))
      return { lines: [], received: 0 };
    await this.load();
    const run =
      runId !== undefined
        ? this.runs.get(key(host, runId))
        : [...this.runs.values()].filter((r) => r.host === host).sort((a, b) => b.lastWrite - a.lastWrite)[0];
    if (!run) return { lines: [], received: 0 };
    await run.writes;
    const text = ['older.jsonl', 'current.jsonl'].map((f) =>
      readFile(path.join(run.dir, f), 'utf8').catch(() => ''),
    );
    const lines: InstallerLogLine[] = [];
    for (const t of await Promise.all(text))
      for (const l of t.split('\n')) {
        if (l === '') continue;
        try {
          lines.push(JSON.parse(l) as InstallerLogLine);
        } catch {
          // a line torn by a full disk: skipped
        }
      }
    return { runId: run.runId, lines: lines.slice(-limit), received: run.received };
  }

  /** Lines not kept because the disk refused them (or they named no valid run). */
  droppedLines(): number {
    return this.dropped;
  }

  runCount(): number {
    return this.runs.size;
  }

  private prune(): void {
    if (this.runs.size <= this.limits.maxRuns) return;
    const oldest = [...this.runs.values()].sort((a, b) => a.lastWrite - b.lastWrite);
    for (const r of oldest.slice(0, this.runs.size - this.limits.maxRuns)) {
      this.runs.delete(key(r.host, r.runId));
      // After its pending writes, so a late append cannot recreate the folder.
      r.writes = r.writes.then(() =>
        rm(r.dir, { recursive: true, force: true }).catch((err: unknown) =>
          this.warn(`installer logs of ${r.host} run ${r.runId} not pruned: ${String(err)}`),
        ),
      );
    }
  }

  private drop(why: string): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_EVERY_MS) return;
    this.lastDropLog = now;
    this.warn(`installer log lines not kept (${this.dropped} so far): ${why}`);
  }
}

function key(host: string, runId: string): string {
  return `${host}/${runId}`;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
