// Each agent applies its own SoT agents[] entry: `cdn_url` makes its /assets/ a caching reverse proxy to that CDN,
// `tftp_root` makes its TFTP service serve that sub-folder of its tftp.root. Two agents of one site, started through
// the product's entry (startAgent(loadAgentConfig(file)), Temporal unreachable: boot services never wait for it),
// serve from the site model the SoT's env.yml gives (built by the control plane's buildSiteModel, in each agent's
// model cache as a published one would be). The CDNs are real servers on loopback: nginx for the first agent, a
// plain node server for the second.
//
// What must hold: the first fetch goes to the origin and later ones (whole, range, HEAD) come from the cache; with the
// origin stopped the cached file is still served; hostile paths are refused and never reach the origin; an origin
// failure is a 502 recorded as a refusal on the asking host's run; the cache keeps under its bound by dropping the
// least recently used file; /metrics counts hits and misses; a real TFTP client gets each agent's own folder.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { buildSiteModel } from '../../activities/control/site-model.ts';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { loadSot } from '../../sot/load.ts';
import { validateSot } from '../../sot/validate.ts';
import { freePort } from '../../temporal/ports.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import { openGate } from './support/open-gate.ts';
import { startNginxOrigin } from './support/nginx-origin.ts';
import type { NginxOrigin } from './support/nginx-origin.ts';

const run = promisify(execFile);
const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const MAC = '52:54:00:00:01:01';
const KIB = 1024;

/** Distinct bytes per file, so a file served from the wrong place shows. */
function bytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** One request exactly as written (no URL normalisation by a client library). */
function raw(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () =>
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? 0)),
    );
    sock.write(`GET ${target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`, 'latin1');
    sock.setTimeout(10_000, () => sock.destroy(new Error(`GET ${target}: no answer`)));
  });
}

/** A counter of /metrics, by its full series name (`name{labels}`); 0 when absent. */
async function metric(agent: RunningAgent, series: string): Promise<number> {
  const text = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

let dir: string;
let nginx: NginxOrigin;
let nodeOrigin: ReturnType<typeof createServer>;
const nodeHits = new Map<string, number>();
const files = {
  kernel: bytes(300 * KIB, 1),
  initrd: bytes(200 * KIB, 2),
  b: { x1: bytes(400 * KIB, 3), x2: bytes(400 * KIB, 4), x3: bytes(400 * KIB, 5) },
};
let a: RunningAgent;
let b: RunningAgent;
const tftpPorts = { a: 0, b: 0 };

async function agentFile(
  id: string,
  tftpRoot: string,
  tftpPort: number,
  extra: string[] = [],
): Promise<string> {
  const file = path.join(dir, `${id}.yml`);
  await writeFile(
    file,
    [
      `agent_id: ${id}`,
      'site: alpha',
      `data_dir: ${path.join(dir, id)}`,
      'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached
      'dhcp: { enabled: false }',
      `tftp: { enabled: true, root: ${tftpRoot}, port: ${tftpPort} }`,
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
      'syslog: { enabled: false }',
      'log_level: warn',
      ...extra,
    ].join('\n'),
  );
  return file;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-sot-agent-'));
  await chmod(dir, 0o755);
  // The first CDN: nginx serving www/mirror/debian/{linux,initrd.gz}.
  const www = path.join(dir, 'www');
  await mkdir(path.join(www, 'mirror', 'debian'), { recursive: true });
  await writeFile(path.join(www, 'mirror', 'debian', 'linux'), files.kernel);
  await writeFile(path.join(www, 'mirror', 'debian', 'initrd.gz'), files.initrd);
  await mkdir(path.join(dir, 'nginx'));
  nginx = await startNginxOrigin(path.join(dir, 'nginx'), www);
  // The second CDN: a node server with three 400 KiB files (and its own bytes for debian/linux).
  nodeOrigin = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\/cdn\//, '');
    nodeHits.set(name, (nodeHits.get(name) ?? 0) + 1);
    if (name === 'silent') return; // never answers
    if (name === 'stalls') {
      // Promises 400 KiB, sends 100 KiB, then nothing.
      res.setHeader('content-length', 400 * KIB);
      res.write(Buffer.alloc(100 * KIB, 7));
      return;
    }
    const body = name === 'debian/linux' ? files.initrd : files.b[name as keyof typeof files.b];
    if (!body) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  await new Promise<void>((r) => nodeOrigin.listen(0, '127.0.0.1', r));
  const nodeUrl = `http://127.0.0.1:${(nodeOrigin.address() as AddressInfo).port}/cdn`;

  // One TFTP root for both agents, each with its own sub-folder (and a file only at the top).
  const tftp = path.join(dir, 'tftp');
  for (const [sub, text] of [
    ['', 'top'],
    ['rack-a', 'rack A loader'],
    ['rack-b', 'rack B loader'],
  ] as const) {
    await mkdir(path.join(tftp, sub), { recursive: true });
    await writeFile(path.join(tftp, sub, 'undionly.kpxe'), text);
  }
  await writeFile(path.join(tftp, 'only-at-top.bin'), 'top only');

  // The SoT: site alpha with two agents, each with its own CDN and TFTP folder.
  const sot = await copyWithEdits(BASE, [
    {
      file: 'sites/alpha/env.yml',
      replace: '    dhcp_mode: server\n',
      with: `    dhcp_mode: server
    cdn_url: ${nginx.url}/mirror
    tftp_root: rack-a
  - id: alpha-agent-2
    http_url: http://10.1.0.2:8080
    dhcp_mode: server
    cdn_url: ${nodeUrl}
    tftp_root: rack-b
`,
    },
  ]);
  assert.deepEqual((await validateSot(sot)).diagnostics.map(formatDiagnostic), []);
  const site = buildSiteModel((await loadSot(sot)).model, 'sot', 'r1', 'alpha');
  for (const id of ['alpha-agent', 'alpha-agent-2']) {
    await mkdir(path.join(dir, id, 'cache'), { recursive: true });
    await writeFile(path.join(dir, id, 'cache', 'site-model.json'), JSON.stringify(site));
  }
  tftpPorts.a = await freePort();
  tftpPorts.b = await freePort();
  const quiet = { logger: pino({ level: 'silent' }) };
  a = await startAgent(await loadAgentConfig(await agentFile('alpha-agent', tftp, tftpPorts.a)), quiet);
  // The second agent's cache holds at most 1 MiB: two of its 400 KiB files, not three.
  b = await startAgent(
    await loadAgentConfig(
      await agentFile('alpha-agent-2', tftp, tftpPorts.b, [
        'assets: { cache_max_bytes: 1048576, origin_timeout_s: 1 }',
      ]),
    ),
    quiet,
  );
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await nginx?.stop();
  nodeOrigin?.closeAllConnections();
  await new Promise<void>((r) => (nodeOrigin ? nodeOrigin.close(() => r()) : r()));
  await rm(dir, { recursive: true, force: true });
});

/** nginx logs a request as it ends, which may be just after the client has its answer. */
async function nginxCount(uri: string, atLeast: number): Promise<number> {
  for (let i = 0; i < 100 && (await nginx.requests(uri)) < atLeast; i++) await delay(20);
  return nginx.requests(uri);
}

async function get(agent: RunningAgent, p: string, init: RequestInit = {}) {
  const res = await fetch(`${agent.httpUrl}${p}`, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

describe('each agent applies its own SoT entry', { concurrency: false }, () => {
  test('the first fetch goes to the CDN, later ones (whole, range, HEAD) come from the cache', async () => {
    const first = await get(a, '/assets/debian/linux');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, files.kernel);
    assert.equal(await nginxCount('/mirror/debian/linux', 1), 1);

    const again = await get(a, '/assets/debian/linux');
    assert.deepEqual(again.body, files.kernel);
    const part = await get(a, '/assets/debian/linux', { headers: { range: 'bytes=1000-1099' } });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, files.kernel.subarray(1000, 1100));
    assert.equal(part.headers.get('content-range'), `bytes 1000-1099/${files.kernel.length}`);
    const head = await get(a, '/assets/debian/linux', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(files.kernel.length));
    assert.equal(head.body.length, 0);
    assert.equal(await nginxCount('/mirror/debian/linux', 1), 1, 'the origin saw one request');

    assert.equal(await metric(a, 'vaquero_agent_asset_cache_requests_total{result="miss"}'), 1);
    assert.equal(await metric(a, 'vaquero_agent_asset_cache_requests_total{result="hit"}'), 3);
    assert.equal(await metric(a, 'vaquero_agent_asset_cache_files'), 1);
    assert.equal(await metric(a, 'vaquero_agent_asset_cache_bytes'), files.kernel.length);
  });

  test('hostile paths are refused and never reach the CDN', async () => {
    const port = Number(new URL(a.httpUrl).port);
    const before = await nginx.requests();
    for (const target of [
      '/assets/../etc/passwd',
      '/assets/%2e%2e/%2e%2e/etc/passwd',
      '/assets/debian%2f..%2f..%2f..%2fetc%2fpasswd',
      '/assets/..%5c..%5cetc%5cpasswd',
      '/assets/debian/linux%00.png',
      '/assets/.partial/x',
      '/assets/debian/%2e%2e/%2e%2e/alpha-agent/cache/site-model.json',
    ]) {
      const status = await raw(port, target);
      assert.ok(status >= 400 && status < 500, `${target} answered ${status}`);
    }
    await delay(100);
    assert.equal(await nginx.requests(), before, 'no hostile request was passed to the origin');
  });

  test('a CDN failure is a 502, recorded as a refusal on the asking host’s run', async () => {
    await a.cache.set(
      openGate({
        site: 'alpha',
        host: 'h1',
        mac: MAC,
        runId: 'run-1',
        artifacts: {
          bootStage: 1,
          ipxe: '#!ipxe\n',
          kernel: 'http://10.1.0.1:8080/assets/debian/linux',
          initrds: ['http://10.1.0.1:8080/assets/debian/initrd.gz'],
          cmdline: '',
        },
      }),
    );
    a.recorder.bind('127.0.0.1', MAC);
    const broken = await get(a, '/assets/broken/initrd.gz');
    assert.equal(broken.status, 502);
    assert.match(broken.body.toString(), /CDN http:\/\/127\.0\.0\.1:\d+\/mirror answered 500/);
    const missing = await get(a, '/assets/debian/nothing-here');
    assert.equal(missing.status, 404, 'the CDN’s 404 is a 404');
    // Temporal is unreachable: the refusals wait in the outbox, in order, for the host's workflow.
    const outbox = await readFile(path.join(dir, 'alpha-agent', 'outbox', 'outbox.jsonl'), 'utf8');
    assert.match(outbox, /"kind":"refused"[^\n]*http \/assets\/broken\/initrd\.gz: CDN [^\n]* answered 500/);
    assert.match(outbox, /"kind":"refused"[^\n]*http \/assets\/debian\/nothing-here: not on the CDN/);
    assert.equal(await metric(a, 'vaquero_agent_asset_cache_origin_errors_total'), 2);
  });

  test('with the CDN stopped, a cached asset is still served and an uncached one is a 502', async () => {
    await nginx.stop();
    const cached = await get(a, '/assets/debian/linux');
    assert.equal(cached.status, 200);
    assert.deepEqual(cached.body, files.kernel);
    const part = await get(a, '/assets/debian/linux', { headers: { range: 'bytes=0-9' } });
    assert.deepEqual(part.body, files.kernel.subarray(0, 10));
    const uncached = await get(a, '/assets/debian/initrd.gz');
    assert.equal(uncached.status, 502);
    assert.match(uncached.body.toString(), /unreachable/);
    // The host's run hears of the kernel it got from the cache, and of the initrd it did not get as a refusal only.
    const outbox = await readFile(path.join(dir, 'alpha-agent', 'outbox', 'outbox.jsonl'), 'utf8');
    assert.match(outbox, /"kind":"kernel"[^\n]*"detail":"\/assets\/debian\/linux"/);
    assert.match(outbox, /"kind":"refused"[^\n]*http \/assets\/debian\/initrd\.gz: CDN [^\n]* unreachable/);
    assert.doesNotMatch(outbox, /"kind":"initrd"/);
  });

  test('the second agent proxies to its own CDN, and its bounded cache drops the least recently used file', async () => {
    const own = await get(b, '/assets/debian/linux');
    assert.deepEqual(own.body, files.initrd, 'the second agent’s CDN, not the first’s');
    assert.equal(nodeHits.get('debian/linux'), 1);
    // 1 MiB: the kernel-sized file above (200 KiB) and x1 (400 KiB) fit; x2 brings it to 1000 KiB; x1 is used
    // again; x3 makes 1400 KiB, so the least recently used go (debian/linux, then x2), x1 and x3 stay.
    for (const name of ['x1', 'x2', 'x1', 'x3'] as const) {
      const r = await get(b, `/assets/${name}`);
      assert.deepEqual(r.body, files.b[name]);
    }
    assert.deepEqual([nodeHits.get('x1'), nodeHits.get('x2'), nodeHits.get('x3')], [1, 1, 1]);
    assert.equal(await metric(b, 'vaquero_agent_asset_cache_evictions_total'), 2);
    assert.equal(await metric(b, 'vaquero_agent_asset_cache_bytes'), 800 * KIB);
    await get(b, '/assets/x1');
    await get(b, '/assets/x3');
    await get(b, '/assets/x2');
    assert.deepEqual([nodeHits.get('x1'), nodeHits.get('x2'), nodeHits.get('x3')], [1, 2, 1]);
    // A HEAD of an asset not cached (debian/linux was evicted) is asked of the CDN and keeps nothing.
    const files0 = await metric(b, 'vaquero_agent_asset_cache_files');
    const head = await get(b, '/assets/debian/linux', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(files.initrd.length));
    assert.equal(nodeHits.get('debian/linux'), 2);
    assert.equal(await metric(b, 'vaquero_agent_asset_cache_files'), files0);
  });

  test('a CDN that does not answer, or stops mid-body, gives up after origin_timeout_s and keeps nothing', async () => {
    const silent = await get(b, '/assets/silent');
    assert.equal(silent.status, 502);
    assert.match(silent.body.toString(), /unreachable \(no answer within 1000 ms\)/);
    const before = await metric(b, 'vaquero_agent_asset_cache_files');
    // Cut short, or a 502 when the agent had sent nothing yet: never a whole 200.
    const stalled = await get(b, '/assets/stalls').catch((e: unknown) =>
      e instanceof Error ? e : new Error(String(e)),
    );
    if (!(stalled instanceof Error)) {
      assert.equal(stalled.status, 502);
      assert.match(stalled.body.toString(), /failed mid-download: the CDN sent nothing for 1000 ms/);
    }
    assert.equal(await metric(b, 'vaquero_agent_asset_cache_files'), before);
    assert.equal(await metric(b, 'vaquero_agent_asset_cache_stored_total'), 5);
  });

  test('a real TFTP client gets each agent’s own tftp_root folder', async () => {
    const fetchTftp = async (port: number, file: string) => {
      const out = path.join(dir, `tftp-${port}-${file}`);
      try {
        await run('curl', ['-sS', '--max-time', '10', '-o', out, `tftp://127.0.0.1:${port}/${file}`]);
        return { ok: true as const, text: await readFile(out, 'utf8') };
      } catch (err) {
        return { ok: false as const, code: (err as { code?: number }).code };
      }
    };
    assert.deepEqual(await fetchTftp(tftpPorts.a, 'undionly.kpxe'), { ok: true, text: 'rack A loader' });
    assert.deepEqual(await fetchTftp(tftpPorts.b, 'undionly.kpxe'), { ok: true, text: 'rack B loader' });
    // The sub-folder is the agent's root: a file only above it is not found (curl's exit 68), nor is a way up.
    assert.deepEqual(await fetchTftp(tftpPorts.a, 'only-at-top.bin'), { ok: false, code: 68 });
    const up = await fetchTftp(tftpPorts.a, '../undionly.kpxe');
    assert.equal(up.ok, false);
    // HTTP boot's /boot/ serves the same folder.
    const http = await get(b, '/boot/undionly.kpxe');
    assert.equal(http.body.toString(), 'rack B loader');
  });
});
