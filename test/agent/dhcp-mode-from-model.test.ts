// An agent started before it has a site model serves DHCP in server mode (it knows no host, so it answers none);
// when the model arrives and says this agent is a proxy (another DHCP server owns the segment), its DHCP service
// turns into a proxy at once instead of answering as the segment's server. Its boot URL is read from the model
// at each answer, from this agent's own agents[] entry, not the first agent's.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { dhcpService } from '../../agent/boot-services.ts';
import type { BootEventRecorder } from '../../agent/boot-event-recorder.ts';
import { CheckpointTokens } from '../../agent/checkpoint-token.ts';
import { agentConfigSchema } from '../../agent/config.ts';
import { ModelCache } from '../../agent/model-cache.ts';

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function bound(port: number): Promise<boolean> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  return new Promise((resolve) => {
    s.once('error', () => resolve(true));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

test('the site model switches a running DHCP service to this agent’s own mode', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-dhcpmode-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [port, proxyPort, relayPort] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const config = agentConfigSchema.parse({
    agent_id: 'second',
    site: 'lab',
    data_dir: dir,
    interfaces: [{ name: 'lo', address: '127.0.0.1', cidr: '127.0.0.0/8' }],
    dhcp: { enabled: true, port, proxy_port: proxyPort, relay_port: relayPort },
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
  assert.equal(service.stats().mode, 'server');
  assert.equal(await bound(proxyPort), false, 'no proxy port in server mode');

  await cache.setSiteModel({
    sot: 's',
    revision: 'r1',
    site: 'lab',
    httpUrl: 'http://10.0.0.1:8080',
    dhcpMode: 'server',
    agents: [
      { id: 'first', httpUrl: 'http://10.0.0.1:8080', dhcpMode: 'server' },
      { id: 'second', httpUrl: 'http://10.0.0.2:8080', dhcpMode: 'proxy' },
    ],
    subnets: [],
    reservations: [],
  });
  await service.reconfigure!();
  assert.equal(service.stats().mode, 'proxy', 'its own entry, not the first agent’s');
  assert.equal(await bound(proxyPort), true, 'the proxy (4011-style) port is served');
  // Nothing changes when the model says the same again.
  await service.reconfigure!();
  assert.equal(service.stats().mode, 'proxy');
});
