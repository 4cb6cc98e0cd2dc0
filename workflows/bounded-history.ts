// The host workflow's two growing collections, bounded so that a long or noisy run keeps a small query answer and a
// small continueAsNew input: the timeline keeps its newest entries, the seen-event ids (which make a re-delivered
// event count once) forget the oldest first.
import type { TimelineEntry } from '../domain/host.ts';

/** Timeline entries kept in the query and carried across continueAsNew. */
export const TIMELINE_LIMIT = 500;
export const SEEN_EVENT_LIMIT = 2000;

export function appendBounded(timeline: TimelineEntry[], entry: TimelineEntry): void {
  timeline.push(entry);
  if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
}

/** Event ids already counted; `firstSighting` is true once per id (within the limit). */
export class SeenEvents {
  private readonly ids: Set<string>;

  constructor(ids: readonly string[] = []) {
    this.ids = new Set(ids);
  }

  firstSighting(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > SEEN_EVENT_LIMIT) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }

  toArray(): string[] {
    return [...this.ids];
  }
}
