// /boot/: the iPXE binaries for UEFI HTTP boot, from the boot root only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BootEventRecorder } from '../../../agent/boot-event-recorder.ts';
import { CheckpointTokens } from '../../../agent/checkpoint-token.ts';
import { EventOutbox } from '../../../agent/event-outbox.ts';
import { buildAgentHttp } from '../../../agent/http/app.ts';
import { ModelCache } from '../../../agent/model-cache.ts';

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
