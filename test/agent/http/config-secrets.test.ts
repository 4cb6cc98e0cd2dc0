// A config's secret references (`{{ "join-token" | secret }}` in its template) are resolved by the agent from its
// own secret store as it serves the config to its host: the host gets the value, the gate (what the workflow sent)
// and the agent's cache hold only the reference; a reference the store lacks is a 503 that names it.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import { secretPlaceholder } from '../../../domain/secret.ts';
import { freePort } from '../../../temporal/ports.ts';

const MAC = '52:54:00:aa:00:09';
const TOKEN = 'K10f00dfeed::server:cafe0123';

test('the served config carries the secret; the gate and the cache only its reference', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-config-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(path.join(dir, 'secrets.yaml'), `join-token: { token: "${TOKEN}" }\n`);
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      `secrets: { file: ${path.join(dir, 'secrets.yaml')} }`,
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${port}, public_url: "${url}" }`,
    ].join('\n'),
  );
  const agent = await startAgent(await loadAgentConfig(file), {
    logger: pino({ level: 'silent' }),
    reconcileEveryMs: 3_600_000,
  });
  t.after(() => agent.stop());
  await agent.cache.setSiteModel({
    sot: 's',
    revision: 'r1',
    site: 'lab',
    httpUrl: url,
    dhcpMode: 'server',
    agents: [{ id: 'a1', httpUrl: url, dhcpMode: 'server' }],
    subnets: [
      { id: 'prov', cidr: '10.20.0.0/16', netmask: '255.255.0.0', dns: [], ntp: [], dhcpOptions: [] },
    ],
    reservations: [{ host: 'h9', mac: MAC, ipv4: '10.20.1.19', subnet: 'prov' }],
  });
  const gate = (text: string) => ({
    site: 'lab',
    host: 'h9',
    mac: MAC,
    sot: 's',
    revision: 'r1',
    fingerprint: 'f',
    bootStage: 1,
    hasConfig: true,
    open: true,
    workflowId: 'host/lab/h9',
    runId: 'run-9',
    subnet: 'prov',
    artifacts: {
      bootStage: 1,
      ipxe: '#!ipxe\nboot\n',
      kernel: `${url}/assets/tiny/linux`,
      initrds: [],
      cmdline: 'console=ttyS0',
      config: { type: 'cloud-config' as const, contentType: 'text/yaml', text },
    },
  });
  const g = gate(`#cloud-config\ntoken: "${secretPlaceholder('join-token')}"\n`);
  await agent.cache.set(g);
  const credential = agent.tokens.bootCredential(g);
  const served = await fetch(`${url}/config/${MAC}?stage=1&boot=${credential}`);
  assert.equal(served.status, 200);
  assert.equal(await served.text(), `#cloud-config\ntoken: "${TOKEN}"\n`);
  const cached = await Promise.all(
    (await readdir(path.join(dir, 'data', 'cache'), { recursive: true }))
      .map((f) => path.join(dir, 'data', 'cache', f))
      .map((f) => readFile(f, 'utf8').catch(() => '')),
  );
  assert.ok(!cached.join('').includes(TOKEN), 'the cache holds no secret');
  assert.ok(cached.join('').includes(secretPlaceholder('join-token')), 'the cache holds the reference');

  const missing = gate(`#cloud-config\ntoken: "${secretPlaceholder('other-token')}"\n`);
  await agent.cache.set(missing);
  const refused = await fetch(`${url}/config/${MAC}?stage=1&boot=${agent.tokens.bootCredential(missing)}`);
  assert.equal(refused.status, 503);
  assert.match(await refused.text(), /secret other-token \(token\) not found/);
});
