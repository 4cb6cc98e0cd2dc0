// Sim hosts boot through a real agent: they get their lease and boot file from its DHCP server (through the
// fleet's relay on loopback), fetch the boot file over TFTP and their iPXE script, kernel, initrd, config and
// checkpoint over HTTP from it, and only the agent's observations drive the host workflows.
// Then the centre goes away mid-boot for longer than the host's step timeouts: the agent keeps serving from its
// cache and queues the events; when Temporal is back the workflow asks the agent for them before calling its
// step stalled, and the host finishes with a single power cycle.
import type { CodecSettings } from '../../temporal/codec/codec-settings.ts';
import { devCodecSettings } from '../../temporal/codec/dev-key.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import type { DevServer } from '../../temporal/dev-server.ts';
import { startSimAgentSite } from '../../sim/sim-agent-site.ts';
import type { SimAgentSite } from '../../sim/sim-agent-site.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { writeSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS, freeServerPorts } from '../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout, waitFor } from '../../testkit/workflows.ts';

const SOT_AGENT_URL = 'http://10.20.0.2:8080';
/** Step timeouts of the outage test: shorter than its outage. */
const STEP_S = 5;

async function startSimAgent(opts: {
  site: string;
  dataDir: string;
  address: string;
  codec: CodecSettings;
  delays?: Partial<typeof FAST_SIM_DELAYS>;
  outboxRetryPauses?: { firstMs: number; maxMs: number };
}): Promise<SimAgentSite> {
  const site = await startSimAgentSite({
    site: opts.site,
    agentId: `${opts.site}-agent`,
    sotHttpUrl: SOT_AGENT_URL,
    dataDir: opts.dataDir,
    temporalAddress: opts.address,
    namespace: 'vaquero',
    codec: opts.codec,
    delays: { ...FAST_SIM_DELAYS, ...opts.delays },
    outboxRetryPauses: opts.outboxRetryPauses,
  });
  await waitFor('the agent worker polling', async () => site.agent.workerRunning() || undefined, {
    timeoutMs: 30_000,
  });
  return site;
}

/** The control plane only: the agent is the site's worker. */
async function startControlWorker(temporal: TemporalConnection, dataDir: string) {
  return startWorkerStack({
    connection: await temporal.nativeConnection(),
    client: temporal.client,
    dataConverter: temporal.dataConverter,
    namespace: temporal.namespace,
    dataDir,
    control: true,
    simSites: [],
    simDelays: FAST_SIM_DELAYS,
  });
}

test('sim hosts boot through the agent, whose observations alone drive their workflows', async (t) => {
  installQuietRuntime();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vq-simagent-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const temporal = await connectTemporal({
    dataDir: path.join(dataDir, 'temporal'),
    ui: false,
    ports: await freeServerPorts(),
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  const cleanup: (() => Promise<unknown>)[] = [];
  // Workers and the agent first, the server last (node:test runs after-hooks in registration order).
  t.after(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await temporal.close();
  });
  const control = await startControlWorker(temporal, dataDir);
  cleanup.push(() => control.stop());
  const h = await startSimAgent({
    site: 'agsite',
    dataDir,
    address: temporal.address,
    codec: temporal.codec.settings,
  });
  cleanup.push(() => h.stop());

  const sot = await writeSot({
    sot: 'agsot',
    site: 'agsite',
    workflows: { two: { boots: ['install', 'configure'], policy: { max_concurrent: 2 } } },
    hosts: [
      { name: 'a1', workflow: 'two' },
      { name: 'a2', workflow: 'two' },
    ],
  });
  t.after(() => rm(path.dirname(sot.dir), { recursive: true, force: true }));
  const r = await startRollout(temporal.client, sot);
  const result = await rolloutResult(temporal.client, r.workflowId, 120_000);
  const why = async () =>
    JSON.stringify((await hostStatus(temporal.client, 'agsite', 'a1')).timeline.slice(-6));
  assert.equal(result.state, 'completed', `${JSON.stringify(result)} ${await why()}`);
  assert.equal(result.provisioned, 2);

  for (const host of ['a1', 'a2']) {
    const st = await hostStatus(temporal.client, 'agsite', host);
    assert.equal(st.state, 'provisioned');
    const events = st.timeline.filter((e) => e.kind === 'event');
    for (const stage of [1, 2]) {
      const kinds = events.filter((e) => e.bootStage === stage).map((e) => e.message.split(' ')[0]);
      // The agent saw every step it can attribute: DHCP first (the packets carry the MAC), then the script (which
      // names the MAC), kernel and initrd (by the IP it learnt from the script request), config and checkpoint.
      // A TFTP fetch names nothing, only its source address. DHCP binds the address it handed out, the host's
      // reserved 10.x IP, but a sim host's TFTP and HTTP come from its own loopback address (127.x), which only
      // the iPXE script request binds: so stage 1's TFTP is unattributed, and stage 2's is attributed thanks to
      // stage 1's script.
      const expected = ['ipxe', 'kernel', 'initrd', 'config', 'checkpoint'];
      assert.deepEqual(
        [...new Set(kinds)],
        stage === 1 ? ['dhcp', ...expected] : ['dhcp', 'tftp', ...expected],
        `${host} stage ${stage}: ${kinds}`,
      );
      assert.ok(
        events.filter((e) => e.bootStage === stage).every((e) => e.message.includes('from agsite-agent')),
      );
    }
  }
  // The gate is closed again for both: the agent would now give them no boot file.
  for (const mac of sot.macs.values()) assert.equal(h.agent.cache.lookup(mac)?.open, false);
});

test('with Temporal down the agent serves the boot from its cache; its held events, asked for, spare the host a second power cycle', async (t) => {
  installQuietRuntime();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vq-outage-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const ports = await freeServerPorts();
  const serverDir = path.join(dataDir, 'temporal');
  let server: DevServer = await startDevServer({ dataDir: serverDir, ui: false, ports });
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'vaquero' };
  // A server we did not start: the codec's keys are given, as in production.
  const temporal = await connectTemporal({ dataDir, env, codec: await devCodecSettings(dataDir) });
  const cleanup: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await temporal.close();
    await server.stop();
  });
  const control = await startControlWorker(temporal, dataDir);
  cleanup.push(() => control.stop());
  // Slow steps, so the outage starts after the power cycle and before the boot is over.
  const h = await startSimAgent({
    site: 'outsite',
    dataDir,
    address: server.address,
    codec: temporal.codec.settings,
    delays: { tftp: 1500, ipxe: 400, kernel: 400, config: 400, checkpoint: 400 },
    // After its first refused delivery the outbox waits longer than the test: the events reach the workflow
    // only because it asks for them (on its own, the outbox retries within 10 s, racing the step's timer).
    outboxRetryPauses: { firstMs: 300_000, maxMs: 300_000 },
  });
  cleanup.push(() => h.stop());
  const sot = await writeSot({
    sot: 'outsot',
    site: 'outsite',
    workflows: {
      one: {
        boots: ['install'],
        // The outage outlasts every step: the step's timer fires as Temporal returns, before the agent's queued
        // events arrive on their own; the workflow must ask the agent for them, not power-cycle the host again.
        timeouts: {
          dhcp: STEP_S,
          tftp: STEP_S,
          ipxe: STEP_S,
          kernel: STEP_S,
          config: STEP_S,
          checkpoint: STEP_S,
        },
        power_retries: 1,
      },
    },
    hosts: [{ name: 'o1', workflow: 'one' }],
  });
  t.after(() => rm(path.dirname(sot.dir), { recursive: true, force: true }));
  const mac = sot.macs.get('o1')!;
  const r = await startRollout(temporal.client, sot);

  await waitFor(
    'the host powered into its network boot',
    async () => (h.fleet.netboots.get('outsite/o1') ?? 0) > 0 || undefined,
    { timeoutMs: 60_000 },
  );
  await server.stop();
  const outageFrom = Date.now();
  await waitFor(
    'the boot finished against the agent alone',
    // DHCPOFFER, DHCPACK, the script, kernel, initrd, config, checkpoint (the TFTP fetch is unattributed).
    async () => (h.agent.recorder.stats().recorded >= 7 ? true : undefined),
    { timeoutMs: 30_000 },
  );
  // The client retries a signal for a while before the outbox sees it fail; once it has, the outbox pauses.
  await waitFor(
    'the outbox to give up a delivery',
    async () => h.agent.outbox.stats().lastError !== undefined || undefined,
    {
      timeoutMs: 90_000,
    },
  );
  await delay(Math.max(0, outageFrom + (STEP_S + 1) * 1000 - Date.now()));
  const queued = h.agent.outbox.stats();
  assert.ok(queued.queued >= 1, `events were queued while Temporal was down: ${JSON.stringify(queued)}`);
  assert.equal(h.agent.cache.lookup(mac)?.open, true, 'the gate stayed open from the cache');

  server = await startDevServer({ dataDir: serverDir, ui: false, ports });
  const result = await rolloutResult(temporal.client, r.workflowId, 120_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  const st = await hostStatus(temporal.client, 'outsite', 'o1');
  assert.equal(st.powerCycles, 1, `one power cycle: ${JSON.stringify(st.timeline)}`);
  assert.ok(
    st.timeline.some((e) => e.kind === 'events' && /the site's agent held \d+ event\(s\)/.test(e.message)),
    'the workflow asked the agent for the events it held',
  );
  const kinds = st.timeline.filter((e) => e.kind === 'event').map((e) => e.message.split(' ')[0]);
  assert.deepEqual(
    [...new Set(kinds)],
    ['dhcp', 'ipxe', 'kernel', 'initrd', 'config', 'checkpoint'],
    kinds.join(','),
  );
  assert.equal(h.agent.outbox.stats().queued, 0);
});
