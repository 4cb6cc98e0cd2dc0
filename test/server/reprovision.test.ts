// Requests that name hosts, through the app on a real Temporal dev server with the control worker and sim sites.
// POST /hosts/reprovision: a host not in the SoT is a 404 naming it, a never_provision host a 409 unless "force"
// says so, and a refused request starts nothing at all (hardening finding 3: `nosite/x` once started a workflow).
// GET /hosts/{site}/{host} of a run that ended without recording its state says how it ended (finding 5).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, waitFor } from '../../testkit/workflows.ts';
import { READ_TOKEN, call, errorCode, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

let stack: TestStack;
let sot: WrittenSot;
let termSot: WrittenSot;
let api: StackApp;

before(async () => {
  stack = await startTestStack({ name: 'reprovision' });
  sot = await writeSot({
    sot: 'reprosot',
    site: 'reprosite',
    workflows: { quick: { boots: ['quick'] } },
    hosts: [
      { name: 'r1', workflow: 'quick' },
      { name: 'frozen', workflow: 'quick', never_provision: true },
    ],
  });
  termSot = await writeSot({
    sot: 'termsot',
    site: 'termsite',
    workflows: { slow: { boots: ['quick'], timeouts: { checkpoint: 300 } } },
    hosts: [{ name: 'stuck', workflow: 'slow', options: { stall_at: 'checkpoint' } }],
  });
  await stack.startSimSite(sot.site);
  await stack.startSimSite(termSot.site);
  const config = await testConfig({
    dataDir: stack.dataDir,
    sots: [
      { name: 'reprosot', kind: 'dir', path: sot.dir, watch: false, autoRollout: false },
      { name: 'termsot', kind: 'dir', path: termSot.dir, watch: false, autoRollout: false },
    ],
  });
  api = await stackApp(stack, config);
});
after(async () => {
  await api?.close();
  await stack?.close();
});

/** Host workflows that exist in Temporal for this test's site, by id. */
async function hostRuns(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType = 'hostReprovision'` }))
    if (wf.workflowId.startsWith('host/reprosite/') || wf.workflowId.startsWith('host/nosite/'))
      ids.push(wf.workflowId);
  return ids.sort();
}

test('unknown hosts are a 404 and never_provision a 409 without force; nothing starts unless all can', async () => {
  const started = await call(api.app, 'POST', '/rollouts', { body: { sot: 'reprosot' } });
  assert.equal(started.status, 201, started.res.body);
  assert.equal((await rolloutResult(stack.client, started.json.workflowId as string)).state, 'completed');
  const before = await hostRuns();
  assert.deepEqual(before, ['host/reprosite/r1']);

  const unknown = await call(api.app, 'POST', '/hosts/reprovision', {
    body: { sot: 'reprosot', hosts: ['reprosite/r1', 'nosite/x', 'reprosite/ghost'] },
  });
  assert.equal(unknown.status, 404, unknown.res.body);
  assert.equal(errorCode(unknown), 'host_unknown');
  assert.match(unknown.res.body, /nosite\/x, reprosite\/ghost/);

  const frozen = await call(api.app, 'POST', '/hosts/reprovision', {
    body: { sot: 'reprosot', hosts: ['reprosite/r1', 'reprosite/frozen'] },
  });
  assert.equal(frozen.status, 409, frozen.res.body);
  assert.equal(errorCode(frozen), 'never_provision');
  assert.match(frozen.res.body, /reprosite\/frozen/);
  assert.deepEqual(await hostRuns(), before, 'a refused request started nothing, not even r1');

  const schema = await call(api.app, 'POST', '/hosts/reprovision', {
    body: { sot: 'reprosot', hosts: ['reprosite/r1'], force: 'yes' },
  });
  assert.equal(schema.status, 400, 'force is a boolean');

  const forced = await call(api.app, 'POST', '/hosts/reprovision', {
    body: { sot: 'reprosot', hosts: ['reprosite/frozen'], force: true },
  });
  assert.equal(forced.status, 200, forced.res.body);
  assert.deepEqual(
    (forced.json.results as { host: string; started: boolean }[]).map((r) => [r.host, r.started]),
    [['reprosite/frozen', true]],
  );
  await waitFor('the forced host provisioned', async () => {
    const h = await call(api.app, 'GET', '/hosts/reprosite/frozen', { token: READ_TOKEN });
    return h.json.state === 'provisioned' || undefined;
  });
});

test('a host run that was terminated reads as terminated, not as running', async () => {
  const started = await call(api.app, 'POST', '/rollouts', { body: { sot: 'termsot' } });
  assert.equal(started.status, 201, started.res.body);
  await waitFor('the stuck host installing', async () => {
    const h = await call(api.app, 'GET', '/hosts/termsite/stuck', { token: READ_TOKEN });
    return h.json.stage === 'installing' || undefined;
  });
  await stack.client.workflow.getHandle('host/termsite/stuck').terminate('an operator ended it');
  const h = await call(api.app, 'GET', '/hosts/termsite/stuck', { token: READ_TOKEN });
  assert.equal(h.status, 200, h.res.body);
  assert.equal(h.json.state, 'terminated', h.res.body);
  assert.equal(typeof h.json.closedAt, 'string');
  await waitFor('the list says the same', async () => {
    const list = await call(api.app, 'GET', '/hosts?site=termsite', { token: READ_TOKEN });
    const row = (list.json.hosts as { host: string; state: string }[]).find((r) => r.host === 'stuck');
    return row?.state === 'terminated' || undefined;
  });
});
