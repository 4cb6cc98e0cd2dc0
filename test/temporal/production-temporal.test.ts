// vaquero on a production Temporal: the Temporal server itself (built from go.temporal.io/server at the version the
// CLI embeds), PostgreSQL from Debian's packages for persistence and visibility, mTLS on the frontend. The control
// worker connects as `vaquero worker` does (TEMPORAL_ADDRESS + TEMPORAL_TLS_*), sim hosts boot through an agent
// started from a config file with `temporal.tls`; a rollout completes, then another with the Temporal server
// SIGKILLed and restarted mid-rollout on the same PostgreSQL completes with every host provisioned, no boot event
// lost and no extra power cycle. The same SoT runs on the dev server for the timings (printed, not asserted).
import { codecSettingsFromEnv } from '../../temporal/codec/codec-settings.ts';
import { devCodecSettings } from '../../temporal/codec/dev-key.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import tls from 'node:tls';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../../temporal/cli-binary.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import type { ProductionTemporal } from '../../temporal/production-server.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { ensureTemporalServer } from '../../temporal/server-build.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import {
  startConfiguredSimAgentSite,
  startTestProductionTemporal,
} from '../../testkit/production-temporal.ts';
import type { AgentTls, ConfiguredSimAgentSite } from '../../testkit/production-temporal.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS, freeServerPorts } from '../../testkit/stack.ts';
import type { TestPki } from '../../testkit/tls-proxy.ts';
import { hostStatus, rolloutResult, startRollout, waitFor } from '../../testkit/workflows.ts';

const run = promisify(execFile);
const SOT_AGENT_URL = 'http://10.20.0.2:8080';
const SITE = 'prodsite';
const HOSTS = ['p1', 'p2', 'p3'];
const STAGES = 2;
/** What the agent sees of every boot stage of a sim host (TFTP is not always attributable, see sim-through-agent). */
const SEEN_EACH_STAGE = ['dhcp', 'ipxe', 'kernel', 'initrd', 'config', 'checkpoint'];
const OUTAGE_MS = 2_000;

let dir: string;
let production: ProductionTemporal;
let pki: TestPki;
const times: Record<string, number> = {};

before(async () => {
  installQuietRuntime();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-prod-temporal-'));
  // PostgreSQL runs as its own user (the tests run as root): it must get through to its directory below.
  await chmod(dir, 0o711);
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const t0 = Date.now();
  const build = await ensureTemporalServer({ log });
  const stamp = JSON.parse(await readFile(path.join(build.dir, 'build.json'), 'utf8')) as {
    buildSeconds?: number;
  };
  log(
    `Temporal server ${build.version}: ready in ${Date.now() - t0} ms (its build took ${stamp.buildSeconds ?? '?'} s)`,
  );
  const t1 = Date.now();
  ({ server: production, pki } = await startTestProductionTemporal(path.join(dir, 'prod'), { log }));
  times['production first start (initdb, schemas, namespace)'] = Date.now() - t1;
});

after(async () => {
  const t0 = Date.now();
  await production?.stop();
  times['production stop (server, then PostgreSQL)'] = Date.now() - t0;
  const lines = Object.entries(times).map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(2)} s`);
  process.stdout.write(`timings:\n${lines.join('\n')}\n`);
  await rm(dir, { recursive: true, force: true });
});

/**
 * What a TLS client sees within 1.5 s of its handshake: 'open' (the server kept the connection), or the error (an
 * alert the server sent once it had checked the client's certificate, in TLS 1.3 after the client's side is done).
 */
async function tlsOutcome(
  address: string,
  opts: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<string> {
  const [host = '', port = ''] = address.split(':');
  return new Promise((resolve) => {
    const s = tls.connect({
      host,
      port: Number(port),
      servername: pki.serverName,
      ca: opts.ca,
      ...(opts.cert && opts.key ? { cert: opts.cert, key: opts.key } : {}),
      ALPNProtocols: ['h2'],
    });
    const done = (outcome: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('open'), 1_500);
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    s.on('close', () => done('closed'));
    // An HTTP/2 preface, so the server reads (and answers) after the handshake.
    s.on('secureConnect', () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
  });
}

test('the frontend takes only clients with a certificate from its CA', { timeout: 120_000 }, async () => {
  const ca = await readFile(pki.ca);
  const cert = await readFile(pki.clientCert);
  const key = await readFile(pki.clientKey);
  const conn = await Connection.connect({
    address: production.address,
    tls: {
      serverRootCACertificate: ca,
      serverNameOverride: pki.serverName,
      clientCertPair: { crt: cert, key },
    },
    connectTimeout: 5_000,
  });
  try {
    const ns = await conn.workflowService.describeNamespace({ namespace: 'vaquero' });
    assert.equal(ns.namespaceInfo?.name, 'vaquero');
  } finally {
    await conn.close();
  }

  // A client certificate signed by another CA: made here with the other CA's key.
  const f = (n: string) => path.join(pki.dir, n);
  await run('openssl', [
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=intruder'],
    ...['-keyout', f('intruder.key'), '-out', f('intruder.csr')],
  ]);
  await writeFile(f('intruder.ext'), 'extendedKeyUsage=clientAuth\n');
  await run('openssl', [
    ...['x509', '-req', '-in', f('intruder.csr'), '-CA', f('other-ca.pem'), '-CAkey', f('other-ca.key')],
    ...['-CAcreateserial', '-out', f('intruder.pem'), '-days', '2', '-extfile', f('intruder.ext')],
  ]);
  const intruder = { cert: await readFile(f('intruder.pem')), key: await readFile(f('intruder.key')) };

  // At the TLS level: the server alerts a client without a certificate, or with one of another CA.
  assert.equal(await tlsOutcome(production.address, { ca, cert, key }), 'open');
  assert.equal(await tlsOutcome(production.address, { ca }), 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  assert.match(
    await tlsOutcome(production.address, { ca, ...intruder }),
    /^ERR_SSL_(SSLV3_ALERT_BAD_CERTIFICATE|TLSV1_ALERT_UNKNOWN_CA)$/,
  );

  // And the SDK gets no answer without the right certificate, nor in plain text.
  for (const [why, tlsConfig] of [
    ['no client certificate', { serverRootCACertificate: ca, serverNameOverride: pki.serverName }],
    [
      'a client certificate of another CA',
      {
        serverRootCACertificate: ca,
        serverNameOverride: pki.serverName,
        clientCertPair: { crt: intruder.cert, key: intruder.key },
      },
    ],
    ['plain text', undefined],
  ] as const) {
    await assert.rejects(async () => {
      const c = await Connection.connect({
        address: production.address,
        ...(tlsConfig ? { tls: tlsConfig } : {}),
        connectTimeout: 2_000,
      });
      try {
        await c.withDeadline(Date.now() + 2_000, () =>
          c.workflowService.describeNamespace({ namespace: 'vaquero' }),
        );
      } finally {
        await c.close();
      }
    }, `refused with ${why}`);
  }
  // The CLI, as the README's recipe uses it: with the certificate it answers, without it is refused.
  assert.match(await production.cli(['operator', 'cluster', 'health']), /SERVING/);
  const cli = await ensureTemporalCli();
  await assert.rejects(
    run(
      cli,
      ['operator', 'cluster', 'health', '--address', production.address].concat([
        '--tls-ca-path',
        pki.ca,
        '--tls-server-name',
        pki.serverName,
      ]),
      { timeout: 30_000 },
    ),
    // "remote error: tls: certificate required", or a broken pipe when the server's close wins the race.
    (err: { stderr?: string }) => /failed reaching server/.test(err.stderr ?? ''),
  );
});

interface Stack {
  temporal: TemporalConnection;
  site: ConfiguredSimAgentSite;
  close(): Promise<void>;
}

/** The control worker on `env`'s Temporal, and the agent (config file with `tls`) with its sim hosts. */
async function startStack(
  t: TestContext,
  name: string,
  env: NodeJS.ProcessEnv,
  address: string,
  tls?: AgentTls,
): Promise<Stack> {
  const dataDir = path.join(dir, name);
  // The production server's env names its codec key; the dev server's stack gets one of its own.
  const codec = codecSettingsFromEnv(env) ?? (await devCodecSettings(dataDir));
  const temporal = await connectTemporal({ dataDir, env: { ...process.env, ...env }, codec });
  const cleanup: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await temporal.close();
  };
  t.after(close);
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
  const site = await startConfiguredSimAgentSite({
    site: SITE,
    agentId: `${SITE}-agent`,
    sotHttpUrl: SOT_AGENT_URL,
    dataDir,
    temporalAddress: address,
    namespace: 'vaquero',
    codec: temporal.codec.settings,
    ...(tls ? { tls } : {}),
    delays: FAST_SIM_DELAYS,
  });
  cleanup.push(() => site.stop());
  await waitFor('the agent worker polling', async () => site.agent.workerRunning() || undefined, {
    timeoutMs: 60_000,
  });
  return { temporal, site, close };
}

/** The same SoT for both servers: three hosts, two boots each, all at once. */
async function theSot(name: string): Promise<WrittenSot> {
  return writeSot(
    {
      sot: 'prodsot',
      site: SITE,
      workflows: { two: { boots: ['install', 'configure'], policy: { max_concurrent: HOSTS.length } } },
      hosts: HOSTS.map((h) => ({ name: h, workflow: 'two' })),
    },
    path.join(dir, `${name}-sot`),
  );
}

function counts(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries(HOSTS.map((h) => [h, m.get(`${SITE}/${h}`) ?? 0]));
}

function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(a).map((k) => [k, (a[k] ?? 0) - (b[k] ?? 0)]));
}

/** Runs one rollout of `sot` and checks every host: provisioned, one power cycle per boot stage, nothing lost. */
async function rollout(
  stack: Stack,
  sot: WrittenSot,
  label: string,
  midway?: () => Promise<void>,
): Promise<{ powerOns: Record<string, number> }> {
  const { client } = stack.temporal;
  const { fleet, agent } = stack.site;
  const netbootsBefore = counts(fleet.netboots);
  const powerOnsBefore = counts(fleet.powerOns);
  const t0 = Date.now();
  const r = await startRollout(client, sot);
  if (midway) {
    await waitFor(
      'a host powered into its network boot',
      async () =>
        Object.values(minus(counts(fleet.netboots), netbootsBefore)).some((n) => n > 0) || undefined,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    const booted = Object.values(minus(counts(fleet.netboots), netbootsBefore)).reduce((a, b) => a + b, 0);
    assert.ok(
      booted < HOSTS.length * STAGES,
      `mid-rollout: ${booted} of ${HOSTS.length * STAGES} boots begun`,
    );
    process.stderr.write(`${label}: interrupting at +${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await midway();
    process.stderr.write(`${label}: back at +${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const result = await rolloutResult(client, r.workflowId, 240_000);
  times[label] = Date.now() - t0;
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, HOSTS.length);

  const netboots = minus(counts(fleet.netboots), netbootsBefore);
  const powerOns = minus(counts(fleet.powerOns), powerOnsBefore);
  for (const host of HOSTS) {
    const st = await hostStatus(client, SITE, host);
    assert.equal(st.state, 'provisioned', `${label} ${host}`);
    assert.equal(st.revision, r.revision);
    assert.equal(st.powerCycles, STAGES, `${label} ${host}: one power cycle per boot stage`);
    assert.equal(netboots[host], STAGES, `${label} ${host}: one network boot per stage`);
    if (midway) {
      // Its power cycles, and anything unusual (timeouts, held events asked for, errors), for the record.
      const notes = st.timeline
        .filter((e) => e.at >= t0 && !['event', 'stage', 'task'].includes(e.kind))
        .map((e) => `+${((e.at - t0) / 1000).toFixed(1)} s ${e.kind}: ${e.message}`);
      process.stderr.write(`${label} ${host}: ${notes.join('; ')}\n`);
    }
    const events = st.timeline.filter((e) => e.kind === 'event');
    for (let stage = 1; stage <= STAGES; stage++) {
      const kinds = new Set(events.filter((e) => e.bootStage === stage).map((e) => e.message.split(' ')[0]));
      for (const k of SEEN_EACH_STAGE)
        assert.ok(kinds.has(k), `${label} ${host} stage ${stage}: ${k} in ${[...kinds].join(',')}`);
    }
  }
  await waitFor('the agent outbox to drain', async () => agent.outbox.stats().queued === 0 || undefined, {
    timeoutMs: 30_000,
  });
  assert.equal(agent.outbox.stats().dropped, 0, JSON.stringify(agent.outbox.stats()));
  return { powerOns };
}

test(
  'over mTLS: a rollout through the agent, then one with the Temporal server SIGKILLed and restarted mid-rollout',
  { timeout: 600_000 },
  async (t) => {
    const stack = await startStack(t, 'prod-stack', production.clientEnv, production.address, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      server_name: pki.serverName,
    });
    assert.equal(stack.temporal.embedded, false);
    assert.equal(stack.site.agent.endpoint.tls !== undefined, true, 'the agent connects with TLS');
    const sot = await theSot('prod');
    const first = await rollout(stack, sot, 'production: rollout 1');

    await changeKernel(sot.dir, 'installer', 'v2');
    await changeKernel(sot.dir, 'tiny', 'v2');
    const killedPid = production.serverPid();
    let restartedIn = 0;
    const second = await rollout(
      stack,
      sot,
      'production: rollout 2 (server SIGKILLed, restarted)',
      async () => {
        await production.killServer();
        await delay(OUTAGE_MS);
        const t0 = Date.now();
        await production.startServer();
        restartedIn = Date.now() - t0;
      },
    );
    times['production: temporal-server restart until the namespace answers'] = restartedIn;
    assert.notEqual(production.serverPid(), killedPid);
    assert.deepEqual(
      second.powerOns,
      first.powerOns,
      'no power-on beyond those of the rollout without a kill',
    );
    const log = await readFile(production.serverLog, 'utf8');
    assert.equal(log.split('\n=== ').length - 1, 2, 'the server was started twice (killed once)');
  },
);

test('the same SoT on the dev server (timings to compare)', { timeout: 600_000 }, async (t) => {
  const dev = await startDevServer({
    dataDir: path.join(dir, 'dev-server'),
    ui: false,
    ports: await freeServerPorts(),
  });
  t.after(() => dev.stop());
  const env = {
    TEMPORAL_ADDRESS: dev.address,
    TEMPORAL_NAMESPACE: 'vaquero',
    TEMPORAL_TLS_CERT: '',
    TEMPORAL_TLS_KEY: '',
    TEMPORAL_TLS_CA: '',
    TEMPORAL_TLS_SERVER_NAME: '',
  };
  const stack = await startStack(t, 'dev-stack', env, dev.address);
  const sot = await theSot('dev');
  await rollout(stack, sot, 'dev server: rollout 1');
  await changeKernel(sot.dir, 'installer', 'v2');
  await changeKernel(sot.dir, 'tiny', 'v2');
  await rollout(stack, sot, 'dev server: rollout 2 (no kill)');
});
