// Assets served from memory (agent/http/asset-memory.ts): the same bytes and headers as the disk path, ranges and
// conditional requests still answered, a kernel fetch still one event per whole GET, a changed file read again,
// and nothing from outside the root ever held.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AssetMemory } from '../../../agent/http/asset-memory.ts';
import { MAC, setup } from './support/agent-http.ts';

/** Lets a background load finish: a bounded number of event-loop turns, no timing. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 2));
}

const HEADERS = ['content-type', 'etag', 'last-modified', 'cache-control', 'accept-ranges', 'content-length'];

test('whole-file GETs from memory answer as the disk path does; ranges, conditionals and events unchanged', async (t) => {
  const s = await setup(t);
  await s.open();
  s.recorder.bind('127.0.0.1', MAC);
  const url = '/assets/debian/linux';
  const first = await s.app.inject({ url });
  await settle();
  const second = await s.app.inject({ url });
  const third = await s.app.inject({ url });
  for (const r of [first, second, third]) {
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, '0123456789abcdef');
  }
  for (const h of HEADERS) {
    assert.equal(second.headers[h], first.headers[h], h);
    assert.equal(third.headers[h], first.headers[h], h);
  }
  const etag = first.headers.etag as string;
  assert.equal((await s.app.inject({ url, headers: { 'if-none-match': etag } })).statusCode, 304);
  const part = await s.app.inject({ url, headers: { range: 'bytes=4-7' } });
  assert.equal(part.statusCode, 206);
  assert.equal(part.body, '4567');
  const head = await s.app.inject({ method: 'HEAD', url });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-length'], first.headers['content-length']);
  // A changed file is read again.
  await writeFile(path.join(s.dir, 'assets', 'debian', 'linux'), 'a new kernel, longer');
  const changed = await s.app.inject({ url });
  assert.equal(changed.body, 'a new kernel, longer');
  assert.notEqual(changed.headers.etag, etag);
  await settle();
  assert.equal((await s.app.inject({ url })).body, 'a new kernel, longer');
  // Every whole GET is a kernel event, from disk or from memory (5), and the 206 as before; the 304 and HEAD are not.
  assert.ok(await s.outbox.drain());
  const kernels = s.sent.filter((x) => x.event.kind === 'kernel' && x.event.detail === url);
  assert.equal(kernels.length, 6);
  // Symlinks out of the root are still refused once others are held.
  const escape = await s.app.inject({ url: '/assets/escape' });
  assert.ok(escape.statusCode >= 400);
  assert.ok(!escape.body.includes('outside the root'));
});

test('AssetMemory holds only the file it was asked about, from inside the root, while it is unchanged', async (t) => {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'vq-asset-memory-')));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  await mkdir(root);
  await writeFile(path.join(dir, 'secret'), 'outside the root');
  const file = path.join(root, 'initrd.gz');
  await writeFile(file, 'initrd bytes');
  const c = { root, trusted: [] };
  const m = new AssetMemory({ maxFileBytes: 1024, maxTotalBytes: 4096 });
  const headers = { 'content-type': 'application/gzip', etag: 'W/"x"', 'x-other': 'dropped' };

  const st = await stat(file);
  m.remember(c, file, st, headers);
  await settle();
  assert.deepEqual(m.get(file, st), {
    data: Buffer.from('initrd bytes'),
    headers: { 'content-type': 'application/gzip', etag: 'W/"x"' },
  });
  await writeFile(file, 'other bytes!');
  assert.equal(m.get(file, await stat(file)), undefined, 'a changed file is not served from memory');

  // Swapped for a symlink out of the root between the route's checks and the load: never held.
  const st2 = await stat(file);
  await unlink(file);
  await symlink(path.join(dir, 'secret'), file);
  m.remember(c, file, st2, headers);
  await settle();
  assert.equal(m.get(file, st2), undefined);
  assert.equal(m.get(file, await stat(file)), undefined);

  // A file too big for memory is left to the disk path.
  const big = path.join(root, 'big');
  await writeFile(big, Buffer.alloc(2048));
  const stBig = await stat(big);
  m.remember(c, big, stBig, headers);
  await settle();
  assert.equal(m.get(big, stBig), undefined);

  assert.equal(AssetMemory.wholeFileGet('GET', {}), true);
  assert.equal(AssetMemory.wholeFileGet('HEAD', {}), false);
  assert.equal(AssetMemory.wholeFileGet('GET', { range: 'bytes=0-1' }), false);
  assert.equal(AssetMemory.wholeFileGet('GET', { 'if-none-match': 'W/"x"' }), false);
});
