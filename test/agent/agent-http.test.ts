// The agent's HTTP service through fastify's inject: scripts and configs for open gates only, the per-run
// checkpoint token, events for each fetch, assets with ranges/ETags, refused traversal, and the caching proxy.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { BootEventRecorder } from '../../agent/boot-event-recorder.ts';
import { CheckpointTokens } from '../../agent/checkpoint-token.ts';
import { EventOutbox } from '../../agent/event-outbox.ts';
import { buildAgentHttp } from '../../agent/http/app.ts';
import { ModelCache } from '../../agent/model-cache.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';
import type { BootEvent } from '../../domain/boot-events.ts';

const MAC = '52:54:00:77:01:02';

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  extra: { upstream?: string; logger?: FastifyBaseLogger } = {},
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agent-http-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new ModelCache(path.join(dir, 'cache'));
  await cache.load();
  const sent: { workflowId: string; event: BootEvent }[] = [];
  const outbox = new EventOutbox(path.join(dir, 'outbox'), async (workflowId, event) => {
    sent.push({ workflowId, event });
  });
  await outbox.start();
  t.after(() => outbox.stop());
  const tokens = new CheckpointTokens(Buffer.alloc(32, 7));
  const recorder = new BootEventRecorder('agent-1', cache, outbox);
  const assets = path.join(dir, 'assets');
  await mkdir(path.join(assets, 'debian'), { recursive: true });
  await writeFile(path.join(assets, 'debian', 'linux'), Buffer.from('0123456789abcdef'));
  await writeFile(path.join(dir, 'secret.txt'), 'outside the root');
  await symlink(path.join(dir, 'secret.txt'), path.join(assets, 'escape'));
  const app = await buildAgentHttp({
    agentId: 'agent-1',
    site: 'lab',
    cache,
    tokens,
    recorder,
    outbox,
    ...(extra.upstream
      ? { assetsUpstream: extra.upstream, assetsCache: path.join(dir, 'asset-cache') }
      : { assetsRoot: assets }),
    ...(extra.logger !== undefined ? { logger: extra.logger } : {}),
  });
  t.after(() => app.close());
  const open = (runId = 'run-1', stage = 1) =>
    cache.set({
      site: 'lab',
      host: 'node-02',
      mac: MAC,
      sot: 'lab',
      revision: 'dir-abc',
      fingerprint: 'sha256:x',
      bootStage: stage,
      hasConfig: true,
      open: true,
      workflowId: 'host/lab/node-02',
      runId,
      artifacts: {
        bootStage: stage,
        ipxe: `#!ipxe\nkernel http://10.77.1.1:8080/assets/debian/linux initrd=initrd.gz callback=http://10.77.1.1:8080/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}\nboot\n`,
        kernel: 'http://10.77.1.1:8080/assets/debian/linux',
        initrds: ['http://10.77.1.1:8080/assets/debian/initrd.gz'],
        cmdline: 'quiet',
        config: {
          type: 'cloud-config',
          contentType: 'text/cloud-config',
          text: `#cloud-config\nrun: ${CHECKPOINT_TOKEN_PLACEHOLDER}\n`,
        },
      },
    });
  return { dir, cache, outbox, sent, tokens, recorder, app, open };
}

test('an open gate gets its iPXE script and config with the run token; each fetch is an event', async (t) => {
  const s = await setup(t);
  await s.open();
  // inject's client address is 127.0.0.1: bind it to the host, as the agent's DHCP does when it acknowledges.
  s.recorder.bind('127.0.0.1', MAC);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const script = await s.app.inject({ url: `/ipxe?mac=${MAC.replace(/:/g, '-')}` });
  assert.equal(script.statusCode, 200);
  assert.ok(script.body.includes(`/checkpoint/${token} `) || script.body.includes(`/checkpoint/${token}\n`));
  assert.ok(!script.body.includes(CHECKPOINT_TOKEN_PLACEHOLDER));
  const config = await s.app.inject({ url: `/config/${MAC}?stage=1` });
  assert.equal(config.statusCode, 200);
  assert.equal(config.headers['content-type'], 'text/cloud-config');
  assert.equal(config.body, `#cloud-config\nrun: ${token}\n`);
  assert.equal(
    (await s.app.inject({ url: `/config/${MAC}?stage=2` })).statusCode,
    404,
    'only the current stage',
  );
  const cp = await s.app.inject({ url: `/checkpoint/${token}` });
  assert.equal(cp.statusCode, 200);
  assert.deepEqual(cp.json(), { ok: true, host: 'node-02', stage: 1 });
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => [x.workflowId, x.event.kind, x.event.mac]),
    [
      ['host/lab/node-02', 'ipxe', MAC],
      ['host/lab/node-02', 'config', MAC],
      ['host/lab/node-02', 'checkpoint', MAC],
    ],
  );
  assert.equal(new Set(s.sent.map((x) => x.event.id)).size, 3, 'event ids are unique');
});

test('the checkpoint records the command line the OS reports, with the run token back to its placeholder', async (t) => {
  const s = await setup(t);
  await s.open('run-1', 1);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const booted = `initrd=initrd.gz quiet callback=http://10.77.1.1:8080/checkpoint/${token}`;
  const cp = await s.app.inject({
    url: `/checkpoint/${token}?stage=tiny&cmdline=${encodeURIComponent(booted)}`,
  });
  assert.equal(cp.statusCode, 200);
  const tooLong = await s.app.inject({ url: `/checkpoint/${token}?cmdline=${'x'.repeat(4097)}` });
  assert.equal(tooLong.statusCode, 400, 'the reported command line is bounded');
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => x.event.detail?.replace(/^checkpoint from [^;]*/, '')),
    [
      `; cmdline=initrd=initrd.gz quiet callback=http://10.77.1.1:8080/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}`,
    ],
  );
});

test('a wrong, old-run or old-stage token is refused and records nothing', async (t) => {
  const s = await setup(t);
  await s.open('run-2', 2);
  for (const bad of [
    'x',
    s.tokens.tokenFor('host/lab/node-02', 'run-1', 2),
    s.tokens.tokenFor('host/lab/node-02', 'run-2', 1),
  ]) {
    assert.equal((await s.app.inject({ url: `/checkpoint/${bad}` })).statusCode, 404);
  }
  assert.ok(await s.outbox.drain());
  assert.equal(s.sent.length, 0);
});

test('a closed gate or an unknown MAC gets the give-up script and no event', async (t) => {
  const s = await setup(t);
  s.recorder.bind('127.0.0.1', '52:54:00:00:00:99');
  const unknown = await s.app.inject({ url: '/ipxe?mac=52:54:00:00:00:99' });
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.body, /^#!ipxe\n[\s\S]*exit 1/);
  await s.open();
  s.recorder.bind('127.0.0.1', MAC);
  const { artifacts: _artifacts, ...closedGate } = s.cache.lookup(MAC)!;
  await s.cache.set({ ...closedGate, open: false, bootStage: 0 });
  assert.equal((await s.app.inject({ url: `/ipxe?mac=${MAC}` })).statusCode, 404);
  assert.equal((await s.app.inject({ url: `/config/${MAC}` })).statusCode, 404);
  assert.equal(s.recorder.stats().recorded, 0);
});

test("a late close from an older run does not shut a newer run's gate; the cache survives a restart", async (t) => {
  const s = await setup(t);
  await s.open('run-new');
  await s.cache.set({ ...s.cache.lookup(MAC)!, runId: 'run-old', open: false });
  assert.equal(s.cache.lookup(MAC)?.open, true);
  const again = new ModelCache(path.join(s.dir, 'cache'));
  const loaded = await again.load();
  assert.equal(loaded.gates, 1);
  assert.equal(again.netboot(MAC)?.runId, 'run-new');
  assert.equal(again.netboot(MAC)?.artifacts?.kernel, 'http://10.77.1.1:8080/assets/debian/linux');
});

test('assets: ranges and ETags; kernel fetch by a gated client is an event; no escape from the root', async (t) => {
  const s = await setup(t);
  await s.open();
  // inject's client address is 127.0.0.1: teach the recorder that it is this host, as the DHCP server would.
  s.recorder.bind('127.0.0.1', MAC);
  const full = await s.app.inject({ url: '/assets/debian/linux' });
  assert.equal(full.statusCode, 200);
  assert.equal(full.body, '0123456789abcdef');
  const etag = full.headers.etag as string;
  assert.ok(etag);
  assert.equal(
    (await s.app.inject({ url: '/assets/debian/linux', headers: { 'if-none-match': etag } })).statusCode,
    304,
  );
  const part = await s.app.inject({ url: '/assets/debian/linux', headers: { range: 'bytes=4-7' } });
  assert.equal(part.statusCode, 206);
  assert.equal(part.body, '4567');
  for (const bad of [
    '/assets/../secret.txt',
    '/assets/%2e%2e/secret.txt',
    '/assets/escape',
    '/assets/..%2fsecret.txt',
  ]) {
    const r = await s.app.inject({ url: bad });
    assert.ok(r.statusCode >= 400, `${bad} answered ${r.statusCode}`);
    assert.ok(!r.body.includes('outside the root'), `${bad} leaked the file`);
  }
  assert.ok(await s.outbox.drain());
  assert.ok(s.sent.some((x) => x.event.kind === 'kernel' && x.event.detail === '/assets/debian/linux'));
});

test('a script or config is served only to its own host: bound address, boot credential or reservation', async (t) => {
  const s = await setup(t);
  await s.open('run-1', 1);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const gate = { workflowId: 'host/lab/node-02', runId: 'run-1', bootStage: 1, mac: MAC };
  const credential = s.tokens.bootCredential(gate);
  const from = (remoteAddress: string, url: string) => s.app.inject({ url, remoteAddress });

  // A client that never asked for DHCP names node-02: refused, nothing of the host's leaks, no event.
  for (const url of [`/ipxe?mac=${MAC}`, `/config/${MAC}`, `/config/${MAC}?stage=1`]) {
    const r = await from('10.9.9.9', url);
    assert.equal(r.statusCode, 403, url);
    assert.ok(!r.body.includes(token) && !r.body.includes('kernel'), `${url} leaked: ${r.body}`);
  }
  // An address the DHCP server gave another host is that host, not node-02.
  s.recorder.bind('10.9.9.8', '52:54:00:77:01:99');
  assert.equal((await from('10.9.9.8', `/config/${MAC}`)).statusCode, 403);
  // A credential of another run or stage, or of another MAC, proves nothing.
  for (const bad of [
    s.tokens.bootCredential({ ...gate, runId: 'run-0' }),
    s.tokens.bootCredential({ ...gate, bootStage: 2 }),
    s.tokens.bootCredential({ ...gate, mac: '52:54:00:77:01:99' }),
    token,
  ])
    assert.equal((await from('10.9.9.7', `/ipxe?mac=${MAC}&boot=${bad}`)).statusCode, 403);
  const health = (await s.app.inject({ url: '/health' })).json<{ events: { refused: number } }>();
  assert.equal(health.events.refused, 8);
  assert.ok(await s.outbox.drain());
  assert.equal(s.sent.length, 0, 'refusals are not boot events');

  // The credential the DHCP answer carried: the script, and the address is then the host's for its config.
  const script = await from('10.9.9.7', `/ipxe?mac=${MAC}&boot=${credential}`);
  assert.equal(script.statusCode, 200);
  assert.ok(script.body.includes(`/checkpoint/${token}`));
  assert.equal((await from('10.9.9.7', `/config/${MAC}?stage=1`)).statusCode, 200);
  // The address reserved for the host in the site model (a routed host whose lease another server gave).
  await s.cache.setSiteModel({
    sot: 'lab',
    revision: 'dir-abc',
    site: 'lab',
    httpUrl: 'http://10.77.1.1:8080',
    dhcpMode: 'proxy',
    subnets: [],
    reservations: [{ host: 'node-02', mac: MAC, ipv4: '10.77.1.12', subnet: 'prov' }],
  });
  assert.equal((await from('10.77.1.12', `/config/${MAC}`)).statusCode, 200);
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => x.event.kind),
    ['ipxe', 'config', 'config'],
  );
});

test('the asset proxy streams from the mirror once, then serves its cache', async (t) => {
  let hits = 0;
  const body = Buffer.alloc(300_000, 0x5a);
  const mirror = createServer((req, res) => {
    hits++;
    if (req.url !== '/pool/initrd.gz') {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/octet-stream');
    res.end(body);
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => mirror.close(() => r())));
  const s = await setup(t, { upstream: `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/pool` });
  const first = await s.app.inject({ url: '/assets/initrd.gz' });
  assert.equal(first.statusCode, 200);
  assert.equal(first.rawPayload.length, body.length);
  const second = await s.app.inject({ url: '/assets/initrd.gz', headers: { range: 'bytes=0-9' } });
  assert.equal(second.statusCode, 206);
  assert.equal(second.rawPayload.length, 10);
  assert.equal(hits, 1, 'the second request came from the cache');
  assert.deepEqual(await readFile(path.join(s.dir, 'asset-cache', 'initrd.gz')), body);
  assert.equal((await s.app.inject({ url: '/assets/missing' })).statusCode, 404);
  assert.equal((await s.app.inject({ url: '/assets/..%2f..%2fetc%2fpasswd' })).statusCode, 403);
});

test('UEFI HTTP boot: /boot/ serves iPXE binaries from the boot root, HEAD and GET, and nothing else', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bootroot-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new ModelCache(path.join(dir, 'cache'));
  await cache.load();
  const outbox = new EventOutbox(path.join(dir, 'outbox'), async () => undefined);
  await outbox.start();
  t.after(() => outbox.stop());
  const app = await buildAgentHttp({
    agentId: 'a',
    site: 's',
    cache,
    tokens: new CheckpointTokens(Buffer.alloc(32)),
    recorder: new BootEventRecorder('a', cache, outbox),
    bootRoot: '/usr/lib/ipxe',
  });
  t.after(() => app.close());
  const head = await app.inject({ method: 'HEAD', url: '/boot/ipxe.efi' });
  assert.equal(head.statusCode, 200);
  const size = Number(head.headers['content-length']);
  assert.ok(size > 100_000, `ipxe.efi is ${size} bytes`);
  const get = await app.inject({ url: '/boot/undionly.kpxe' });
  assert.equal(get.statusCode, 200);
  assert.deepEqual(get.rawPayload, await readFile('/usr/lib/ipxe/undionly.kpxe'));
  assert.equal((await app.inject({ url: '/boot/..%2F..%2Fetc%2Fpasswd' })).statusCode, 400);
  assert.equal((await app.inject({ url: '/boot/missing.efi' })).statusCode, 404);
});

test('the request log has one line per request, with what an access log says', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const s = await setup(t, { logger });
  s.recorder.bind('127.0.0.1', MAC);
  await s.app.inject({ url: `/ipxe?mac=${MAC}` });
  await s.app.inject({ url: '/assets/debian/linux', headers: { range: 'bytes=0-3' } });
  const requests = lines.filter((l) => l.msg === 'request');
  assert.equal(lines.length, 2, JSON.stringify(lines));
  assert.deepEqual(
    requests.map((l) => [l.method, l.url, l.status]),
    [
      ['GET', `/ipxe?mac=${MAC}`, 404],
      ['GET', '/assets/debian/linux', 206],
    ],
  );
  assert.ok(requests.every((l) => typeof l.ms === 'number' && typeof l.ip === 'string'));
});
