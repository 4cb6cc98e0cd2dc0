// Boot events on their way to host workflows, kept on disk until delivered. When Temporal is unreachable the
// agent keeps serving boots and queues their events; they are delivered in order when it returns. Delivery is
// at least once; the host workflow drops repeats by event id, so each counts exactly once there.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bootEventSignal } from '../workflows/definitions.ts';
import type { BootEvent } from '../workflows/types.ts';

interface OutboxRecord {
  seq: number;
  workflowId: string;
  event: BootEvent;
}

export interface OutboxStats {
  queued: number;
  delivered: number;
  dropped: number;
  /** Last delivery error while the head is stuck (Temporal unreachable). */
  lastError?: string;
}

const MAX_BACKOFF_MS = 10_000;
const COMPACT_AFTER = 1000;

export class EventOutbox {
  private readonly queue: OutboxRecord[] = [];
  private seq = 0;
  private delivered = 0;
  private dropped = 0;
  private lastError?: string;
  private running = false;
  private wake?: () => void;
  private stopped = false;
  private loop?: Promise<void>;
  private appends: Promise<void> = Promise.resolve();
  /** Lines waiting for the next append, and the promise that append fulfils. */
  private batch: string[] = [];
  private batchWritten?: Promise<void>;
  private sinceCompact = 0;

  constructor(
    private readonly dir: string,
    private readonly send: (workflowId: string, event: BootEvent) => Promise<void>,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  static forClient(dir: string, client: Client, log?: (msg: string) => void): EventOutbox {
    return new EventOutbox(
      dir,
      async (workflowId, event) => {
        await client.workflow.getHandle(workflowId).signal(bootEventSignal, event);
      },
      log,
    );
  }

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
        if (r.seq > cursor) this.queue.push(r);
      } catch {
        // A torn last line from a crash mid-append: that event was never acknowledged to anyone.
      }
    }
    if (this.queue.length > 0)
      this.log(`outbox: ${this.queue.length} undelivered event(s) from before the restart`);
    this.running = true;
    this.loop = this.deliverLoop();
  }

  /** Queues an event (durably) for the workflow `workflowId`. */
  async enqueue(workflowId: string, event: BootEvent): Promise<void> {
    const rec: OutboxRecord = { seq: ++this.seq, workflowId, event };
    await this.appendLine(JSON.stringify(rec) + '\n');
    this.queue.push(rec);
    this.wake?.();
  }

  /**
   * Group commit: events that arrive while an append is in flight go to disk together in the next one (one
   * open/write/close for the lot instead of one each, which bounded a busy agent's request rate). Each caller
   * still resolves only once its own line is written, and lines keep their order.
   */
  private appendLine(line: string): Promise<void> {
    this.batch.push(line);
    this.batchWritten ??= this.appends = this.appends.then(() => {
      const lines = this.batch;
      this.batch = [];
      this.batchWritten = undefined;
      return appendFile(this.file, lines.join(''));
    });
    return this.batchWritten;
  }

  stats(): OutboxStats {
    return {
      queued: this.queue.length,
      delivered: this.delivered,
      dropped: this.dropped,
      lastError: this.lastError,
    };
  }

  /** Resolves once everything queued so far is delivered (or dropped), or after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.queue.length === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async deliverLoop(): Promise<void> {
    let backoff = 200;
    while (!this.stopped) {
      const head = this.queue[0];
      if (!head) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      try {
        await this.send(head.workflowId, head.event);
        this.delivered++;
        this.lastError = undefined;
        backoff = 200;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          // The run ended (or never existed): nobody is waiting for this event.
          this.dropped++;
        } else {
          this.lastError = err instanceof Error ? err.message : String(err);
          this.log(
            `outbox: delivery to ${head.workflowId} failed (${this.lastError}); retrying in ${backoff} ms`,
          );
          await new Promise<void>((r) => {
            const t = setTimeout(r, backoff);
            this.wake = () => {
              clearTimeout(t);
              r();
            };
          });
          this.wake = undefined;
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          continue;
        }
      }
      this.queue.shift();
      await writeFile(this.cursorFile, String(head.seq));
      if (++this.sinceCompact >= COMPACT_AFTER && this.queue.length === 0) {
        // In the append chain, so no event can be appended between the emptiness check and the truncation.
        this.appends = this.appends.then(() => this.compact());
        await this.appends;
      }
    }
    this.running = false;
  }

  /** Everything delivered: start a fresh file so it does not grow forever. */
  private async compact(): Promise<void> {
    this.sinceCompact = 0;
    if (this.queue.length > 0) return;
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, '');
    await rename(tmp, this.file);
  }

  isRunning(): boolean {
    return this.running;
  }
}
