// Two agents of one site, active/active: every gate reaches both (each on its own queue), a host goes on while one
// of them is down, and the one that was down catches up from Temporal when it is back: gates of runs that ended
// while it was away are closed, a gate opened while it was away is opened. Agent A boots the sim hosts (their
// DHCP, TFTP and HTTP go to it); agent B is the second agent, DHCP and TFTP off, started from its config file as
// `vaquero agent --config` starts it. Both carry the sim fleet's driver, as every agent of a site carries the
// site's drivers, so power operations on the site's shared queue may land on either.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { startSimAgentSite } from '../../sim/sim-agent-site.ts';
import type { SimAgentSite } from '../../sim/sim-agent-site.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import { freePort } from '../../temporal/ports.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS, freeServerPorts } from '../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout, waitFor } from '../../testkit/workflows.ts';

const SITE = 'duo';

test('two agents of a site: both get every gate; a host goes on while one is down; the one back catches up', async (t) => {
  installQuietRuntime();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vq-duo-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const temporal = await connectTemporal({
    dataDir: path.join(dataDir, 'temporal'),
    ui: false,
    ports: await freeServerPorts(),
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  const cleanup: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await temporal.close();
  });
  const control = await startWorkerStack({
    connection: await temporal.nativeConnection(),
    client: temporal.client,
    dataConverter: temporal.dataConverter,
    namespace: temporal.namespace,
    dataDir,
    control: true,
    simSites: [],
    simDelays: FAST_SIM_DELAYS,
  });
  cleanup.push(() => control.stop());
  // The installer takes 3 s (checkpoint delay): a window in which a host's gate is open.
  const a: SimAgentSite = await startSimAgentSite({
    site: SITE,
    agentId: 'duo-a',
    sotHttpUrl: 'http://10.20.0.2:8080',
    dataDir,
    temporalAddress: temporal.address,
    namespace: temporal.namespace,
    codec: temporal.codec.settings,
    delays: { ...FAST_SIM_DELAYS, checkpoint: 3000 },
  });
  cleanup.push(() => a.stop());

  const bFile = path.join(dataDir, 'agent-b.yml');
  await writeFile(
    bFile,
    [
      'agent_id: duo-b',
      `site: ${SITE}`,
      `data_dir: ${path.join(dataDir, 'agent-b')}`,
      `temporal: { address: "${temporal.address}", namespace: ${temporal.namespace}, codec: ${JSON.stringify(temporal.codec.settings)} }`,
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
      'log_level: warn',
    ].join('\n'),
  );
  const bConfig = await loadAgentConfig(bFile);
  const startB = async (): Promise<RunningAgent> => {
    const b = await startAgent(bConfig, {
      extraDrivers: { sim: a.fleet.driver },
      taskRunner: (driver) => (driver === 'sim' ? a.fleet.tasks : undefined),
      reconcileEveryMs: 3_600_000,
    });
    await waitFor('agent B polling', async () => b.workerRunning() || undefined, { timeoutMs: 30_000 });
    return b;
  };
  let b: RunningAgent | undefined = await startB();
  cleanup.push(() => b?.stop() ?? Promise.resolve());
  assert.deepEqual(b.queues, [`site-${SITE}`, `site-${SITE}/agent-duo-b`]);
  assert.ok(b.drivers.includes('ipmi') && b.drivers.includes('redfish') && b.drivers.includes('ssh'));

  const sot = await writeSot({
    sot: 'duosot',
    site: SITE,
    agents: ['duo-a', 'duo-b'],
    workflows: { one: { boots: ['install'], policy: { max_concurrent: 1 } } },
    hosts: [
      { name: 'h1', workflow: 'one' },
      { name: 'h2', workflow: 'one' },
    ],
  });
  t.after(() => rm(path.dirname(sot.dir), { recursive: true, force: true }));
  const mac1 = sot.macs.get('h1')!;
  const mac2 = sot.macs.get('h2')!;

  // 1. Both agents get h1's open gate: B, which serves none of its boot, has it too.
  const r1 = await startRollout(temporal.client, sot);
  const opened = await waitFor(
    "h1's gate open on agent B",
    async () => (b!.cache.lookup(mac1)?.open ? b!.cache.lookup(mac1) : undefined),
    { timeoutMs: 60_000 },
  );
  assert.equal(opened.bootStage, 1);
  assert.equal(a.agent.cache.lookup(mac1)?.runId, opened.runId);
  // Both got the site model, each on its own queue, with every agent listed.
  assert.deepEqual(
    b.cache.siteModel()?.agents?.map((x) => x.id),
    ['duo-a', 'duo-b'],
  );

  // 2. B goes down while h1 installs: h1 and h2 still finish, with one power cycle each.
  await b.stop();
  b = undefined;
  const result = await rolloutResult(temporal.client, r1.workflowId, 180_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 2);
  for (const host of ['h1', 'h2']) {
    const st = await hostStatus(temporal.client, SITE, host);
    assert.equal(st.state, 'provisioned');
    assert.equal(st.powerCycles, 1, `${host}: ${JSON.stringify(st.timeline.slice(-8))}`);
    assert.ok(
      st.timeline.some((e) => e.kind === 'gate' && /duo-b not answering yet/.test(e.message)),
      `${host}: the timeline says the gate went on without B: ${JSON.stringify(st.timeline)}`,
    );
  }
  assert.equal(a.agent.cache.lookup(mac1)?.open, false);
  assert.equal(a.agent.cache.lookup(mac2)?.open, false);

  // 3. B comes back with h1's gate still open in its cache (the close never reached it): it closes it at once.
  b = await startB();
  await waitFor(
    'B closes the gate of the ended run',
    async () => b!.cache.lookup(mac1)?.open === false || undefined,
    {
      timeoutMs: 30_000,
    },
  );

  // 4. A gate opened while B was down: B, back, opens it from the run's own word (netbootGate query).
  await b.stop();
  b = undefined;
  await changeKernel(sot.dir, 'installer', 'v2');
  const r2 = await startRollout(temporal.client, sot);
  const wanted = await waitFor(
    "h1's new gate open on A",
    async () => {
      const g = a.agent.cache.lookup(mac1);
      return g?.open && g.runId !== opened.runId ? g : undefined;
    },
    { timeoutMs: 60_000 },
  );
  b = await startB();
  await waitFor(
    "B has h1's new gate",
    async () => {
      const g = b!.cache.lookup(mac1);
      return g?.open && g.runId === wanted.runId ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
  // An agent that never had any of it (a replacement, with an empty cache and nothing queued for it) learns the
  // open gate from the running host's own word alone.
  const cFile = path.join(dataDir, 'agent-c.yml');
  await writeFile(
    cFile,
    (await readFile(bFile, 'utf8'))
      .replace('agent_id: duo-b', 'agent_id: duo-c')
      .replace(path.join(dataDir, 'agent-b'), path.join(dataDir, 'agent-c'))
      .replace(/port: \d+/, `port: ${await freePort()}`),
  );
  const c = await startAgent(await loadAgentConfig(cFile), {
    extraDrivers: { sim: a.fleet.driver },
    reconcileEveryMs: 3_600_000,
  });
  try {
    await waitFor(
      "the new agent has h1's open gate",
      async () => {
        const g = c.cache.lookup(mac1);
        return g?.open && g.runId === wanted.runId && g.artifacts?.bootStage === 1 ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
  } finally {
    await c.stop();
  }
  const result2 = await rolloutResult(temporal.client, r2.workflowId, 180_000);
  assert.equal(result2.state, 'completed', JSON.stringify(result2));
  // B was up for the end of h1's run: it got the close itself.
  await waitFor('B has the close', async () => b!.cache.lookup(mac1)?.open === false || undefined, {
    timeoutMs: 30_000,
  });
});
