// What a hostile client of the agent's HTTP service tries, sent as raw bytes to the real listener of an agent started
// from a config file through startAgent (what `vaquero agent` runs): fragments, odd encodings and dot segments
// around symlinks that point out of the assets root, and another host's config and script.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import type { RunningAgent } from '../../../agent/agent.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../sot/render.ts';
import { freePort } from '../../../temporal/ports.ts';

const SECRET = 'outside the assets root';
const MAC = '52:54:00:66:00:01';

/** One request exactly as written (no URL normalisation by a client library); the whole answer as text. */
function raw(port: number, method: string, target: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    sock.write(`${method} ${target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`, 'latin1');
    sock.setTimeout(10_000, () => sock.destroy(new Error(`${method} ${target}: no answer`)));
  });
}

async function startHostileAgent(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const assets = path.join(dir, 'assets');
  const outside = path.join(dir, 'outside');
  await mkdir(path.join(assets, 'debian'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(assets, 'debian', 'linux'), 'kernel bytes');
  await writeFile(path.join(outside, 'FILE'), SECRET);
  await writeFile(path.join(outside, 'FILE.png'), SECRET);
  await symlink(path.join(outside, 'FILE'), path.join(assets, 'esc'));
  await symlink(outside, path.join(assets, 'escdir'));
  await symlink(path.join(outside, 'FILE'), path.join(assets, 'debian', 'esc2'));
  await writeFile(path.join(assets, '.hidden'), SECRET);
  const port = await freePort();
  const file = path.join(dir, 'agent.yml');
  // Temporal is nowhere (port 1): the boot services serve without it, as they must.
  await writeFile(
    file,
    [
      'agent_id: hostile-agent',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached
      'dhcp: { enabled: false }',
      'tftp: { enabled: false, root: /usr/lib/ipxe }',
      `http: { listen: 127.0.0.1, port: ${port} }`,
      `assets: { root: ${assets} }`,
      'log_level: warn',
    ].join('\n'),
  );
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const agent: RunningAgent = await startAgent(await loadAgentConfig(file), {
    logger,
    reconcileEveryMs: 3_600_000,
  });
  t.after(() => agent.stop());
  return { agent, port, lines };
}

test('no asset request leaves the root: fragments, encodings and dot segments around outward symlinks', async (t) => {
  const { port } = await startHostileAgent(t);
  assert.equal((await raw(port, 'GET', '/assets/debian/linux')).status, 200);
  const targets = [
    // The seven variants the hostile test found leaking, then their neighbours.
    '/assets/esc#x',
    '/assets/esc#',
    '/assets/escdir/FILE#',
    '/assets/debian/esc2#a',
    '/assets/esc#/../../x',
    '/assets/escdir/FILE#.png',
    '/assets/escdir/FILE.png',
    '/assets/esc',
    '/assets/esc?x=1',
    '/assets/esc?#',
    '/assets/esc;x',
    '/assets/%65sc',
    '/assets/esc%23x',
    '/assets/escdir%2FFILE',
    '/assets/escdir%5CFILE',
    '/assets/./esc',
    '/assets/debian/../esc',
    '/assets/debian/%2e%2e/esc',
    '/assets/..%2foutside%2fFILE',
    '/assets/%2e%2e/outside/FILE',
    '/assets/esc%00',
    '/assets//esc',
    '/assets/.hidden',
    '/assets/.hidden#',
    '/assets/debian/./esc2',
  ];
  for (const method of ['GET', 'HEAD']) {
    for (const target of targets) {
      const r = await raw(port, method, target);
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${target} answered ${r.status}`);
      assert.ok(!r.text.includes(SECRET), `${method} ${target} leaked the file`);
      // HEAD has no body: a length of the secret's size would say it was found.
      assert.ok(!new RegExp(`content-length: ${SECRET.length}\\r`, 'i').test(r.text), `${method} ${target}`);
    }
  }
});

test("another machine's request for a host's config or script is refused and logged, and moves nothing", async (t) => {
  const { agent, port, lines } = await startHostileAgent(t);
  await agent.cache.set({
    site: 'lab',
    host: 'node-01',
    mac: MAC,
    sot: 'lab',
    revision: 'dir-1',
    fingerprint: 'sha256:x',
    bootStage: 1,
    hasConfig: true,
    open: true,
    workflowId: 'host/lab/node-01',
    runId: 'run-1',
    artifacts: {
      bootStage: 1,
      ipxe: `#!ipxe\nkernel http://a/assets/debian/linux cb=${CHECKPOINT_TOKEN_PLACEHOLDER}\nboot\n`,
      kernel: 'http://a/assets/debian/linux',
      initrds: [],
      cmdline: '',
      config: {
        type: 'cloud-config',
        contentType: 'text/cloud-config',
        text: `token: ${CHECKPOINT_TOKEN_PLACEHOLDER}`,
      },
    },
  });
  const token = agent.tokens.tokenFor('host/lab/node-01', 'run-1', 1);
  for (const target of [
    `/config/${MAC}`,
    `/config/${MAC}?stage=1`,
    `/config/${MAC.replace(/:/g, '-').toUpperCase()}`,
    `/ipxe?mac=${MAC}`,
    `/ipxe?mac=${MAC}&boot=`,
    `/ipxe?mac=${MAC}&boot=${token}`,
  ]) {
    const r = await raw(port, 'GET', target);
    assert.equal(r.status, 403, `${target}: ${r.text}`);
    assert.ok(!r.text.includes(token), `${target} leaked the checkpoint token`);
  }
  // Not a MAC at all (the fragment stays in the query): the address's own host, which is none.
  assert.equal((await raw(port, 'GET', `/ipxe?mac=${MAC}#x`)).status, 404);
  assert.equal(
    (await raw(port, 'GET', `/checkpoint/${token}`)).status,
    200,
    'the token itself still works for the host that has it',
  );
  const refused = lines.filter((l) => l.msg === 'refused: not this host');
  assert.equal(refused.length, 6);
  assert.deepEqual(refused[0], { ...refused[0], ip: '127.0.0.1', named: MAC });
  assert.equal(agent.recorder.stats().recorded, 1, 'only the checkpoint became an event');
  // The boot credential the agent's DHCP hands to the host's iPXE gets the script, and then its config.
  const credential = agent.tokens.bootCredential({
    workflowId: 'host/lab/node-01',
    runId: 'run-1',
    bootStage: 1,
    mac: MAC,
  });
  const script = await raw(port, 'GET', `/ipxe?mac=${MAC}&boot=${credential}`);
  assert.equal(script.status, 200);
  assert.ok(script.text.includes(`cb=${token}`));
  assert.equal((await raw(port, 'GET', `/config/${MAC}`)).status, 200);
});
