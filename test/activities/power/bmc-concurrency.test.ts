// Per-site BMC concurrency on a real stack: many sim hosts of one site reprovisioned at once, with the site's
// policy.bmc_concurrency at 3 and slow BMC calls. The sim fleet counts BMC calls in flight: never more than 3,
// and 3 is reached (so the limit, not a lack of parallelism, is what bounds it); and the semaphore keeps one
// wake-up timer through it all.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import proto from '@temporalio/proto';
import { bmcSemaphoreStatusQuery, bmcSemaphoreWorkflowId } from '../../../domain/bmc-semaphore-api.ts';
import { writeSot } from '../../../testkit/sot.ts';
import { startTestStack } from '../../../testkit/stack.ts';
import type { TestStack } from '../../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout } from '../../../testkit/workflows.ts';

const EventType = proto.temporal.api.enums.v1.EventType;

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'bmc-limit' });
});
after(() => stack?.close());

const HOSTS = 12;
const LIMIT = 3;

test(`${HOSTS} hosts of one site, bmc_concurrency ${LIMIT}: at most ${LIMIT} BMC operations at once, and ${LIMIT} reached`, async () => {
  const sot = await writeSot({
    sot: 'bmclimit',
    site: 'bmclimit',
    siteMaxConcurrent: HOSTS,
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: HOSTS } } },
    hosts: Array.from({ length: HOSTS }, (_, i) => ({ name: `n${i + 1}`, workflow: 'one' })),
  });
  const env = path.join(sot.dir, 'sites', sot.site, 'env.yml');
  const site = parse(await readFile(env, 'utf8')) as { policy?: Record<string, number> };
  site.policy = { ...site.policy, bmc_concurrency: LIMIT };
  await writeFile(env, stringify(site));

  // Every BMC call takes 150 ms, so each host holds its permit for about 5 calls' worth.
  const sim = await stack.startSimSite(sot.site, { bmc: 150 });
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId, 180_000);
  const why = await Promise.all(
    result.failedHosts.map((h) =>
      hostStatus(stack.client, sot.site, h.split('/')[1]!).then((st) => `${h}: ${st.lastError}`),
    ),
  );
  assert.equal(result.state, 'completed', `${JSON.stringify(result)}\n${why.join('\n')}`);
  assert.equal(result.provisioned, HOSTS);

  assert.equal(sim.fleet.bmcInFlight, 0);
  assert.ok(
    sim.fleet.bmcMaxInFlight <= LIMIT,
    `BMC calls in flight reached ${sim.fleet.bmcMaxInFlight} > ${LIMIT}`,
  );
  assert.equal(sim.fleet.bmcMaxInFlight, LIMIT);
  for (let i = 1; i <= HOSTS; i++) assert.equal(sim.fleet.powerOns.get(`${sot.site}/n${i}`), 1);

  // The semaphore agrees: limit from the SoT, every host granted once, nothing held or waiting now.
  const status = await stack.client.workflow
    .getHandle(bmcSemaphoreWorkflowId(sot.site))
    .query(bmcSemaphoreStatusQuery);
  assert.equal(status.limit, LIMIT);
  assert.equal(status.maxHeld, LIMIT);
  assert.equal(status.granted, HOSTS);
  assert.deepEqual(status.held, []);
  assert.deepEqual(status.waiting, []);
  assert.equal(status.expired, 0);

  // One wake-up timer kept across the run (bmc-semaphore-steady-timer), not one cancelled and restarted per task.
  const history = await stack.client.workflow.getHandle(bmcSemaphoreWorkflowId(sot.site)).fetchHistory();
  const count = (type: string) =>
    (history.events ?? []).filter((e) => EventType[e.eventType ?? 0] === type).length;
  const tasks = count('EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  assert.ok(tasks > 5, `${tasks} workflow tasks`);
  assert.ok(
    count('EVENT_TYPE_TIMER_STARTED') <= 2,
    `${count('EVENT_TYPE_TIMER_STARTED')} timers in ${tasks} tasks`,
  );
  assert.ok(
    count('EVENT_TYPE_TIMER_CANCELED') <= 1,
    `${count('EVENT_TYPE_TIMER_CANCELED')} timers cancelled`,
  );
});
