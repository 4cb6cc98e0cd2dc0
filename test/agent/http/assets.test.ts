// /assets/: ranges and ETags, kernel fetches as events, no escape from the root, and the caching proxy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AssetCache } from '../../../agent/http/asset-cache.ts';
import { MAC, setup } from './support/agent-http.ts';

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
  const origin = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/pool`;
  const s = await setup(t, { upstream: origin });
  const first = await s.app.inject({ url: '/assets/initrd.gz' });
  assert.equal(first.statusCode, 200);
  assert.equal(first.rawPayload.length, body.length);
  const second = await s.app.inject({ url: '/assets/initrd.gz', headers: { range: 'bytes=0-9' } });
  assert.equal(second.statusCode, 206);
  assert.equal(second.rawPayload.length, 10);
  assert.equal(hits, 1, 'the second request came from the cache');
  // Kept in the origin's own folder of the cache (asset-cache.ts).
  const originDir = await new AssetCache(path.join(s.dir, 'asset-cache'), 1 << 30).originDir(origin);
  assert.deepEqual(await readFile(path.join(originDir, 'initrd.gz')), body);
  assert.equal((await s.app.inject({ url: '/assets/missing' })).statusCode, 404);
  assert.equal((await s.app.inject({ url: '/assets/..%2f..%2fetc%2fpasswd' })).statusCode, 403);
});
