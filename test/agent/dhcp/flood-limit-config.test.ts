// The agent's DHCP flood limits come from its config file (`dhcp.max_packets_per_second`,
// `dhcp.max_packets_per_client_per_second`) through the service `vaquero agent` builds (dhcpService), on
// loopback: a per-client limit below the default refuses what the default would admit, and one above it admits
// what the default would refuse. (They were once parsed and never passed on: the server kept its defaults, and
// the DHCP benchmark, which lifts both to 1,000,000/s, saw packets refused at the default 20 per client.)
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { dhcpService } from '../../../agent/boot-services.ts';
import type { BootEventRecorder } from '../../../agent/boot-event-recorder.ts';
import { CheckpointTokens } from '../../../agent/checkpoint-token.ts';
import { agentConfigSchema } from '../../../agent/config.ts';
import { serializeDhcp } from '../../../agent/dhcp/codec.ts';
import { DEFAULT_LIMITS } from '../../../agent/dhcp/server.ts';
import { MessageType } from '../../../agent/dhcp/options.ts';
import { ModelCache } from '../../../agent/model-cache.ts';
import { request } from './support/fixtures.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A DHCP service on loopback built from an agent config with these `dhcp` settings. */
async function serviceWith(t: test.TestContext, dhcp: Record<string, number>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-floodcfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [port, proxyPort, relayPort] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const config = agentConfigSchema.parse({
    agent_id: 'a',
    site: 'lab',
    data_dir: dir,
    interfaces: [{ name: 'lo', address: '127.0.0.1', cidr: '127.0.0.0/8' }],
    dhcp: { enabled: true, mode: 'server', port, proxy_port: proxyPort, relay_port: relayPort, ...dhcp },
    tftp: { enabled: false },
  });
  const cache = new ModelCache(path.join(dir, 'cache'));
  await cache.load();
  const service = dhcpService({
    config,
    log: pino({ level: 'silent' }),
    cache,
    recorder: { bind: () => undefined, record: async () => undefined } as unknown as BootEventRecorder,
    tokens: new CheckpointTokens(Buffer.alloc(32, 1)),
  })!;
  await service.start();
  t.after(() => service.stop());
  return { service, port };
}

/** `count` DISCOVERs from one MAC, paced so the socket buffer keeps them all; returns the service's counters. */
async function discoverFromOneMac(
  t: test.TestContext,
  s: Awaited<ReturnType<typeof serviceWith>>,
  count: number,
): Promise<Record<string, unknown>> {
  const sock = dgram.createSocket('udp4');
  t.after(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  for (let i = 0; i < count; i++) {
    const msg = serializeDhcp(
      request({ type: MessageType.Discover, mac: '02:42:00:00:00:01', xid: i + 1, vendorClass: 'PXEClient' }),
    );
    await new Promise<void>((resolve, reject) =>
      sock.send(msg, s.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    );
  }
  const deadline = Date.now() + 5000;
  while ((s.service.stats().received as number) < count && Date.now() < deadline) await sleep(20);
  return s.service.stats();
}

test('a per-client flood limit above the default, set in the config, is the one the server applies', async (t) => {
  const count = DEFAULT_LIMITS.maxPerClientPerSecond + 10;
  const s = await serviceWith(t, {
    max_packets_per_second: 1_000_000,
    max_packets_per_client_per_second: 1_000_000,
  });
  const stats = await discoverFromOneMac(t, s, count);
  assert.equal(stats.received, count);
  // Unknown MAC (no site model): every admitted packet is counted as such, none refused.
  assert.equal(stats.rateLimited, 0, JSON.stringify(stats));
  assert.equal(stats.unknownMacs, count);
});

test('a per-client flood limit below the default, set in the config, refuses the rest', async (t) => {
  const s = await serviceWith(t, { max_packets_per_client_per_second: 3 });
  const stats = await discoverFromOneMac(t, s, 10);
  assert.equal(stats.received, 10);
  assert.equal(stats.rateLimited, 7, JSON.stringify(stats));
});

test('a total flood limit set in the config is the one the server applies', async (t) => {
  // One second's budget is the burst allowance: 4 packets at once, then 4 a second.
  const s = await serviceWith(t, { max_packets_per_second: 4, max_packets_per_client_per_second: 1000 });
  const t0 = Date.now();
  const stats = await discoverFromOneMac(t, s, 10);
  const admittedAtMost = 4 + Math.ceil(((Date.now() - t0) * 4) / 1000);
  assert.equal(stats.received, 10);
  assert.ok((stats.rateLimited as number) >= 10 - admittedAtMost, JSON.stringify(stats));
  assert.ok((stats.rateLimited as number) <= 6, JSON.stringify(stats));
});
