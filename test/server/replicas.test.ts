// Two server replicas against one Temporal, both watching the same SoT folder, both with a control worker: every
// revision is rolled out once. Each replica answers for rollouts the other started (there is no state of their
// own to share), and a restarted replica starts nothing for a revision already rolled out.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createControlActivities } from '../../activities/control/create-control-activities.ts';
import type { ServerConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import type { RunningServer } from '../../server/main.ts';
import { ROLLOUT_WORKFLOW_TYPE } from '../../domain/workflow-api.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, waitFor } from '../../testkit/workflows.ts';
import { OPERATE_TOKEN, READ_TOKEN, testConfig } from './support/harness.ts';

let stack: TestStack;
let sot: WrittenSot;
const replicas: RunningServer[] = [];
let config: (name: string) => Promise<ServerConfig>;
let firstId = '';
let editedId = '';

async function runs(): Promise<string[]> {
  const out: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` })) {
    if (wf.workflowId.startsWith('rollout/watched/')) out.push(wf.workflowId);
  }
  return out.sort();
}

async function get(
  server: RunningServer,
  url: string,
  token = READ_TOKEN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

before(async () => {
  stack = await startTestStack({ name: 'replicas', control: false });
  sot = await writeSot({
    sot: 'watched',
    site: 'repsite',
    workflows: { quick: { boots: ['quick'], policy: { max_concurrent: 4 } } },
    hosts: [
      { name: 'w1', workflow: 'quick' },
      { name: 'w2', workflow: 'quick' },
    ],
  });
  await stack.startSimSite(sot.site);
  config = async (name: string) =>
    testConfig({
      dataDir: path.join(stack.dataDir, name),
      temporal: { address: stack.address, namespace: stack.namespace, codec: stack.temporal.codec.settings },
      controlWorker: true,
      watchDebounceMs: 200,
      indexRefreshMs: 300,
      sots: [{ name: 'watched', kind: 'dir', path: sot.dir, watch: true, autoRollout: true }],
    });
  // Both start at once: both see a folder never rolled out.
  replicas.push(
    ...(await Promise.all([
      startServer(await config('a'), { log: () => undefined }),
      startServer(await config('b'), { log: () => undefined }),
    ])),
  );
});
after(async () => {
  for (const r of replicas) await r.close();
  await stack?.close();
});

test('two replicas watching one folder start its rollout once, and each answers for it over HTTP', async () => {
  await Promise.all(replicas.map((r) => r.triggers.idle()));
  const first = await runs();
  assert.equal(first.length, 1, JSON.stringify(first));
  firstId = first[0]!;
  const result = await rolloutResult(stack.client, first[0]!, 90_000);
  assert.equal(result.state, 'completed');
  for (const r of replicas) {
    const [sotName, revision] = first[0]!.split('/').slice(1);
    const detail = await get(r, `/rollouts/${sotName}/${revision}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.json.state, 'completed');
    await waitFor(
      'hosts in this replica index',
      async () => (await get(r, '/hosts?site=repsite&state=provisioned')).json.total === 2,
    );
  }
  const ready = await fetch(`${replicas[0]!.url}/ready`);
  assert.equal(ready.status, 200);
});

test('an edit is rolled out once by the two replicas; a broken edit is not rolled out; a restart starts nothing', async () => {
  await changeKernel(sot.dir, 'tiny', 'edited');
  await waitFor('the edit to be rolled out', async () => (await runs()).length === 2, { timeoutMs: 30_000 });
  // Let both watchers settle, then count again.
  await delay(1000);
  await Promise.all(replicas.map((r) => r.triggers.idle()));
  const second = await runs();
  assert.equal(second.length, 2, JSON.stringify(second));
  const edited = second.find((id) => id !== firstId)!;
  editedId = edited;
  assert.equal((await rolloutResult(stack.client, edited, 90_000)).state, 'completed');

  // A YAML error: the watchers say so in their log and start nothing.
  const env = path.join(sot.dir, 'sites', sot.site, 'env.yml');
  const good = await readFile(env, 'utf8');
  await writeFile(env, good + '\n  : broken: [\n');
  await delay(1500);
  await Promise.all(replicas.map((r) => r.triggers.idle()));
  assert.equal((await runs()).length, 2);
  await writeFile(env, good);
  await delay(1000);
  await Promise.all(replicas.map((r) => r.triggers.idle()));
  assert.equal((await runs()).length, 2, 'restoring the last rolled-out content is not a new revision');

  // A replica restarted on the same folder finds its revision already rolled out.
  const old = replicas.shift()!;
  await old.close();
  const again = await startServer(await config('a'), { log: () => undefined });
  replicas.push(again);
  await again.triggers.idle();
  assert.equal((await runs()).length, 2);
  // The API on the new replica starts an explicit re-run on request (operate), and only then.
  const res = await fetch(`${again.url}/rollouts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sot: 'watched' }),
  });
  assert.equal(res.status, 201);
});

test('a control worker that did not prepare a revision fetches it from the source of its rollout', async () => {
  // A folder keeps no history: only the revision it holds now can be fetched again (the edited one).
  const [, , revision] = editedId.split('/');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vaq-other-worker-'));
  const acts = createControlActivities({ dataDir, client: stack.client });
  const plan = await acts.loadHostPlan({ sot: 'watched', revision: revision!, site: 'repsite', host: 'w1' });
  assert.equal(plan.revision, revision);
  assert.equal(plan.host, 'w1');
  await stat(path.join(dataDir, 'revisions', 'watched', revision!, '.complete'));
  // A revision no rollout was started for is still refused.
  await assert.rejects(
    acts.loadHostPlan({ sot: 'watched', revision: 'dir-000000000000', site: 'repsite', host: 'w1' }),
    /not in the revision store/,
  );
});
