// The host workflow's bounded collections: the newest timeline entries stay, an event id counts once, the oldest
// ids are forgotten first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TimelineEntry } from '../../domain/host.ts';
import {
  appendBounded,
  SEEN_EVENT_LIMIT,
  SeenEvents,
  TIMELINE_LIMIT,
} from '../../workflows/bounded-history.ts';

test('the timeline keeps its newest entries', () => {
  const timeline: TimelineEntry[] = [];
  for (let i = 0; i < TIMELINE_LIMIT + 7; i++)
    appendBounded(timeline, { at: i, bootStage: 1, stage: 'power', kind: 'note', message: `m${i}` });
  assert.equal(timeline.length, TIMELINE_LIMIT);
  assert.equal(timeline[0]!.message, 'm7');
  assert.equal(timeline.at(-1)!.message, `m${TIMELINE_LIMIT + 6}`);
});

test('an event id counts once; past the limit the oldest id is forgotten first', () => {
  const seen = new SeenEvents(['carried-over']);
  assert.equal(seen.firstSighting('carried-over'), false);
  assert.equal(seen.firstSighting('a'), true);
  assert.equal(seen.firstSighting('a'), false);
  for (let i = 0; i < SEEN_EVENT_LIMIT; i++) seen.firstSighting(`e${i}`);
  assert.equal(seen.toArray().length, SEEN_EVENT_LIMIT);
  assert.equal(seen.firstSighting('carried-over'), true, 'the oldest was forgotten');
  assert.equal(seen.firstSighting(`e${SEEN_EVENT_LIMIT - 1}`), false, 'the newest is remembered');
});
