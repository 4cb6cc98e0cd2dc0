// GET /hosts/{site}/{host}/logs and the host page's installer log, on a real Temporal dev server: sim hosts boot
// through a real agent (as `vaquero dev --agent` runs them) and their installers post log lines to it with their
// checkpoint token; the API reads them back from the agent through the hostInstallerLogs workflow, and the
// dashboard's host page shows them. Also: the route's auth, its 404 and its bounds.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startSimAgentSite } from '../../sim/sim-agent-site.ts';
import type { SimAgentSite } from '../../sim/sim-agent-site.ts';
import { simInstallerLog } from '../../sim/sim-network-boot.ts';
import { writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS, startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, startRollout, waitFor } from '../../testkit/workflows.ts';
import { READ_TOKEN, call, errorCode, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

const SITE = 'logsite';
const AGENT = 'logsite-agent';

let stack: TestStack;
let agentSite: SimAgentSite;
let sot: WrittenSot;
let api: StackApp;

before(async () => {
  stack = await startTestStack({ name: 'host-logs' });
  agentSite = await startSimAgentSite({
    site: SITE,
    agentId: AGENT,
    sotHttpUrl: 'http://10.20.0.2:8080',
    dataDir: stack.dataDir,
    temporalAddress: stack.address,
    namespace: stack.namespace,
    codec: stack.codec,
    delays: FAST_SIM_DELAYS,
    installerLog: true,
  });
  await waitFor('the agent polling', () => agentSite.agent.workerRunning() || undefined, {
    timeoutMs: 30_000,
  });
  sot = await writeSot({
    sot: 'logsot',
    site: SITE,
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 2 } } },
    hosts: [{ name: 'l1', workflow: 'one' }],
  });
  api = await stackApp(stack, await testConfig({ dataDir: stack.dataDir }));
});
after(async () => {
  await api?.close();
  await agentSite?.stop();
  await stack?.close();
  if (sot) await rm(path.dirname(sot.dir), { recursive: true, force: true });
});

test("a host's installer log lines: through the API and on its page", async () => {
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId, 120_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  const mac = sot.macs.get('l1')!;

  const got = await call(api.app, 'GET', `/hosts/${SITE}/l1/logs`, { token: READ_TOKEN });
  assert.equal(got.status, 200, got.res.body);
  const body = got.json as {
    lines: { agent: string; transport: string; text: string }[];
    agents: { agent: string; runId?: string; received?: number; error?: string }[];
  };
  assert.deepEqual(
    body.lines.map((l) => [l.agent, l.transport, l.text]),
    simInstallerLog(mac).map((t) => [AGENT, 'http', t]),
  );
  assert.equal(body.agents.length, 1);
  assert.equal(body.agents[0]!.agent, AGENT);
  assert.equal(body.agents[0]!.received, 3);
  assert.equal(body.agents[0]!.error, undefined);

  // Bounded by the caller's limit: the newest kept.
  const one = await call(api.app, 'GET', `/hosts/${SITE}/l1/logs?limit=1`, { token: READ_TOKEN });
  assert.deepEqual(
    (one.json.lines as { text: string }[]).map((l) => l.text),
    [simInstallerLog(mac).at(-1)],
  );

  // The host page shows them (a signed-in read session).
  const login = await api.app.inject({
    method: 'POST',
    url: '/ui/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${READ_TOKEN}`,
  });
  assert.equal(login.statusCode, 303, login.body);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  const page = await api.app.inject({ method: 'GET', url: `/ui/hosts/${SITE}/l1`, headers: { cookie } });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<section id="installer-log">/);
  for (const line of simInstallerLog(mac)) assert.ok(page.body.includes(line), line);
});

test('the logs route: a token is needed, an unknown host is 404, the limit is bounded', async () => {
  assert.equal((await call(api.app, 'GET', `/hosts/${SITE}/l1/logs`, { token: null })).status, 401);
  const unknown = await call(api.app, 'GET', `/hosts/${SITE}/nobody/logs`, { token: READ_TOKEN });
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown), 'not_found');
  for (const q of ['limit=0', 'limit=501', 'limit=x', 'other=1']) {
    const bad = await call(api.app, 'GET', `/hosts/${SITE}/l1/logs?${q}`, { token: READ_TOKEN });
    assert.equal(bad.status, 400, q);
  }
  const trick = await call(api.app, 'GET', `/hosts/${SITE}/..%2F..%2Fetc/logs`, { token: READ_TOKEN });
  assert.equal(trick.status, 400);
});
