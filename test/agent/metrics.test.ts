// The agent's /metrics and /health, through the product entry (startAgent(loadAgentConfig(file))). The agent runs
// in a test namespace and real clients talk to it from another: udhcpc for a host whose gate is open, one whose
// gate is closed and an unknown MAC, tftp-hpa for a file and a missing one, curl for the host's config, another
// host's config and a route that does not exist. The scrape must count exactly those exchanges, and parse.
// /health is 503 until the agent holds a site model and while a boot service is not listening yet, 200 after.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import { startBootServing } from '../../agent/boot-serving.ts';
import type { BootService } from '../../agent/boot-serving.ts';
import { agentConfigSchema, loadAgentConfig } from '../../agent/config.ts';
import type { NetbootGateInput } from '../../domain/activity-contracts.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';
import { freePort } from '../../temporal/ports.ts';
import { createVethPair, flushAddresses, requireRoot, runInNs, setLinkAddress } from '../../testkit/netns.ts';
import { labSubnet, runUdhcpc, scratch } from './dhcp/support/lab.ts';
import { startNsAgent } from './support/ns-agent.ts';

const PREFIX = '10.77.71';
const MAC = { open: '52:54:00:77:71:0a', gated: '52:54:00:77:71:0b', unknown: '52:54:00:77:71:ff' };
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };
const FILE_BYTES = 3000;
const quiet = pino({ level: 'silent' });

// ---- the Prometheus text format -------------------------------------------------------------------------------

type Samples = Map<string, number>;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/;

/** Every sample of a scrape by `name{a="x",b="y"}` (labels sorted); throws on a line that is not one. */
function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: [string, string][] = [];
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = LABEL.exec(rest);
      assert.ok(l, `bad labels in: ${line}`);
      labels.push([l[1]!, l[2]!]);
      rest = rest.slice(l[0].length);
    }
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`).
    const value = /^nan$/i.test(m[3]!)
      ? NaN
      : /^[+-]?inf$/i.test(m[3]!)
        ? Number(m[3]!.replace(/inf/i, 'Infinity'))
        : Number(m[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `bad value in: ${line}`);
    out.set(key(m[1]!, Object.fromEntries(labels)), value);
  }
  return out;
}

function key(name: string, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return l ? `${name}{${l}}` : name;
}

/** Every metric named in the scrape has HELP text. */
function assertHelp(text: string): void {
  const helped = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]));
  for (const name of new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1])))
    assert.ok(helped.has(name), `${name} has no HELP`);
}

function gate(mac: string, host: string): NetbootGateInput {
  return {
    site: 'lab',
    host,
    mac,
    sot: 'lab',
    revision: 'dir-71',
    fingerprint: 'sha256:x',
    bootStage: 1,
    hasConfig: true,
    open: true,
    workflowId: `host/lab/${host}`,
    runId: 'run-1',
    artifacts: {
      bootStage: 1,
      ipxe: `#!ipxe\nkernel http://${PREFIX}.1:8080/assets/linux cb=${CHECKPOINT_TOKEN_PLACEHOLDER}\nboot\n`,
      kernel: `http://${PREFIX}.1:8080/assets/linux`,
      initrds: [],
      cmdline: '',
      config: {
        type: 'cloud-config',
        contentType: 'text/cloud-config',
        text: `token: ${CHECKPOINT_TOKEN_PLACEHOLDER}`,
      },
    },
  };
}

const siteModel: SiteModel = {
  sot: 'lab',
  revision: 'dir-71',
  site: 'lab',
  httpUrl: `http://${PREFIX}.1:8080`,
  dhcpMode: 'server',
  subnets: [labSubnet(PREFIX)],
  reservations: [
    { host: 'node-open', mac: MAC.open, ipv4: `${PREFIX}.10`, subnet: 'lab', hostname: 'node-open' },
    { host: 'node-gated', mac: MAC.gated, ipv4: `${PREFIX}.11`, subnet: 'lab', hostname: 'node-gated' },
  ],
};

/** How many DISCOVERs and REQUESTs udhcpc says it sent (each one the agent answers, or refuses, once). */
function sent(output: string): { discovers: number; requests: number } {
  return {
    discovers: output.match(/(?:sending|broadcasting) discover/g)?.length ?? 0,
    requests: output.match(/(?:sending|broadcasting) select/g)?.length ?? 0,
  };
}

test('/metrics counts real DHCP, TFTP and HTTP exchanges exactly; /health is ready once a site model is held', async (t) => {
  requireRoot();
  const pair = createVethPair({ prefix: PREFIX });
  t.after(() => pair.cleanup());
  const tmp = scratch();
  t.after(() => tmp.remove());
  const tftpRoot = path.join(tmp.dir, 'tftp');
  await mkdir(tftpRoot);
  const payload = Buffer.alloc(FILE_BYTES, 0x5a);
  await writeFile(path.join(tftpRoot, 'boot.bin'), payload);
  const configFile = path.join(tmp.dir, 'agent.yml');
  await writeFile(
    configFile,
    [
      'agent_id: metrics-agent',
      'site: lab',
      `data_dir: ${path.join(tmp.dir, 'data')}`,
      'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached
      `interfaces: [{ name: ${pair.serverIf}, address: ${pair.serverIp}, cidr: ${pair.serverIp}/24 }]`,
      'dhcp: { enabled: true, mode: server, lease_seconds: 600 }',
      `tftp: { enabled: true, root: ${tftpRoot} }`,
      'http: { listen: 0.0.0.0, port: 8080 }',
      'log_level: info',
    ].join('\n'),
  );
  const agent = await startNsAgent(pair.server, configFile);
  t.after(() => agent.stop());

  // Every boot service listens, but the agent has no site model yet: its DHCP would answer no host.
  const early = await agent.get('/health');
  assert.equal(early.status, 503, early.body);
  const earlyBody = JSON.parse(early.body) as {
    ready: boolean;
    reason: string;
    services: Record<string, { state: string }>;
  };
  assert.equal(earlyBody.ready, false);
  assert.match(earlyBody.reason, /site model/);
  assert.deepEqual(
    Object.entries(earlyBody.services).map(([name, s]) => [name, s.state]),
    [
      ['dhcp', 'listening'],
      ['tftp', 'listening'],
    ],
  );
  await agent.call({ op: 'siteModel', model: siteModel });
  await agent.call({ op: 'gate', gate: gate(MAC.open, 'node-open') });
  const ready = await agent.get('/health');
  assert.equal(ready.status, 200, ready.body);
  const readyBody = JSON.parse(ready.body) as Record<string, unknown>;
  assert.equal(readyBody.ready, true);
  assert.equal(readyBody.reason, undefined);
  for (const field of [
    'ok',
    'agent',
    'site',
    'revision',
    'openGates',
    'events',
    'outbox',
    'worker',
    'queues',
  ])
    assert.ok(field in readyBody, `/health keeps ${field}`);

  const useMac = (mac: string): void => {
    flushAddresses(pair.client, pair.clientIf);
    setLinkAddress(pair.client, pair.clientIf, mac);
  };
  const curl = async (url: string): Promise<{ status: number; body: string }> => {
    const r = await runInNs(
      pair.client,
      'curl',
      ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', `http://${PREFIX}.1:8080${url}`],
      { timeoutMs: 15_000 },
    );
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  };

  // The host whose gate is open: its reservation and ipxe.efi, then a TFTP fetch and its config over HTTP.
  useMac(MAC.open);
  const open = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, tag: 'open' });
  assert.equal(open.code, 0, open.output);
  assert.equal(open.env?.ip, `${PREFIX}.10`);
  assert.equal(open.env?.boot_file, 'ipxe.efi');
  const openSent = sent(open.output);
  assert.ok(openSent.discovers >= 1 && openSent.requests >= 1, open.output);

  const out = path.join(tmp.dir, 'boot.out');
  const got = await runInNs(
    pair.client,
    'tftp',
    ['-m', 'octet', pair.serverIp, '-c', 'get', 'boot.bin', out],
    {
      timeoutMs: 20_000,
    },
  );
  assert.deepEqual(await readFile(out), payload, got.stdout + got.stderr);
  const missing = await runInNs(
    pair.client,
    'tftp',
    ['-m', 'octet', pair.serverIp, '-c', 'get', 'missing.bin', path.join(tmp.dir, 'missing.out')],
    { timeoutMs: 20_000 },
  );
  assert.match(missing.stdout + missing.stderr, /Error code 1/);

  const config = await curl(`/config/${MAC.open}`);
  assert.equal(config.status, 200, config.body);
  assert.match(config.body, /^token: /);
  const other = await curl(`/config/${MAC.gated}`);
  assert.equal(other.status, 403, 'another host’s config');
  const nowhere = await curl('/no/such/route?x=1');
  assert.equal(nowhere.status, 404);

  // A known host whose gate is closed: an address without a boot file, then its iPXE script is refused.
  useMac(MAC.gated);
  const gated = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, tag: 'gated' });
  assert.equal(gated.code, 0, gated.output);
  assert.equal(gated.env?.ip, `${PREFIX}.11`);
  assert.equal(gated.env?.boot_file, undefined);
  const gatedSent = sent(gated.output);
  const script = await curl('/ipxe');
  assert.equal(script.status, 404);
  assert.match(script.body, /no network boot/);

  // An unknown MAC: no answer at all.
  useMac(MAC.unknown);
  const unknown = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, {
    ...UEFI_PXE,
    tries: 2,
    tag: 'unknown',
  });
  assert.notEqual(unknown.code, 0, unknown.output);
  const unknownSent = sent(unknown.output);
  assert.equal(unknownSent.discovers, 2, unknown.output);

  const scrape = await agent.get('/metrics');
  assert.equal(scrape.status, 200);
  assertHelp(scrape.body);
  const m = parseMetrics(scrape.body);
  const v = (name: string, labels?: Record<string, string>): number | undefined => m.get(key(name, labels));
  const server = { mode: 'server' };

  // DHCP: every DISCOVER of a known host got an offer, every REQUEST an ack; the gated host's both without a
  // boot file; the unknown MAC's DISCOVERs nothing.
  assert.equal(
    v('vaquero_agent_dhcp_received_total', server),
    openSent.discovers + openSent.requests + gatedSent.discovers + gatedSent.requests + unknownSent.discovers,
  );
  assert.equal(
    v('vaquero_agent_dhcp_replies_total', { ...server, type: 'offer' }),
    openSent.discovers + gatedSent.discovers,
  );
  assert.equal(
    v('vaquero_agent_dhcp_replies_total', { ...server, type: 'ack' }),
    openSent.requests + gatedSent.requests,
  );
  for (const type of ['nak', 'proxy_offer', 'proxy_ack'])
    assert.equal(v('vaquero_agent_dhcp_replies_total', { ...server, type }), 0, type);
  assert.equal(
    v('vaquero_agent_dhcp_refusals_total', { ...server, reason: 'gate_closed' }),
    gatedSent.discovers + gatedSent.requests,
  );
  assert.equal(v('vaquero_agent_dhcp_refusals_total', { ...server, reason: 'unknown_mac' }), 2);
  for (const reason of ['malformed', 'oversized', 'rate_limited', 'unroutable', 'unsafe_destination'])
    assert.equal(v('vaquero_agent_dhcp_refusals_total', { ...server, reason }), 0, reason);
  assert.equal(v('vaquero_agent_dhcp_errors_total', { ...server, kind: 'send' }), 0);

  // TFTP: one transfer of the whole file, one refusal of a missing file.
  assert.equal(v('vaquero_agent_tftp_transfers_started_total'), 1);
  assert.equal(v('vaquero_agent_tftp_transfers_completed_total'), 1);
  assert.equal(v('vaquero_agent_tftp_transfers_failed_total'), 0);
  assert.equal(v('vaquero_agent_tftp_sent_bytes_total'), FILE_BYTES);
  assert.equal(v('vaquero_agent_tftp_errors_total', { kind: 'not_found' }), 1);
  for (const kind of ['access_denied', 'busy', 'timeout', 'client_error', 'malformed'])
    assert.equal(v('vaquero_agent_tftp_errors_total', { kind }), 0, kind);

  // HTTP: by route pattern and status, never by URL.
  const http = (method: string, route: string, status: number) =>
    v('vaquero_agent_http_requests_total', { method, route, status: String(status) });
  assert.equal(http('GET', '/health', 503), 1);
  assert.equal(http('GET', '/health', 200), 1);
  assert.equal(http('GET', '/config/:mac', 200), 1);
  assert.equal(http('GET', '/config/:mac', 403), 1);
  assert.equal(http('GET', '/ipxe', 404), 1);
  assert.equal(http('GET', 'unmatched', 404), 1);
  assert.ok(![...m.keys()].some((k) => k.includes(MAC.open) || k.includes('/no/such')), 'no URL in a label');
  assert.equal(v('vaquero_agent_http_refusals_total', { route: '/config/:mac', reason: 'not_this_host' }), 1);
  assert.equal(v('vaquero_agent_http_refusals_total', { route: '/ipxe', reason: 'gate_closed' }), 1);

  // Boot events: the open host's DHCP answers, its whole TFTP transfer (not its start), the TFTP refusal of the
  // missing file (a `refused` event: it asked from the open host's address), and config; the gated host's answers
  // are ungated. Temporal is nowhere, so every recorded event waits in the outbox.
  const recorded = openSent.discovers + openSent.requests + 1 + 1 + 1;
  assert.equal(v('vaquero_agent_boot_events_total', { outcome: 'recorded' }), recorded);
  assert.equal(
    v('vaquero_agent_boot_events_total', { outcome: 'ungated' }),
    gatedSent.discovers + gatedSent.requests,
  );
  assert.equal(v('vaquero_agent_boot_events_total', { outcome: 'unresolved' }), 0);
  assert.equal(v('vaquero_agent_boot_events_total', { outcome: 'failed' }), 0);
  assert.equal(v('vaquero_agent_outbox_depth'), recorded);
  assert.equal(v('vaquero_agent_outbox_delivered_total'), 0);
  assert.equal(v('vaquero_agent_outbox_write_failures_total'), 0);
  for (const reason of ['no_workflow', 'overflow', 'at_stop', 'unreadable'])
    assert.equal(v('vaquero_agent_outbox_dropped_total', { reason }), 0, reason);
  assert.ok((v('vaquero_agent_outbox_oldest_undelivered_age_seconds') ?? -1) >= 0);

  // The model it serves from, and its readiness.
  assert.equal(v('vaquero_agent_site_model_info', { site: 'lab', sot: 'lab', revision: 'dir-71' }), 1);
  assert.equal(v('vaquero_agent_open_gates'), 1);
  assert.equal(v('vaquero_agent_boot_service_listening', { service: 'dhcp' }), 1);
  assert.equal(v('vaquero_agent_boot_service_listening', { service: 'tftp' }), 1);
  assert.equal(v('vaquero_agent_ready'), 1);

  // The closed gate's refusal is said once, at info, in that request's line: the host's MAC and the route.
  const refusedLines = agent.logs.filter((l) => l.refused === 'gate_closed');
  assert.equal(refusedLines.length, 1, JSON.stringify(refusedLines));
  assert.equal(refusedLines[0]!.level, 30);
  assert.equal(refusedLines[0]!.mac, MAC.gated);
  assert.equal(refusedLines[0]!.route, '/ipxe');
});

// ---- readiness while a boot service starts, and one registry per agent ---------------------------------------

async function agentFile(dir: string, port: number): Promise<string> {
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: held-agent',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached
      'dhcp: { enabled: false }',
      'tftp: { enabled: false, root: /usr/lib/ipxe }',
      `http: { listen: 127.0.0.1, port: ${port} }`,
      'log_level: warn',
    ].join('\n'),
  );
  // A site model from a previous run, in the model cache.
  await mkdir(path.join(dir, 'data', 'cache'), { recursive: true });
  await writeFile(path.join(dir, 'data', 'cache', 'site-model.json'), JSON.stringify(siteModel));
  return file;
}

function heldService(name: string, start: () => Promise<void>): BootService {
  return { name, start, stop: async () => undefined, stats: () => ({ served: 0 }) };
}

async function getWhenUp(url: string): Promise<Response> {
  for (let i = 0; i < 200; i++) {
    const r = await fetch(url).catch(() => undefined);
    if (r) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} never answered`);
}

test('/health is 503 while a boot service is not listening yet, 200 once it is; a failed start leaves nothing', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-metrics-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const config = await loadAgentConfig(await agentFile(dir, port));
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const starting = startAgent(config, {
    logger: quiet,
    reconcileEveryMs: 3_600_000,
    services: () => [heldService('held', () => held)],
  });
  const base = `http://127.0.0.1:${port}`;
  const before = await getWhenUp(`${base}/health`);
  const body = (await before.json()) as { ready: boolean; reason: string; services: Record<string, unknown> };
  assert.equal(before.status, 503);
  assert.equal(body.ready, false);
  assert.equal(body.reason, 'held is not listening (starting)');
  assert.deepEqual(body.services.held, { served: 0, state: 'starting' });
  const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(m.get(key('vaquero_agent_ready')), 0);
  assert.equal(m.get(key('vaquero_agent_boot_service_listening', { service: 'held' })), 0);

  release();
  const agent = await starting;
  t.after(() => agent.stop());
  const after = await fetch(`${base}/health`);
  assert.equal(after.status, 200);
  assert.equal(((await after.json()) as { ready: boolean }).ready, true);
  const m2 = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(m2.get(key('vaquero_agent_ready')), 1);
  assert.equal(m2.get(key('vaquero_agent_boot_service_listening', { service: 'held' })), 1);

  // A boot service that cannot start: startAgent fails, and the HTTP service it had opened is closed again.
  const dir2 = await mkdtemp(path.join(os.tmpdir(), 'vq-metrics-'));
  t.after(() => rm(dir2, { recursive: true, force: true }));
  const port2 = await freePort();
  await assert.rejects(
    startAgent(await loadAgentConfig(await agentFile(dir2, port2)), {
      logger: quiet,
      services: () => [heldService('broken', () => Promise.reject(new Error('cannot bind')))],
    }),
    /cannot bind/,
  );
  await assert.rejects(fetch(`http://127.0.0.1:${port2}/health`));
});

test('each agent has its own registry; the worker gauge follows workerConnected', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-metrics-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let connected = false;
  const serve = async (name: string, workerConnected?: () => boolean) => {
    const config = agentConfigSchema.parse({
      agent_id: name,
      site: 'lab',
      data_dir: path.join(dir, name),
      dhcp: { enabled: false },
      tftp: { enabled: false },
      http: { listen: '127.0.0.1', port: await freePort() },
    });
    const s = await startBootServing(config, {
      log: quiet,
      deliver: async () => undefined,
      ...(workerConnected ? { workerConnected } : {}),
    });
    t.after(() => s.stop());
    return {
      url: s.httpUrl!,
      scrape: async () => parseMetrics(await (await fetch(`${s.httpUrl!}/metrics`)).text()),
    };
  };
  const a = await serve('agent-a', () => connected);
  const b = await serve('agent-b');
  const unmatched = key('vaquero_agent_http_requests_total', {
    method: 'GET',
    route: 'unmatched',
    status: '404',
  });

  assert.equal((await a.scrape()).get(key('vaquero_agent_worker_connected')), 0);
  connected = true;
  assert.equal((await a.scrape()).get(key('vaquero_agent_worker_connected')), 1);
  assert.equal(
    (await b.scrape()).get(key('vaquero_agent_worker_connected')),
    undefined,
    'not given: left out',
  );

  // Requests to agent b only: agent a's counters do not move.
  assert.equal((await fetch(`${b.url}/nowhere`)).status, 404);
  assert.equal((await fetch(`${b.url}/nowhere/else`)).status, 404);
  assert.equal((await b.scrape()).get(unmatched), 2);
  assert.equal((await a.scrape()).get(unmatched), undefined);
});
