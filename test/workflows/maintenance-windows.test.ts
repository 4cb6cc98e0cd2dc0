// Maintenance windows on a real dev server and real workers: the rollout starts while its workflow's window is
// closed and says it waits; hosts start only inside a window; the window closes with hosts left (each host takes
// at least HOST_MS, so at most three start in a one-minute window), a host running then finishes, and the rest
// start when the next window opens; the rollout completes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openWindow, parseWindows } from '../../domain/maintenance-windows.ts';
import { writeSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  rolloutResult,
  rolloutStatus,
  startRollout,
  timelineIntervals,
  waitFor,
} from '../../testkit/workflows.ts';

const MINUTE = 60_000;
/** A host's checkpoint comes this long after its boot: four hosts one at a time cannot fit in one window. */
const HOST_MS = 25_000;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** "Sat 22:00-Sat 22:01": the UTC minute starting at `t`, as a window. */
function minuteWindow(t: number): string {
  const at = (x: number) => {
    const d = new Date(x);
    return `${DAYS[d.getUTCDay()]} ${d.toISOString().slice(11, 16)}`;
  };
  return `${at(t)}-${at(t + MINUTE)}`;
}

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'windows' });
});
after(() => stack?.close());

test(
  'a window closes mid-rollout and the rollout resumes in the next one',
  { timeout: 8 * MINUTE },
  async () => {
    const hosts = ['w1', 'w2', 'w3', 'w4'];
    // Closed now; open the next whole minute; closed a minute; open the minute after.
    const first = Math.ceil((Date.now() + 1) / MINUTE) * MINUTE;
    const windows = [minuteWindow(first), minuteWindow(first + 2 * MINUTE)];
    const sot = await writeSot({
      sot: 'windows',
      site: 'windows',
      workflows: {
        win: {
          boots: ['quick'],
          policy: { max_concurrent: 1, windows, time_zone: 'UTC' },
          timeouts: { checkpoint: 120 },
        },
      },
      hosts: hosts.map((name) => ({ name, workflow: 'win' })),
    });
    await stack.startSimSite(sot.site, { checkpoint: HOST_MS });
    const r = await startRollout(stack.client, sot);

    // Before the first window: nothing started, and the status says what it waits for.
    const waiting = await waitFor('the rollout waiting for its window', async () => {
      const s = await rolloutStatus(stack.client, r.workflowId);
      return s.waiting?.length ? s : undefined;
    });
    assert.match(
      waiting.waiting![0]!,
      new RegExp(
        `waiting for the maintenance window "${windows[0]}" \\(workflow win\\) opening at .* UTC \\(${new Date(first).toISOString()}\\)`,
      ),
    );
    assert.match(
      waiting.workflows?.find((w) => w.workflow === 'win')?.waiting ?? '',
      /waiting for the maintenance window/,
    );
    if (Date.now() < first) assert.equal(waiting.counts.running + waiting.counts.provisioned, 0);

    const result = await rolloutResult(stack.client, r.workflowId, 6 * MINUTE);
    assert.equal(result.state, 'completed', JSON.stringify(result));
    assert.equal(result.provisioned, 4);

    const s = await rolloutStatus(stack.client, r.workflowId);
    const parsed = parseWindows(windows);
    const starts = timelineIntervals(s.timeline).map((i) => i.start);
    assert.equal(starts.length, 4);
    // The server's own record of when each host's run started agrees.
    const runs = await waitFor('4 host runs in visibility', async () => {
      const x = await hostExecutions(stack.client, sot.site);
      return x.length === 4 ? x : undefined;
    });
    for (const t of [...starts, ...runs.map((x) => x.startTime.getTime())]) {
      assert.ok(
        openWindow(parsed, 'UTC', t),
        `a host started at ${new Date(t).toISOString()}, outside ${windows.join(', ')}`,
      );
    }
    // The first window closed with hosts left: some started in the second.
    assert.ok(
      starts.some((t) => t < first + MINUTE),
      'a host started in the first window',
    );
    assert.ok(
      starts.some((t) => t >= first + 2 * MINUTE),
      'a host started in the second window',
    );
    const kinds = s.timeline.map((e) => e.kind);
    // It waited twice (before each window) and said so.
    const waits = s.timeline.filter((e) => e.kind === 'window-wait');
    assert.ok(
      waits.some((e) => e.message.includes(`(${new Date(first).toISOString()})`)),
      JSON.stringify(waits),
    );
    assert.ok(
      waits.some((e) => e.message.includes(`(${new Date(first + 2 * MINUTE).toISOString()})`)),
      JSON.stringify(waits),
    );
    assert.ok(kinds.includes('window-open'));
    assert.equal(s.waiting, undefined);
  },
);
