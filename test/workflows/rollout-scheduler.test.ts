// Which pending hosts a rollout may start: a table of fleets, policies and the decisions expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { schedule } from '../../workflows/rollout-scheduler.ts';
import type { SchedulerView } from '../../workflows/rollout-scheduler.ts';
import type { RolloutHostProgress, RolloutHostState, WorkflowPolicy } from '../../domain/rollout.ts';

/** `wf:state` or `site/wf:state` per host, in plan order (default site `s`). */
function hosts(...specs: string[]): RolloutHostProgress[] {
  return specs.map((spec, i) => {
    const [where, state] = spec.split(':') as [string, RolloutHostState];
    const [site, workflow] = where.includes('/') ? (where.split('/') as [string, string]) : ['s', where];
    return { site, host: `h${i}`, workflow, state };
  });
}

function policy(p: Partial<WorkflowPolicy> & { total_hosts: number }): WorkflowPolicy {
  return { max_concurrent: 1, min_standing: 0, max_fail: 0, block_deps: [], ...p };
}

interface Case {
  name: string;
  view: SchedulerView;
  start: number[];
  block?: number[];
  /** Substring of every block reason. */
  reason?: string;
}

const cases: Case[] = [
  {
    name: 'nothing to do',
    view: { hosts: [], policies: {}, sitePolicies: {} },
    start: [],
  },
  {
    name: 'max_concurrent: the first pending hosts in plan order',
    view: {
      hosts: hosts('a:pending', 'a:pending', 'a:pending'),
      policies: { a: policy({ max_concurrent: 2, total_hosts: 3 }) },
      sitePolicies: {},
    },
    start: [0, 1],
  },
  {
    name: 'max_concurrent counts hosts already running',
    view: {
      hosts: hosts('a:provisioned', 'a:running', 'a:pending', 'a:pending'),
      policies: { a: policy({ max_concurrent: 2, total_hosts: 4 }) },
      sitePolicies: {},
    },
    start: [2],
  },
  {
    name: 'max_concurrent reached: nothing starts',
    view: {
      hosts: hosts('a:running', 'a:running', 'a:pending'),
      policies: { a: policy({ max_concurrent: 2, total_hosts: 3 }) },
      sitePolicies: {},
    },
    start: [],
  },
  {
    name: 'min_standing: of 3 hosts 2 stay up, so one at a time',
    view: {
      hosts: hosts('a:pending', 'a:pending', 'a:pending'),
      policies: { a: policy({ max_concurrent: 3, min_standing: 2, total_hosts: 3 }) },
      sitePolicies: {},
    },
    start: [0],
  },
  {
    name: 'min_standing: a failed host is not standing either',
    view: {
      hosts: hosts('a:failed', 'a:pending', 'a:pending'),
      policies: { a: policy({ max_concurrent: 3, min_standing: 2, max_fail: 5, total_hosts: 4 }) },
      sitePolicies: {},
    },
    // 4 hosts - 1 failed - 1 starting = 2 standing: one may start.
    start: [1],
  },
  {
    name: 'min_standing counts hosts of the workflow outside the rollout (total_hosts)',
    view: {
      hosts: hosts('a:pending', 'a:pending'),
      policies: { a: policy({ max_concurrent: 5, min_standing: 8, total_hosts: 10 }) },
      sitePolicies: {},
    },
    start: [0, 1],
  },
  {
    name: 'site max_concurrent caps all workflows of the site together',
    view: {
      hosts: hosts('a:pending', 'b:pending', 'a:pending', 'b:pending'),
      policies: {
        a: policy({ max_concurrent: 2, total_hosts: 2 }),
        b: policy({ max_concurrent: 2, total_hosts: 2 }),
      },
      sitePolicies: { s: { max_concurrent: 3 } },
    },
    start: [0, 1, 2],
  },
  {
    name: 'site limits are per site',
    view: {
      hosts: hosts('x/a:running', 'x/a:pending', 'y/a:pending', 'y/a:pending'),
      policies: { a: policy({ max_concurrent: 10, total_hosts: 4 }) },
      sitePolicies: { x: { max_concurrent: 1 }, y: { max_concurrent: 1 } },
    },
    start: [2],
  },
  {
    name: 'block_deps: nothing of the dependant starts while the dependency has unfinished hosts',
    view: {
      hosts: hosts('app:pending', 'base:provisioned', 'base:running'),
      policies: {
        app: policy({ max_concurrent: 5, block_deps: ['base'], total_hosts: 1 }),
        base: policy({ total_hosts: 2 }),
      },
      sitePolicies: {},
    },
    start: [],
  },
  {
    name: 'block_deps: a pending dependency host holds the dependant back too, and starts itself',
    view: {
      hosts: hosts('app:pending', 'base:pending'),
      policies: {
        app: policy({ max_concurrent: 5, block_deps: ['base'], total_hosts: 1 }),
        base: policy({ total_hosts: 1 }),
      },
      sitePolicies: {},
    },
    start: [1],
  },
  {
    name: 'block_deps: once every dependency host is provisioned or released, the dependant starts',
    view: {
      hosts: hosts('app:pending', 'app:pending', 'base:provisioned', 'base:released'),
      policies: {
        app: policy({ max_concurrent: 5, block_deps: ['base'], total_hosts: 2 }),
        base: policy({ total_hosts: 2 }),
      },
      sitePolicies: {},
    },
    start: [0, 1],
  },
  {
    name: 'block_deps: a skipped dependency host has nothing left to do and does not hold anything back',
    view: {
      hosts: hosts('app:pending', 'base:provisioned', 'base:skipped'),
      policies: { app: policy({ block_deps: ['base'], total_hosts: 1 }), base: policy({ total_hosts: 2 }) },
      sitePolicies: {},
    },
    start: [0],
  },
  {
    name: 'block_deps: a failed dependency host blocks the dependants for good',
    view: {
      hosts: hosts('app:pending', 'app:pending', 'base:failed', 'other:pending'),
      policies: {
        app: policy({ max_concurrent: 5, block_deps: ['base'], total_hosts: 2 }),
        base: policy({ total_hosts: 1 }),
        other: policy({ total_hosts: 1 }),
      },
      sitePolicies: {},
    },
    start: [3],
    block: [0, 1],
    reason: 'dependency workflow base has hosts that did not finish',
  },
  {
    name: 'block_deps: cancelled and blocked dependency hosts block too (transitively)',
    view: {
      hosts: hosts('mid:blocked', 'top:pending', 'base:cancelled', 'mid2:pending'),
      policies: {
        base: policy({ total_hosts: 1 }),
        mid: policy({ block_deps: ['base'], total_hosts: 1 }),
        mid2: policy({ block_deps: ['base'], total_hosts: 1 }),
        top: policy({ block_deps: ['mid'], total_hosts: 1 }),
      },
      sitePolicies: {},
    },
    start: [],
    block: [1, 3],
    reason: 'has hosts that did not finish',
  },
  {
    name: 'maxRunning caps the whole rollout across workflows and sites',
    view: {
      hosts: hosts('x/a:running', 'x/a:pending', 'y/b:pending', 'y/b:pending', 'x/a:pending'),
      policies: {
        a: policy({ max_concurrent: 10, total_hosts: 3 }),
        b: policy({ max_concurrent: 10, total_hosts: 2 }),
      },
      sitePolicies: {},
      maxRunning: 3,
    },
    start: [1, 2],
  },
  {
    name: 'hosts that are not pending are left alone; a workflow without a policy starts nothing',
    view: {
      hosts: hosts('a:blocked', 'a:skipped', 'a:released', 'a:cancelled', 'ghost:pending'),
      policies: { a: policy({ max_concurrent: 5, max_fail: 5, total_hosts: 5 }) },
      sitePolicies: {},
    },
    start: [],
  },
];

for (const c of cases) {
  test(`schedule: ${c.name}`, () => {
    const d = schedule(c.view);
    assert.deepEqual(d.start, c.start, 'start');
    assert.deepEqual(
      d.block.map((b) => b.index),
      c.block ?? [],
      'block',
    );
    for (const b of d.block) assert.ok(b.reason.includes(c.reason ?? ''), b.reason);
  });
}

test('schedule never starts more than max_concurrent or the site limit, over random fleets', () => {
  // A small deterministic generator, so a failure is reproducible.
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const states: RolloutHostState[] = ['pending', 'pending', 'pending', 'running', 'provisioned', 'failed'];
  for (let round = 0; round < 500; round++) {
    const n = 1 + rnd(12);
    const list: RolloutHostProgress[] = Array.from({ length: n }, (_, i) => ({
      site: `s${rnd(2)}`,
      host: `h${i}`,
      workflow: `w${rnd(2)}`,
      state: states[rnd(states.length)]!,
    }));
    const policies: Record<string, WorkflowPolicy> = {
      w0: policy({ max_concurrent: 1 + rnd(3), min_standing: rnd(3), max_fail: 10, total_hosts: n + rnd(3) }),
      w1: policy({ max_concurrent: 1 + rnd(3), max_fail: 10, total_hosts: n }),
    };
    const sitePolicies = { s0: { max_concurrent: 1 + rnd(4) }, s1: { max_concurrent: 1 + rnd(4) } };
    const d = schedule({ hosts: list, policies, sitePolicies });
    const after = list.map((h, i) => (d.start.includes(i) ? { ...h, state: 'running' as const } : h));
    const running = (pred: (h: RolloutHostProgress) => boolean) =>
      after.filter((h) => h.state === 'running' && pred(h)).length;
    for (const [wf, p] of Object.entries(policies)) {
      const before = list.filter((h) => h.workflow === wf && h.state === 'running').length;
      // Starting never pushes a workflow over its limit (hosts already over it stay so, nothing is added).
      if (d.start.some((i) => list[i]!.workflow === wf)) {
        assert.ok(
          running((h) => h.workflow === wf) <= p.max_concurrent,
          `round ${round}: ${wf} over max_concurrent`,
        );
        const failed = list.filter((h) => h.workflow === wf && h.state === 'failed').length;
        assert.ok(
          p.total_hosts - running((h) => h.workflow === wf) - failed >= p.min_standing,
          `round ${round}: ${wf} under min_standing`,
        );
      } else {
        assert.equal(
          running((h) => h.workflow === wf),
          before,
        );
      }
    }
    for (const [site, sp] of Object.entries(sitePolicies)) {
      if (d.start.some((i) => list[i]!.site === site))
        assert.ok(running((h) => h.site === site) <= sp.max_concurrent, `round ${round}: ${site}`);
    }
    for (const i of d.start) assert.equal(list[i]!.state, 'pending');
  }
});
