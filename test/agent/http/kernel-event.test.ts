// A kernel fetch is a boot event once the whole file has gone out. A download cut short (the agent serving it is
// killed, the host resets) is not a kernel the host has: no event, so the host's netboot/kernel step times out
// and is retried (through another agent of the site) instead of the host waiting for an installer that never runs.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import { freePort } from '../../../temporal/ports.ts';

const MAC = '52:54:00:aa:00:09';

async function queuedKinds(outbox: string): Promise<string[]> {
  const files = await readdir(outbox).catch(() => [] as string[]);
  const text = (await Promise.all(files.map((f) => readFile(path.join(outbox, f), 'utf8')))).join('');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event?: { kind: string } }).event?.kind ?? '?');
}

test('a kernel download cut short is no boot event; a whole one is one', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-kernel-event-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const assets = path.join(dir, 'assets');
  await mkdir(path.join(assets, 'tiny'), { recursive: true });
  await writeFile(path.join(assets, 'tiny', 'linux'), '');
  await truncate(path.join(assets, 'tiny', 'linux'), 64 << 20);
  const port = await freePort();
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${port} }`,
      `assets: { root: ${assets} }`,
    ].join('\n'),
  );
  const agent = await startAgent(await loadAgentConfig(file), {
    logger: pino({ level: 'silent' }),
    reconcileEveryMs: 3_600_000,
  });
  t.after(() => agent.stop());
  // The host is reserved at 127.0.0.1, so the agent knows a request from there is its.
  await agent.cache.setSiteModel({
    sot: 's',
    revision: 'r1',
    site: 'lab',
    httpUrl: `http://127.0.0.1:${port}`,
    dhcpMode: 'server',
    subnets: [{ id: 'lo', cidr: '127.0.0.0/8', netmask: '255.0.0.0', dns: [], ntp: [], dhcpOptions: [] }],
    reservations: [{ host: 'h9', mac: MAC, ipv4: '127.0.0.1', subnet: 'lo' }],
  });
  await agent.cache.set({
    site: 'lab',
    host: 'h9',
    mac: MAC,
    sot: 's',
    revision: 'r1',
    fingerprint: 'f',
    bootStage: 1,
    hasConfig: false,
    open: true,
    workflowId: 'host/lab/h9',
    runId: 'run-9',
    subnet: 'lo',
    artifacts: {
      bootStage: 1,
      ipxe: '#!ipxe\n',
      kernel: `http://127.0.0.1:${port}/assets/tiny/linux`,
      initrds: [],
      cmdline: '',
    },
  });
  const outbox = path.join(dir, 'data', 'outbox');

  // Cut short: read the first bytes, then reset the connection.
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET /assets/tiny/linux HTTP/1.1\r\nHost: x\r\n\r\n`));
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 256 << 10) {
        s.resetAndDestroy();
        resolve();
      }
    });
    s.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await queuedKinds(outbox), [], 'no kernel event for a download cut short');

  // Whole.
  const r = await fetch(`http://127.0.0.1:${port}/assets/tiny/linux`);
  assert.equal((await r.arrayBuffer()).byteLength, 64 << 20);
  let kinds: string[] = [];
  for (let i = 0; i < 100 && kinds.length === 0; i++) {
    kinds = await queuedKinds(outbox);
    if (kinds.length === 0) await new Promise((res) => setTimeout(res, 20));
  }
  assert.deepEqual(kinds, ['kernel']);
});
