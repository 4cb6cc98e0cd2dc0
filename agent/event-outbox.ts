// Boot events on their way to host workflows, kept on disk until delivered. When Temporal is unreachable the
// agent keeps serving boots and queues their events; they are delivered in order when it returns. Delivery is
// at least once; the host workflow drops repeats by event id, so each counts exactly once there.
//
// Order matters per workflow (one host's DHCP before its TFTP before its HTTP), not across workflows: events are
// taken from the head in batches, each workflow's in order, different workflows' at once. A rack powering on
// makes thousands of events a second, and one signal at a time (a round trip each) would fall behind.
//
// A disk that cannot take the events (full, failing, over quota) never fails a boot service: enqueue() does not
// reject. Events that could not be written are held in memory, in order, up to `maxUnwritten` (beyond it the
// oldest are dropped, counted and logged); a write is retried every `writeRetryMs`, and once it succeeds they are
// delivered like any other. Only what is on disk is delivered, so the file stays the record of what is owed. The
// condition is logged when it starts, at most once per `reportEveryMs` while it lasts (with counts), and when it
// ends. No event leaves the outbox undelivered without a log line and a count in stats().
import { WorkflowNotFoundError } from '@temporalio/client';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { BootEvent } from '../domain/boot-events.ts';

interface OutboxRecord {
  seq: number;
  workflowId: string;
  event: BootEvent;
  /** Its run takes events together (the gate said so): sent with the lane's next records in one signal. */
  batch?: true;
  /** When it was queued (epoch ms; for an event reloaded from disk, its observation time). Never written. */
  since: number;
  /** Delivered (or dropped) in this process; never written to disk. */
  done?: boolean;
}

export type OutboxLogLevel = 'info' | 'warn' | 'error';
/** Where the outbox reports; `level` defaults to warn. */
export type OutboxLog = (msg: string, level?: OutboxLogLevel) => void;

/** Plain counters and gauges, cheap to read (for /health and metrics). */
export interface OutboxStats {
  /** Gauge: events not delivered yet, on disk or held in memory (the outbox's depth). */
  queued: number;
  /** Gauge: of `queued`, those held in memory because they could not be written yet. */
  unwritten: number;
  /** Gauge: how long the oldest undelivered event has waited, in ms (0 when none waits). */
  oldestUndeliveredAgeMs: number;
  /** Counter: events delivered. */
  delivered: number;
  /** Counter: events that will never be delivered, all causes (the sum of the four below). */
  dropped: number;
  /** Counter: their workflow is not running (completed, or never existed); logged at info, one line each. */
  droppedNoWorkflow: number;
  /** Counter: the oldest held events, when more than `maxUnwritten` could not be written. */
  droppedOverflow: number;
  /** Counter: still unwritten when the outbox stopped, or recorded after it had stopped. */
  droppedAtStop: number;
  /** Counter: lines of the outbox file that could not be read back at start (a write cut short by a crash). */
  droppedUnreadable: number;
  /** Counter: failed writes to the outbox's files (event appends, short ones included, and cursor updates). */
  writeFailures: number;
  /** Last delivery error while the head is stuck (Temporal unreachable). */
  lastError?: string;
  /** Last write error while events cannot be written. */
  lastWriteError?: string;
}

export interface OutboxLimits {
  /** Events held in memory while they cannot be written; beyond it the oldest are dropped (default 10,000). */
  maxUnwritten: number;
  /** Pause between tries to write held events (default 1 s). */
  writeRetryMs: number;
  /** At most one log line about an unwritable outbox per this interval while it lasts (default 30 s). */
  reportEveryMs: number;
  /**
   * How long the events of a run that takes them together wait for the next ones of its boot before going out in
   * one signal (default 1 s): a netboot's DHCP, TFTP and script fetch, or kernel and initrd, come within it, and the
   * host's workflow then runs one task for them instead of one each. Asked for (deliverFor), draining or stopping,
   * they go at once.
   */
  batchWindowMs: number;
}

/** Pauses between delivery rounds while Temporal refuses them: from the first, doubling up to the last. */
const RETRY_PAUSES = { firstMs: 200, maxMs: 10_000 };
const LIMITS: OutboxLimits = {
  maxUnwritten: 10_000,
  writeRetryMs: 1000,
  reportEveryMs: 30_000,
  batchWindowMs: 1000,
};
const COMPACT_AFTER = 1000;
/** Digits of the cursor file (padded with spaces). */
const CURSOR_WIDTH = 16;
/** Events taken from the head per round; the cursor is written once per round. */
const BATCH = 64;
/** Workflows signalled at once within a round. */
const LANES = 16;
/** Events in one signal: a host's whole netboot is about ten; this bounds a payload after a long outage. */
const MAX_EVENTS_PER_SIGNAL = 32;
/** Events per append: held events go out in pieces, so a disk with a little room takes what fits. */
const WRITE_CHUNK = 512;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class EventOutbox {
  /** Written, undelivered records are queue[head..]; the delivered prefix is trimmed now and then. */
  private queue: OutboxRecord[] = [];
  private head = 0;
  /** Records not on disk yet, in order: the next append's, or held after a failed one. */
  private unwritten: OutboxRecord[] = [];
  /** Records of the append in flight (taken from the front of `unwritten`, put back if it fails). */
  private writing: OutboxRecord[] = [];
  private seq = 0;
  private readonly counts = {
    delivered: 0,
    droppedNoWorkflow: 0,
    droppedOverflow: 0,
    droppedAtStop: 0,
    droppedUnreadable: 0,
    writeFailures: 0,
  };
  private lastError: string | undefined;
  private lastWriteError: string | undefined;
  private running = false;
  /** The delivery loop's current sleep: a retry pause (after a failure) or a wait for work. */
  private sleeping: { retry: boolean; wake: () => void } | undefined;
  /** Kicks that came while the loop was not sleeping: `urgent` ends its next sleep, `work` its next wait for work. */
  private kicked = { work: false, urgent: false };
  private stopped = false;
  /** Set once stop() has closed the files: later events are dropped (and counted). */
  private closed = false;
  private loop?: Promise<void>;
  private appends: Promise<void> = Promise.resolve();
  /** The next append, which takes every unwritten record when it starts; new events wait on it. */
  private flushing: Promise<void> | undefined;
  /** A write failed and has not succeeded since: events are held, and writes are tried on a timer. */
  private blocked: { since: number; failures: number } | undefined;
  /** droppedOverflow when the disk last took the held events (what the next recovery line reports from). */
  private overflowBefore = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** What happened since the last log line about the disk. */
  private report = { at: 0, failures: 0, dropped: 0 };
  /** The events file may end in part of a line (a short write not taken back): the next write ends it first. */
  private tornTail = false;
  private sinceCompact = 0;
  /**
   * Kept open while running: an append or a cursor update is then one write through libuv's thread pool, not an
   * open, a write and a close (three trips, which a busy agent's boot services wait behind). Opened again on
   * demand after a failure to open.
   */
  private eventsHandle: FileHandle | undefined;
  private cursorHandle: FileHandle | undefined;
  /** Undelivered events by workflow, so a host's workflow can ask for its own without a scan of the queue. */
  private readonly pendingByWorkflow = new Map<string, number>();
  /** Workflows that asked for their events (deliverFor): no batch window for them. */
  private readonly asked = new Map<string, number>();
  /** drain() calls in progress: no batch window while one waits. */
  private draining = 0;
  private readonly limits: OutboxLimits;

  constructor(
    private readonly dir: string,
    private readonly send: (workflowId: string, event: BootEvent) => Promise<void>,
    private readonly log: OutboxLog = () => undefined,
    private readonly retryPauses: { firstMs: number; maxMs: number } = RETRY_PAUSES,
    limits: Partial<OutboxLimits> = {},
    /** Sends several events of one run at once (one signal); without it every event goes alone. */
    private readonly sendMany?: (workflowId: string, events: BootEvent[]) => Promise<void>,
  ) {
    this.limits = { ...LIMITS, ...limits };
  }

  private get file(): string {
    return path.join(this.dir, 'outbox.jsonl');
  }
  private get cursorFile(): string {
    return path.join(this.dir, 'outbox.cursor');
  }

  /**
   * Reloads undelivered events of a previous run and starts delivering. A directory it cannot write to does not
   * fail it: events are then held in memory (and the condition logged) until a write succeeds.
   */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true }).catch((err: unknown) =>
      this.log(`outbox: cannot create ${this.dir} (${message(err)})`),
    );
    const cursor = Number((await readFile(this.cursorFile, 'utf8').catch(() => '0')).trim()) || 0;
    const text = await readFile(this.file, 'utf8').catch(() => '');
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as Omit<OutboxRecord, 'since'>;
        this.seq = Math.max(this.seq, r.seq);
        if (r.seq > cursor) {
          const rec: OutboxRecord = { ...r, since: typeof r.event.at === 'number' ? r.event.at : Date.now() };
          this.queue.push(rec);
          this.count(rec);
        }
      } catch {
        // A torn line from a crash mid-append: that event was never acknowledged to anyone.
        unreadable++;
      }
    }
    // New lines must not be glued to a torn last one.
    this.tornTail = text.length > 0 && !text.endsWith('\n');
    if (unreadable > 0) {
      this.counts.droppedUnreadable += unreadable;
      this.log(
        `outbox: ${unreadable} unreadable line(s) in ${this.file} skipped (a write cut short by a crash)`,
      );
    }
    if (this.deliverable > 0)
      this.log(`outbox: ${this.deliverable} undelivered event(s) from before the restart`, 'info');
    await this.eventsFile().catch((err: unknown) => this.writeFailed(err));
    await this.cursor().catch((err: unknown) => this.writeFailed(err, 'cursor'));
    this.running = true;
    this.loop = this.deliverLoop();
  }

  /**
   * Queues an event for the workflow `workflowId`. Resolves once it is on disk, or held in memory because the
   * disk refused it (then written as soon as it can be); never rejects, so a boot service never fails on it.
   */
  enqueue(workflowId: string, event: BootEvent, opts: { batch?: boolean } = {}): Promise<void> {
    const rec: OutboxRecord = {
      seq: ++this.seq,
      workflowId,
      event,
      ...(opts.batch ? { batch: true as const } : {}),
      since: Date.now(),
    };
    if (this.closed) {
      this.counts.droppedAtStop++;
      this.log(`outbox: stopped; event ${event.id} (${event.kind}) for ${workflowId} dropped`, 'error');
      return Promise.resolve();
    }
    this.unwritten.push(rec);
    this.count(rec);
    this.bound();
    if (this.blocked) {
      // The disk refused the last write: no write per event, the retry timer tries for all of them.
      this.retrySoon();
      return Promise.resolve();
    }
    return this.flush();
  }

  /** Counts `rec` as undelivered for its workflow. */
  private count(rec: OutboxRecord): void {
    this.pendingByWorkflow.set(rec.workflowId, (this.pendingByWorkflow.get(rec.workflowId) ?? 0) + 1);
  }

  private release(rec: OutboxRecord): void {
    rec.done = true;
    const n = (this.pendingByWorkflow.get(rec.workflowId) ?? 1) - 1;
    if (n > 0) this.pendingByWorkflow.set(rec.workflowId, n);
    else this.pendingByWorkflow.delete(rec.workflowId);
  }

  /** Keeps the held events within `maxUnwritten`: the oldest not being written go first, each counted. */
  private bound(): void {
    while (
      this.unwritten.length + this.writing.length > this.limits.maxUnwritten &&
      this.unwritten.length > 0
    ) {
      const rec = this.unwritten.shift()!;
      this.release(rec);
      this.counts.droppedOverflow++;
      this.report.dropped++;
      if (this.report.dropped === 1) {
        // The first of an interval now; the rest are counted in the next report.
        this.log(
          `outbox: more than ${this.limits.maxUnwritten} event(s) could not be written: the oldest, ` +
            `${rec.event.id} (${rec.event.kind}) for ${rec.workflowId}, is dropped (and any more are counted)`,
          'error',
        );
      }
    }
  }

  /**
   * Delivers what is held for one workflow now, without waiting out a retry pause: its asking means Temporal is
   * reachable again. Answers once none of its events is left, or after `timeoutMs`.
   */
  async deliverFor(workflowId: string, timeoutMs: number): Promise<{ held: number; left: number }> {
    const held = this.pendingByWorkflow.get(workflowId) ?? 0;
    if (held === 0) return { held, left: 0 };
    if (this.blocked) void this.flush();
    this.asked.set(workflowId, (this.asked.get(workflowId) ?? 0) + 1);
    this.kick(true);
    try {
      const until = Date.now() + timeoutMs;
      while (this.pendingByWorkflow.has(workflowId) && Date.now() < until && !this.stopped) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return { held, left: this.pendingByWorkflow.get(workflowId) ?? 0 };
    } finally {
      const n = (this.asked.get(workflowId) ?? 1) - 1;
      if (n > 0) this.asked.set(workflowId, n);
      else this.asked.delete(workflowId);
    }
  }

  /**
   * Group commit: events that arrive while an append is in flight go to disk together in the next one (one
   * write for the lot instead of one each, which bounded a busy agent's request rate). Each caller's promise
   * resolves once that append has written its line or failed (the line is then held); lines keep their order.
   */
  private flush(): Promise<void> {
    this.flushing ??= this.inFileOrder(async () => {
      this.flushing = undefined;
      await this.writeUnwritten();
    });
    return this.flushing;
  }

  /** Writes the unwritten records, a chunk at a time, until none is left or the disk refuses one. */
  private async writeUnwritten(): Promise<void> {
    let written = 0;
    while (this.unwritten.length > 0 && !this.closed) {
      const chunk = this.unwritten.splice(0, WRITE_CHUNK);
      this.writing = chunk;
      try {
        await this.write(chunk.map((r) => this.line(r)).join(''));
      } catch (err) {
        this.writing = [];
        this.unwritten.unshift(...chunk);
        this.bound();
        this.writeFailed(err);
        return;
      }
      this.writing = [];
      written += chunk.length;
      for (const r of chunk) this.queue.push(r);
      this.kick();
    }
    if (this.blocked && written > 0 && this.unwritten.length === 0) {
      const b = this.blocked;
      this.blocked = undefined;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.lastWriteError = undefined;
      this.log(
        `outbox: writing again after ${Math.round((Date.now() - b.since) / 1000)} s: the held events are ` +
          `written (${b.failures} failed write(s), ${this.counts.droppedOverflow - this.overflowBefore} ` +
          `event(s) dropped meanwhile)`,
        'info',
      );
      this.overflowBefore = this.counts.droppedOverflow;
      this.report = { at: 0, failures: 0, dropped: 0 };
    }
  }

  private line(r: OutboxRecord): string {
    return (
      JSON.stringify({
        seq: r.seq,
        workflowId: r.workflowId,
        event: r.event,
        ...(r.batch ? { batch: true } : {}),
      }) + '\n'
    );
  }

  /** A write failed: count it, say so (at once the first time, then at most once per interval), retry later. */
  private writeFailed(err: unknown, what: 'events' | 'cursor' = 'events'): void {
    const msg = message(err);
    this.counts.writeFailures++;
    this.lastWriteError = msg;
    this.report.failures++;
    const now = Date.now();
    if (what === 'events' && !this.blocked) {
      this.blocked = { since: now, failures: 0 };
    }
    if (this.blocked && what === 'events') this.blocked.failures++;
    if (now - this.report.at >= this.limits.reportEveryMs) {
      const held = this.unwritten.length + this.writing.length;
      this.log(
        `outbox: cannot write ${what === 'events' ? 'events' : 'the delivery cursor'} in ${this.dir} (${msg}); ` +
          `boot services keep answering. ${held} event(s) held in memory (at most ${this.limits.maxUnwritten}, ` +
          `then the oldest are dropped), ${this.report.failures} failed write(s) and ` +
          `${this.report.dropped} dropped event(s) since the last report; writes are retried every ` +
          `${this.limits.writeRetryMs} ms`,
        'error',
      );
      this.report = { at: now, failures: 0, dropped: 0 };
    }
    if (what === 'events') this.retrySoon();
  }

  private retrySoon(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.limits.writeRetryMs);
    this.retryTimer.unref();
  }

  /**
   * Runs `fn` after every file operation queued before it. A failed one fails only its own callers: the chain
   * goes on, so the next operation is tried rather than refused for ever.
   */
  private inFileOrder(fn: () => Promise<void>): Promise<void> {
    const done = this.appends.then(fn);
    this.appends = done.catch(() => undefined);
    return done;
  }

  /** Written records not delivered yet. */
  private get deliverable(): number {
    return this.queue.length - this.head;
  }

  /** Every record not delivered yet, written or not. */
  private get pending(): number {
    return this.deliverable + this.writing.length + this.unwritten.length;
  }

  stats(): OutboxStats {
    const oldest = this.queue[this.head] ?? this.writing[0] ?? this.unwritten[0];
    const c = this.counts;
    return {
      queued: this.pending,
      unwritten: this.writing.length + this.unwritten.length,
      oldestUndeliveredAgeMs: oldest ? Math.max(0, Date.now() - oldest.since) : 0,
      delivered: c.delivered,
      dropped: c.droppedNoWorkflow + c.droppedOverflow + c.droppedAtStop + c.droppedUnreadable,
      droppedNoWorkflow: c.droppedNoWorkflow,
      droppedOverflow: c.droppedOverflow,
      droppedAtStop: c.droppedAtStop,
      droppedUnreadable: c.droppedUnreadable,
      writeFailures: c.writeFailures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.lastWriteError !== undefined ? { lastWriteError: this.lastWriteError } : {}),
    };
  }

  /** Resolves once everything queued so far is delivered (or dropped), or after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    this.draining++;
    this.kick(true);
    try {
      const until = Date.now() + timeoutMs;
      while (this.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return this.pending === 0;
    } finally {
      this.draining--;
    }
  }

  /** Stops delivering; a last write is tried for held events, and those it cannot write are dropped (logged). */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.kick(true);
    await this.loop;
    if (this.unwritten.length > 0) await this.flush();
    await this.appends;
    this.closed = true;
    const lost = this.unwritten.splice(0);
    if (lost.length > 0) {
      for (const r of lost) this.release(r);
      this.counts.droppedAtStop += lost.length;
      this.log(
        `outbox: stopping with ${lost.length} event(s) that could not be written ` +
          `(${this.lastWriteError ?? 'no write tried'}): they are dropped`,
        'error',
      );
    }
    await this.eventsHandle?.close().catch(() => undefined);
    await this.cursorHandle?.close().catch(() => undefined);
    this.eventsHandle = this.cursorHandle = undefined;
  }

  private async eventsFile(): Promise<FileHandle> {
    this.eventsHandle ??= await open(this.file, 'a');
    return this.eventsHandle;
  }

  private async cursor(): Promise<FileHandle> {
    // Read-write without O_APPEND (Linux appends every write of an O_APPEND file, whatever its offset).
    this.cursorHandle ??= await open(this.cursorFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    return this.cursorHandle;
  }

  /**
   * One append. A disk with a little room takes part of it without an error (a short write): that part is
   * taken back, so the file never holds a torn line that the next append would be glued to.
   */
  private async write(text: string): Promise<void> {
    const handle = await this.eventsFile();
    const buf = Buffer.from(this.tornTail ? '\n' + text : text);
    const { bytesWritten } = await handle.write(buf);
    if (bytesWritten === buf.length) {
      this.tornTail = false;
      return;
    }
    try {
      const { size } = await handle.stat();
      await handle.truncate(size - bytesWritten);
    } catch {
      this.tornTail = true;
    }
    throw new Error(`ENOSPC: short write (${bytesWritten} of ${buf.length} bytes), no space left on device`);
  }

  /** Fixed width at offset 0, so a shorter number never leaves digits of a longer one behind. */
  private async writeCursor(seq: number): Promise<void> {
    const handle = await this.cursor();
    const { bytesWritten } = await handle.write(String(seq).padStart(CURSOR_WIDTH, ' '), 0, 'utf8');
    if (bytesWritten !== CURSOR_WIDTH)
      throw new Error(`ENOSPC: short write of the cursor (${bytesWritten} bytes)`);
  }

  private async deliverLoop(): Promise<void> {
    let backoff = this.retryPauses.firstMs;
    while (!this.stopped) {
      if (this.deliverable === 0) {
        await this.pause(Infinity);
        continue;
      }
      const batch = this.queue.slice(this.head, this.head + BATCH);
      const { failure, waitUntil } = await this.deliverBatch(batch);
      let done = 0;
      while (done < batch.length && batch[done]!.done) done++;
      if (done > 0) {
        this.head += done;
        this.trimQueue();
        // Not written, the cursor only lags: a restart delivers those events again, and the workflow drops repeats.
        await this.writeCursor(batch[done - 1]!.seq).catch((err: unknown) => this.writeFailed(err, 'cursor'));
        this.sinceCompact += done;
        if (this.sinceCompact >= COMPACT_AFTER && this.deliverable === 0) {
          // In the append chain, so no event can be appended between the emptiness check and the truncation.
          await this.inFileOrder(() => this.compact()).catch((err: unknown) =>
            this.log(`outbox: compaction failed (${message(err)})`),
          );
        }
      }
      if (failure === undefined) {
        this.lastError = undefined;
        backoff = this.retryPauses.firstMs;
        // Only events inside their batch window are left in this round: wait for the first to ripen (or for a new
        // event, a question or a drain, which wake the loop).
        if (waitUntil !== undefined) await this.pause(Math.max(1, waitUntil - Date.now()));
        continue;
      }
      // Temporal unreachable (or refusing): what went out stays done, the rest is retried after a pause.
      this.lastError = failure.message;
      this.log(
        `outbox: delivery to ${failure.workflowId} failed (${failure.message}); retrying in ${backoff} ms`,
      );
      await this.pause(backoff, true);
      backoff = Math.min(backoff * 2, this.retryPauses.maxMs);
    }
    this.running = false;
  }

  /**
   * Wakes the delivery loop, or makes its next sleep return at once. New work (an event written) does not cut a retry
   * pause short, so an outage is not hammered once per event; a question, a drain or stop (`urgent`) does.
   */
  private kick(urgent = false): void {
    if (this.sleeping) {
      if (urgent || !this.sleeping.retry) this.sleeping.wake();
      return;
    }
    if (urgent) this.kicked.urgent = true;
    else this.kicked.work = true;
  }

  /** Sleeps `ms`, or until woken (a new event, a question, a drain, stop). */
  private async pause(ms: number, retry = false): Promise<void> {
    // A kick while the loop was busy (not sleeping) is not lost: the next sleep it applies to returns at once.
    const kicked = this.kicked.urgent || (!retry && this.kicked.work);
    // After a retry pause the loop tries everything anyway: new work noted meanwhile needs no wake-up of its own.
    this.kicked = { work: false, urgent: false };
    if (kicked) return;
    await new Promise<void>((r) => {
      const t = Number.isFinite(ms)
        ? setTimeout(() => {
            this.sleeping = undefined;
            r();
          }, ms)
        : undefined;
      this.sleeping = {
        retry,
        wake: () => {
          this.sleeping = undefined;
          clearTimeout(t);
          r();
        },
      };
    });
  }

  /**
   * Sends the batch's undelivered records: one lane per workflow, in order within it, up to LANES lanes at once.
   * A lane stops at its first failure so that workflow's later events wait; the first failure is returned. A lane
   * whose first record is still in its batch window waits for a later round (`waitUntil`: the earliest ripens).
   */
  private async deliverBatch(
    batch: OutboxRecord[],
  ): Promise<{ failure?: { workflowId: string; message: string }; waitUntil?: number }> {
    const lanes = new Map<string, OutboxRecord[]>();
    for (const r of batch) {
      if (r.done) continue;
      const lane = lanes.get(r.workflowId);
      if (lane) lane.push(r);
      else lanes.set(r.workflowId, [r]);
    }
    const now = Date.now();
    let waitUntil: number | undefined;
    const queue: OutboxRecord[][] = [];
    for (const lane of lanes.values()) {
      const first = lane[0]!;
      const ripeAt = first.batch ? first.since + this.limits.batchWindowMs : 0;
      if (ripeAt <= now || this.stopped || this.draining > 0 || this.asked.has(first.workflowId))
        queue.push(lane);
      else waitUntil = Math.min(waitUntil ?? ripeAt, ripeAt);
    }
    let failure: { workflowId: string; message: string } | undefined;
    const runLanes = async (): Promise<void> => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const group of this.signals(lane)) {
          const r = group[0]!;
          try {
            if (group.length === 1) await this.send(r.workflowId, r.event);
            else
              await this.sendMany!(
                r.workflowId,
                group.map((g) => g.event),
              );
            this.counts.delivered += group.length;
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) {
              failure ??= { workflowId: r.workflowId, message: message(err) };
              break;
            }
            // The run ended (or never existed): nobody is waiting for these events.
            this.counts.droppedNoWorkflow += group.length;
            for (const g of group)
              this.log(
                `outbox: event ${g.event.id} (${g.event.kind}) for ${g.workflowId} dropped: ` +
                  `no running workflow (${err.message})`,
                'info',
              );
          }
          for (const g of group) this.release(g);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LANES, queue.length) }, runLanes));
    return { ...(failure ? { failure } : {}), ...(waitUntil !== undefined ? { waitUntil } : {}) };
  }

  /**
   * A lane's records as signals, in order: consecutive records of one run that takes events together make one
   * (at most MAX_EVENTS_PER_SIGNAL), every other record goes alone.
   */
  private signals(lane: OutboxRecord[]): OutboxRecord[][] {
    const out: OutboxRecord[][] = [];
    for (const r of lane) {
      const last = out.at(-1);
      const joins =
        this.sendMany !== undefined &&
        r.batch === true &&
        last !== undefined &&
        last[0]!.batch === true &&
        last[0]!.event.runId === r.event.runId &&
        last.length < MAX_EVENTS_PER_SIGNAL;
      if (joins) last.push(r);
      else out.push([r]);
    }
    return out;
  }

  /** Drops the delivered prefix once it is most of the array (shift() on a long queue costs a copy each time). */
  private trimQueue(): void {
    if (this.deliverable === 0) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything written is delivered: start a fresh file so it does not grow forever. */
  private async compact(): Promise<void> {
    this.sinceCompact = 0;
    if (this.deliverable > 0) return;
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, '');
    await rename(tmp, this.file);
    // The open handle still points at the file just replaced; the next append opens the new one.
    const old = this.eventsHandle;
    this.eventsHandle = undefined;
    this.tornTail = false;
    await old?.close();
  }

  isRunning(): boolean {
    return this.running;
  }
}
