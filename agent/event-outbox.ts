// Boot events on their way to host workflows, kept on disk until delivered. When Temporal is unreachable the
// agent keeps serving boots and queues their events; they are delivered in order when it returns. Delivery is
// at least once; the host workflow drops repeats by event id, so each counts exactly once there.
//
// Order matters per workflow (one host's DHCP before its TFTP before its HTTP), not across workflows: events are
// taken from the head in batches, each workflow's in order, different workflows' at once. A rack powering on
// makes thousands of events a second, and one signal at a time (a round trip each) would fall behind.
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
  /** Delivered (or dropped) in this process; never written to disk. */
  done?: boolean;
}

export interface OutboxStats {
  queued: number;
  delivered: number;
  dropped: number;
  /** Last delivery error while the head is stuck (Temporal unreachable). */
  lastError?: string;
}

/** Pauses between delivery rounds while Temporal refuses them: from the first, doubling up to the last. */
const RETRY_PAUSES = { firstMs: 200, maxMs: 10_000 };
const COMPACT_AFTER = 1000;
/** Digits of the cursor file (padded with spaces). */
const CURSOR_WIDTH = 16;
/** Events taken from the head per round; the cursor is written once per round. */
const BATCH = 64;
/** Workflows signalled at once within a round. */
const LANES = 16;

export class EventOutbox {
  /** Undelivered records are queue[head..]; the delivered prefix is trimmed now and then. */
  private queue: OutboxRecord[] = [];
  private head = 0;
  private seq = 0;
  private delivered = 0;
  private dropped = 0;
  private lastError: string | undefined;
  private running = false;
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop?: Promise<void>;
  private appends: Promise<void> = Promise.resolve();
  /** Lines waiting for the next append, and the promise that append fulfils. */
  private batch: string[] = [];
  private batchWritten: Promise<void> | undefined;
  private sinceCompact = 0;
  /**
   * Kept open while running: an append or a cursor update is then one write through libuv's thread pool, not an
   * open, a write and a close (three trips, which a busy agent's boot services wait behind).
   */
  private eventsHandle: FileHandle | undefined;
  private cursorHandle: FileHandle | undefined;
  /** Undelivered events by workflow, so a host's workflow can ask for its own without a scan of the queue. */
  private readonly pendingByWorkflow = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly send: (workflowId: string, event: BootEvent) => Promise<void>,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly retryPauses: { firstMs: number; maxMs: number } = RETRY_PAUSES,
  ) {}

  private get file(): string {
    return path.join(this.dir, 'outbox.jsonl');
  }
  private get cursorFile(): string {
    return path.join(this.dir, 'outbox.cursor');
  }

  /** Reloads undelivered events of a previous run and starts delivering. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const cursor = Number((await readFile(this.cursorFile, 'utf8').catch(() => '0')).trim()) || 0;
    const text = await readFile(this.file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as OutboxRecord;
        this.seq = Math.max(this.seq, r.seq);
        if (r.seq > cursor) this.hold(r);
      } catch {
        // A torn last line from a crash mid-append: that event was never acknowledged to anyone.
      }
    }
    if (this.pending > 0) this.log(`outbox: ${this.pending} undelivered event(s) from before the restart`);
    this.eventsHandle = await open(this.file, 'a');
    // Read-write without O_APPEND (Linux appends every write of an O_APPEND file, whatever its offset).
    this.cursorHandle = await open(this.cursorFile, constants.O_RDWR | constants.O_CREAT, 0o644);
    this.running = true;
    this.loop = this.deliverLoop();
  }

  /** Queues an event (durably) for the workflow `workflowId`. */
  async enqueue(workflowId: string, event: BootEvent): Promise<void> {
    const rec: OutboxRecord = { seq: ++this.seq, workflowId, event };
    await this.appendLine(JSON.stringify(rec) + '\n');
    this.hold(rec);
    this.wake?.();
  }

  private hold(rec: OutboxRecord): void {
    this.queue.push(rec);
    this.pendingByWorkflow.set(rec.workflowId, (this.pendingByWorkflow.get(rec.workflowId) ?? 0) + 1);
  }

  private release(rec: OutboxRecord): void {
    rec.done = true;
    const n = (this.pendingByWorkflow.get(rec.workflowId) ?? 1) - 1;
    if (n > 0) this.pendingByWorkflow.set(rec.workflowId, n);
    else this.pendingByWorkflow.delete(rec.workflowId);
  }

  /**
   * Delivers what is held for one workflow now, without waiting out a retry pause: its asking means Temporal is
   * reachable again. Answers once none of its events is left, or after `timeoutMs`.
   */
  async deliverFor(workflowId: string, timeoutMs: number): Promise<{ held: number; left: number }> {
    const held = this.pendingByWorkflow.get(workflowId) ?? 0;
    if (held === 0) return { held, left: 0 };
    this.wake?.();
    const until = Date.now() + timeoutMs;
    while (this.pendingByWorkflow.has(workflowId) && Date.now() < until && !this.stopped) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return { held, left: this.pendingByWorkflow.get(workflowId) ?? 0 };
  }

  /**
   * Group commit: events that arrive while an append is in flight go to disk together in the next one (one
   * write for the lot instead of one each, which bounded a busy agent's request rate). Each caller still
   * resolves only once its own line is written, and lines keep their order.
   */
  private appendLine(line: string): Promise<void> {
    this.batch.push(line);
    this.batchWritten ??= this.inFileOrder(() => {
      const lines = this.batch;
      this.batch = [];
      this.batchWritten = undefined;
      return this.write(lines.join(''));
    });
    return this.batchWritten;
  }

  /**
   * Runs `fn` after every file operation queued before it. A failed one (a full disk) fails only its own
   * callers: the chain goes on, so the next append is tried rather than refused for ever.
   */
  private inFileOrder(fn: () => Promise<void>): Promise<void> {
    const done = this.appends.then(fn);
    this.appends = done.catch(() => undefined);
    return done;
  }

  private get pending(): number {
    return this.queue.length - this.head;
  }

  stats(): OutboxStats {
    return {
      queued: this.pending,
      delivered: this.delivered,
      dropped: this.dropped,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Resolves once everything queued so far is delivered (or dropped), or after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.pending === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.appends;
    await this.eventsHandle?.close();
    await this.cursorHandle?.close();
    this.eventsHandle = this.cursorHandle = undefined;
  }

  private async write(text: string): Promise<void> {
    if (!this.eventsHandle) throw new Error('event outbox: enqueue before start() or after stop()');
    await this.eventsHandle.write(text);
  }

  /** Fixed width at offset 0, so a shorter number never leaves digits of a longer one behind. */
  private async writeCursor(seq: number): Promise<void> {
    await this.cursorHandle!.write(String(seq).padStart(CURSOR_WIDTH, ' '), 0, 'utf8');
  }

  private async deliverLoop(): Promise<void> {
    let backoff = this.retryPauses.firstMs;
    while (!this.stopped) {
      if (this.pending === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      const batch = this.queue.slice(this.head, this.head + BATCH);
      const failure = await this.deliverBatch(batch);
      let done = 0;
      while (done < batch.length && batch[done]!.done) done++;
      if (done > 0) {
        this.head += done;
        this.trimQueue();
        await this.writeCursor(batch[done - 1]!.seq);
        this.sinceCompact += done;
        if (this.sinceCompact >= COMPACT_AFTER && this.pending === 0) {
          // In the append chain, so no event can be appended between the emptiness check and the truncation.
          await this.inFileOrder(() => this.compact()).catch((err: unknown) =>
            this.log(`outbox: compaction failed (${err instanceof Error ? err.message : String(err)})`),
          );
        }
      }
      if (failure === undefined) {
        this.lastError = undefined;
        backoff = this.retryPauses.firstMs;
        continue;
      }
      // Temporal unreachable (or refusing): what went out stays done, the rest is retried after a pause.
      this.lastError = failure.message;
      this.log(
        `outbox: delivery to ${failure.workflowId} failed (${failure.message}); retrying in ${backoff} ms`,
      );
      await new Promise<void>((r) => {
        const t = setTimeout(r, backoff);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
      backoff = Math.min(backoff * 2, this.retryPauses.maxMs);
    }
    this.running = false;
  }

  /**
   * Sends the batch's undelivered records: one lane per workflow, in order within it, up to LANES lanes at once.
   * A lane stops at its first failure so that workflow's later events wait; the first failure is returned.
   */
  private async deliverBatch(
    batch: OutboxRecord[],
  ): Promise<{ workflowId: string; message: string } | undefined> {
    const lanes = new Map<string, OutboxRecord[]>();
    for (const r of batch) {
      if (r.done) continue;
      const lane = lanes.get(r.workflowId);
      if (lane) lane.push(r);
      else lanes.set(r.workflowId, [r]);
    }
    const queue = [...lanes.values()];
    let failure: { workflowId: string; message: string } | undefined;
    const runLanes = async (): Promise<void> => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const r of lane) {
          try {
            await this.send(r.workflowId, r.event);
            this.delivered++;
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) {
              failure ??= {
                workflowId: r.workflowId,
                message: err instanceof Error ? err.message : String(err),
              };
              break;
            }
            // The run ended (or never existed): nobody is waiting for this event.
            this.dropped++;
          }
          this.release(r);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LANES, queue.length) }, runLanes));
    return failure;
  }

  /** Drops the delivered prefix once it is most of the array (shift() on a long queue costs a copy each time). */
  private trimQueue(): void {
    if (this.pending === 0) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything delivered: start a fresh file so it does not grow forever. */
  private async compact(): Promise<void> {
    this.sinceCompact = 0;
    if (this.pending > 0) return;
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, '');
    await rename(tmp, this.file);
    // The open handle still points at the file just replaced.
    await this.eventsHandle?.close();
    this.eventsHandle = await open(this.file, 'a');
  }

  isRunning(): boolean {
    return this.running;
  }
}
