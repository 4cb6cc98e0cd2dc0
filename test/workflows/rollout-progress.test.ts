// The rollout's host bookkeeping: counts per state, the bounded timeline, the message of a failed child run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { ChildWorkflowFailure } from '@temporalio/workflow';
import type { RolloutHostProgress, RolloutTimelineEntry } from '../../domain/rollout.ts';
import {
  appendRolloutTimeline,
  countByState,
  failureMessage,
  FINAL_HOST_STATES,
} from '../../workflows/rollout-progress.ts';

const host = (state: RolloutHostProgress['state']): RolloutHostProgress => ({
  site: 's',
  host: `h-${state}`,
  workflow: 'w',
  state,
});

test('hosts are counted per state, every state present', () => {
  const c = countByState([host('running'), host('failed'), host('failed'), host('pending')]);
  assert.deepEqual(c, {
    pending: 1,
    blocked: 0,
    running: 1,
    provisioned: 0,
    failed: 2,
    cancelled: 0,
    released: 0,
    skipped: 0,
  });
  assert.ok(!FINAL_HOST_STATES.has('running') && !FINAL_HOST_STATES.has('pending'));
  assert.ok(FINAL_HOST_STATES.has('failed') && FINAL_HOST_STATES.has('released'));
});

test('the timeline keeps its newest 5,000 entries', () => {
  const timeline: RolloutTimelineEntry[] = [];
  for (let i = 0; i < 5003; i++) appendRolloutTimeline(timeline, { at: i, kind: 'k', message: `m${i}` });
  assert.equal(timeline.length, 5000);
  assert.equal(timeline[0]!.message, 'm3');
});

test("a failed child's message is its own failure's, not the wrapper's", () => {
  const inner = ApplicationFailure.nonRetryable('failed at netboot/dhcp: no dhcp within 60s');
  const child = new ChildWorkflowFailure(
    'default',
    { workflowId: 'host/s/h', runId: 'r' },
    'hostReprovision',
    RetryState.NON_RETRYABLE_FAILURE,
    inner,
  );
  assert.equal(failureMessage(child), 'failed at netboot/dhcp: no dhcp within 60s');
  assert.equal(failureMessage('plain'), 'plain');
});
