// `vaquero agent --check` reads the settings of this agent's SoT entry from the site model in its cache: a CDN that
// does not answer and a tftp_root folder that is not there are problems (exit 2), each named; good ones are reported
// as what would run, and the boot file check looks in the tftp_root folder. And an entry's `subnets` is applied: the
// agent knows only the hosts of its own subnets (DHCP's view of the model).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cacheDirectory } from '../../agent/boot-services.ts';
import { ModelCache } from '../../agent/model-cache.ts';
import type { SiteAgent, SiteModel } from '../../domain/site-model.ts';
import { freePort } from '../../temporal/ports.ts';
import { agentCheck } from './support/agent-check.ts';

function model(agents: SiteAgent[]): SiteModel {
  return {
    sot: 's',
    revision: 'r1',
    site: 'lab',
    httpUrl: agents[0]!.httpUrl,
    dhcpMode: 'server',
    agents,
    subnets: ['n1', 'n2'].map((id, i) => ({
      id,
      cidr: `10.7.${i}.0/24`,
      netmask: '255.255.255.0',
      dns: [],
      ntp: [],
      dhcpOptions: [],
    })),
    reservations: [
      { host: 'h1', mac: '52:54:00:07:00:01', ipv4: '10.7.0.10', subnet: 'n1' },
      { host: 'h2', mac: '52:54:00:07:01:01', ipv4: '10.7.1.10', subnet: 'n2' },
    ],
  };
}

async function agentWith(
  t: { after(fn: () => Promise<void>): void },
  own: Omit<SiteAgent, 'id' | 'httpUrl' | 'dhcpMode'>,
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-sot-check-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'tftp');
  await mkdir(path.join(root, 'rack-a'), { recursive: true });
  await writeFile(path.join(root, 'rack-a', 'undionly.kpxe'), 'pxe');
  await writeFile(path.join(root, 'rack-a', 'ipxe.efi'), 'efi');
  await mkdir(path.join(dir, 'data', 'cache'), { recursive: true });
  await writeFile(
    path.join(dir, 'data', 'cache', 'site-model.json'),
    JSON.stringify(model([{ id: 'a1', httpUrl: 'http://10.7.0.1:8080', dhcpMode: 'server', ...own }])),
  );
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      'dhcp: { enabled: true }',
      `tftp: { enabled: true, root: ${root}, port: ${await freePort()} }`,
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
    ].join('\n'),
  );
  return file;
}

const check = agentCheck;

test('agent --check: a CDN that does not answer and a missing tftp_root folder are problems', async (t) => {
  const deadPort = await freePort(); // nothing listens there
  const file = await agentWith(t, { cdnUrl: `http://127.0.0.1:${deadPort}/pub`, tftpRoot: 'rack-b' });
  const r = await check(file);
  assert.equal(r.code, 2, r.out);
  assert.match(
    r.out,
    new RegExp(
      `problem: assets CDN http://127\\.0\\.0\\.1:${deadPort}/pub \\(SoT cdn_url\\) unreachable: ECONNREFUSED`,
    ),
  );
  assert.match(r.out, /problem: SoT tftp_root "rack-b": .*\/tftp\/rack-b: no such folder/);
  // The boot files are looked for in that folder too.
  assert.match(
    r.out,
    /problem: boot file missing: boot_files\.bios: undionly\.kpxe in .*\/tftp\/rack-b: file not found/,
  );
});

test('agent --check: a CDN that answers and a tftp_root folder with the boot files are fine', async (t) => {
  // Any answer will do: a CDN's / is often 403 or 404.
  const cdn = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => cdn.close(() => r())));
  const url = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
  const file = await agentWith(t, { cdnUrl: url, tftpRoot: 'rack-a' });
  const r = await check(file);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`assets CDN: ${url.replace(/\./g, '\\.')} \\(SoT cdn_url\\), cached in `));
  assert.match(r.out, /TFTP folder: rack-a in .*\/tftp \(SoT tftp_root\)/);
  assert.match(r.out, /configuration OK/);
});

test('an agent knows only the hosts of the subnets its SoT entry lists', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-own-subnets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new ModelCache(dir);
  await cache.load();
  await cache.setSiteModel(
    model([
      { id: 'a1', httpUrl: 'http://10.7.0.1:8080', dhcpMode: 'server', subnets: ['n1'] },
      { id: 'a2', httpUrl: 'http://10.7.1.1:8080', dhcpMode: 'server', subnets: ['n2'] },
      { id: 'a3', httpUrl: 'http://10.7.1.2:8080', dhcpMode: 'server' },
    ]),
  );
  const known = (agent: string) =>
    ['52:54:00:07:00:01', '52:54:00:07:01:01'].map(
      (mac) => cacheDirectory(cache, agent).lookup(mac)?.reservation.host,
    );
  assert.deepEqual(known('a1'), ['h1', undefined]);
  assert.deepEqual(known('a2'), [undefined, 'h2']);
  assert.deepEqual(known('a3'), ['h1', 'h2'], 'no list: every subnet of the site');
});
