// Which hosts a paged rollout may start, over groups (workflow × site) with a page of fetched hosts each: a table of
// group states, policies and the decisions expected (the rules of rollout-scheduler.ts, counted instead of listed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scheduleGroups } from '../../workflows/group-scheduler.ts';
import type { GroupDecision, GroupView } from '../../workflows/group-scheduler.ts';
import type { RolloutGroupProgress, WorkflowPolicy } from '../../domain/rollout.ts';

function group(workflow: string, site: string, g: Partial<RolloutGroupProgress> = {}): RolloutGroupProgress {
  return { workflow, site, planned: 10, started: 0, blocked: 0, exhausted: false, ...g };
}

function policy(p: Partial<WorkflowPolicy> = {}): WorkflowPolicy {
  return { max_concurrent: 1, min_standing: 0, max_fail: 0, block_deps: [], total_hosts: 10, ...p };
}

function view(v: Partial<GroupView> & Pick<GroupView, 'groups' | 'queued' | 'policies'>): GroupView {
  return {
    sitePolicies: {},
    runningByWorkflow: new Map(),
    runningBySite: new Map(),
    failedByWorkflow: new Map(),
    badByWorkflow: new Map(),
    maxRunning: 1500,
    ...v,
  };
}

const cases: { name: string; view: GroupView; want: GroupDecision }[] = [
  {
    name: 'nothing planned',
    view: view({ groups: [], queued: [], policies: {} }),
    want: { start: [], fetch: [], block: [] },
  },
  {
    name: 'a group with room and no page fetches one',
    view: view({ groups: [group('a', 's')], queued: [0], policies: { a: policy({ max_concurrent: 3 }) } }),
    want: { start: [], fetch: [0], block: [] },
  },
  {
    name: 'a group with no room fetches nothing (pages are fetched only when a host could start)',
    view: view({
      groups: [group('a', 's')],
      queued: [0],
      policies: { a: policy({ max_concurrent: 2 }) },
      runningByWorkflow: new Map([['a', 2]]),
    }),
    want: { start: [], fetch: [], block: [] },
  },
  {
    name: 'max_concurrent per workflow is shared by its groups at every site, in group order',
    view: view({
      groups: [group('a', 's1'), group('a', 's2')],
      queued: [5, 5],
      policies: { a: policy({ max_concurrent: 3 }) },
      runningByWorkflow: new Map([['a', 1]]),
    }),
    want: { start: [{ group: 0, count: 2 }], fetch: [], block: [] },
  },
  {
    name: "a site's max_concurrent is shared by the workflows at that site",
    view: view({
      groups: [group('a', 's'), group('b', 's'), group('b', 't')],
      queued: [5, 5, 5],
      policies: { a: policy({ max_concurrent: 5 }), b: policy({ max_concurrent: 5 }) },
      sitePolicies: { s: { max_concurrent: 4 }, t: { max_concurrent: 1 } },
    }),
    want: {
      start: [
        { group: 0, count: 4 },
        { group: 2, count: 1 },
      ],
      fetch: [],
      block: [],
    },
  },
  {
    name: 'min_standing: hosts of the workflow not reprovisioned and not failed stay at or above it',
    view: view({
      groups: [group('a', 's')],
      queued: [5],
      policies: { a: policy({ max_concurrent: 10, min_standing: 6, total_hosts: 10 }) },
      failedByWorkflow: new Map([['a', 1]]),
      runningByWorkflow: new Map([['a', 1]]),
    }),
    want: { start: [{ group: 0, count: 2 }], fetch: [], block: [] },
  },
  {
    name: 'block_deps: a dependant waits while any group of its dependency has hosts left or running',
    view: view({
      groups: [group('a', 's', { exhausted: true }), group('a', 't', { exhausted: true }), group('b', 's')],
      queued: [0, 0, 3],
      policies: { a: policy(), b: policy({ block_deps: ['a'], max_concurrent: 3 }) },
      runningByWorkflow: new Map([['a', 1]]),
    }),
    want: { start: [], fetch: [], block: [] },
  },
  {
    name: 'block_deps: the dependency done, the dependant starts',
    view: view({
      groups: [group('a', 's', { exhausted: true }), group('b', 's')],
      queued: [0, 3],
      policies: { a: policy(), b: policy({ block_deps: ['a'], max_concurrent: 3 }) },
    }),
    want: { start: [{ group: 1, count: 3 }], fetch: [], block: [] },
  },
  {
    name: 'block_deps: a dependency with a failed or blocked host blocks what is left of the dependant',
    view: view({
      groups: [group('a', 's', { exhausted: true }), group('b', 's'), group('b', 't', { exhausted: true })],
      queued: [0, 3, 0],
      policies: { a: policy(), b: policy({ block_deps: ['a'], max_concurrent: 3 }) },
      badByWorkflow: new Map([['a', 1]]),
    }),
    want: {
      start: [],
      fetch: [],
      block: [{ group: 1, reason: 'dependency workflow a has hosts that did not finish' }],
    },
  },
  {
    name: "the rollout's cap on running hosts holds across workflows",
    view: view({
      groups: [group('a', 's'), group('b', 's')],
      queued: [5, 5],
      policies: { a: policy({ max_concurrent: 5 }), b: policy({ max_concurrent: 5 }) },
      runningByWorkflow: new Map([['a', 1]]),
      maxRunning: 4,
    }),
    want: { start: [{ group: 0, count: 3 }], fetch: [], block: [] },
  },
  {
    name: 'a done group (pages done, queue empty) is left alone',
    view: view({
      groups: [group('a', 's', { exhausted: true, started: 10 })],
      queued: [0],
      policies: { a: policy({ max_concurrent: 5 }) },
    }),
    want: { start: [], fetch: [], block: [] },
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(scheduleGroups(c.view), c.want);
  });
}

// Maintenance windows (patch rollout-maintenance-windows): 2026-03-07 is a Saturday.
const SAT_2230_UTC = Date.parse('2026-03-07T22:30:00Z');
const SAT_1200_UTC = Date.parse('2026-03-07T12:00:00Z');

test('a group starts only inside its workflow window, and says when the window opens', () => {
  const v = (now?: number) =>
    view({
      groups: [group('a', 's'), group('b', 's')],
      queued: [2, 2],
      policies: {
        a: policy({ windows: ['Sat 22:00-Sun 04:00'], time_zone: 'Europe/Berlin' }),
        b: policy(),
      },
      ...(now !== undefined ? { now } : {}),
    });
  // 22:30 UTC is 23:30 in Berlin: open.
  assert.deepEqual(scheduleGroups(v(SAT_2230_UTC)), {
    start: [
      { group: 0, count: 1 },
      { group: 1, count: 1 },
    ],
    fetch: [],
    block: [],
  });
  const closed = scheduleGroups(v(SAT_1200_UTC));
  assert.deepEqual(closed.start, [{ group: 1, count: 1 }]);
  assert.equal(closed.waiting?.length, 1);
  const w = closed.waiting![0]!;
  assert.equal(w.group, 0);
  assert.equal(w.of, 'workflow a');
  assert.equal(w.timeZone, 'Europe/Berlin');
  assert.equal(w.next?.at, Date.parse('2026-03-07T21:00:00Z'));
  assert.equal(w.next?.local, 'Sat 2026-03-07 22:00');
  // Without the time (a run before the patch) windows do not apply.
  assert.equal(scheduleGroups(v()).start.length, 2);
});

test("a site's window holds its groups too, and a closed window neither starts nor fetches", () => {
  const d = scheduleGroups(
    view({
      groups: [group('a', 'east'), group('a', 'west')],
      queued: [0, 0],
      policies: { a: policy({ max_concurrent: 5 }) },
      sitePolicies: {
        east: { max_concurrent: 5, windows: ['Wed 01:00-03:00'] },
        west: { max_concurrent: 5 },
      },
      now: SAT_1200_UTC,
    }),
  );
  assert.deepEqual(d.fetch, [1]);
  assert.equal(d.waiting?.[0]?.of, 'site east');
  assert.equal(d.waiting?.[0]?.next?.at, Date.parse('2026-03-11T01:00:00Z'));
});
