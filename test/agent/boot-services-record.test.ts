// The boot services fire an event for every packet without waiting on it; if recording it fails, that failure is
// handled where the promise is made (logged), not left as an unhandled rejection that would end the agent. Here
// the agent's TFTP service, on loopback, with a recorder that always refuses.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { BootEventRecorder } from '../../agent/boot-event-recorder.ts';
import { tftpService } from '../../agent/boot-services.ts';
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

test('a TFTP transfer whose events cannot be recorded is still served, and the failure is logged', async (t) => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => void process.off('unhandledRejection', onRejection));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bootsvc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'tftp');
  await mkdir(root);
  await writeFile(path.join(root, 'a.bin'), Buffer.alloc(100, 0x61));
  const port = await freeUdpPort();
  const config = agentConfigSchema.parse({
    agent_id: 'a1',
    site: 'lab',
    data_dir: dir,
    dhcp: { enabled: false },
    tftp: { enabled: true, root, port },
  });
  const lines: { msg: string; service?: string; err?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as never) });
  const attempts: string[] = [];
  const recorder = {
    bind: () => undefined,
    record: (o: { kind: string; detail?: string }) => {
      attempts.push(o.detail ?? o.kind);
      return Promise.reject(new Error('EIO: i/o error, write'));
    },
  } as unknown as BootEventRecorder;
  const service = tftpService({
    config,
    log,
    cache: new ModelCache(path.join(dir, 'cache')),
    recorder,
    tokens: new CheckpointTokens(Buffer.alloc(32, 1)),
  });
  await service.start();
  t.after(() => service.stop());

  // One RRQ for a 100-byte file: one DATA block, acknowledged.
  const sock = dgram.createSocket('udp4');
  t.after(() => new Promise<void>((r) => sock.close(() => r())));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const data = new Promise<{ msg: Buffer; port: number }>((resolve) =>
    sock.once('message', (msg, rinfo) => resolve({ msg, port: rinfo.port })),
  );
  sock.send(Buffer.from('\0\x01a.bin\0octet\0', 'latin1'), port, '127.0.0.1');
  const reply = await data;
  assert.equal(reply.msg.readUInt16BE(0), 3, 'DATA');
  assert.equal(reply.msg.length, 4 + 100);
  sock.send(Buffer.from([0, 4, 0, 1]), reply.port, '127.0.0.1');

  for (let i = 0; i < 100 && attempts.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  // Only the whole transfer is a boot event; its start is not.
  assert.deepEqual(attempts, ['TFTP a.bin sent (100 bytes)']);
  assert.deepEqual(rejections, [], 'no rejection escaped');
  const logged = lines.filter((l) => l.msg === 'boot event not recorded');
  assert.equal(logged.length, 1, JSON.stringify(lines));
  assert.deepEqual(
    logged.map((l) => [l.service, l.err]),
    [['tftp', 'EIO: i/o error, write']],
  );
});
