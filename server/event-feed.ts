// The live feed behind GET /events: host and rollout changes seen by this replica's index, with a short replay
// buffer so that a client reconnecting with Last-Event-ID misses nothing it could have seen here. Ids carry the
// replica's instance id: another replica's ids mean nothing here, so such a client simply starts afresh.
import { randomBytes } from 'node:crypto';

export type FeedEventType = 'host' | 'rollout';

export interface FeedEvent {
  /** `<instance>-<sequence>`. */
  id: string;
  type: FeedEventType;
  data: Record<string, unknown>;
}

export class EventFeed {
  readonly instance = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly buffer: FeedEvent[] = [];
  private readonly subscribers = new Set<(e: FeedEvent) => void>();

  constructor(private readonly keep = 2000) {}

  publish(type: FeedEventType, data: Record<string, unknown>): void {
    const e: FeedEvent = { id: `${this.instance}-${++this.seq}`, type, data };
    this.buffer.push(e);
    if (this.buffer.length > this.keep) this.buffer.splice(0, this.buffer.length - this.keep);
    for (const s of this.subscribers) s(e);
  }

  subscribe(fn: (e: FeedEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Events after `lastId` still in the buffer; empty when the id is unknown here. */
  since(lastId: string | undefined): FeedEvent[] {
    if (!lastId) return [];
    const m = /^([0-9a-f]+)-(\d+)$/.exec(lastId);
    if (!m || m[1] !== this.instance) return [];
    const after = Number(m[2]);
    return this.buffer.filter((e) => Number(e.id.slice(this.instance.length + 1)) > after);
  }
}
