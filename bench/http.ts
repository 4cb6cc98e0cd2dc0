// HTTP: wrk in the client namespace against the agent's HTTP boot service (buildAgentHttp, as `vaquero agent`
// runs it: request log at info to a file, every script/config/kernel fetch of a host being reprovisioned
// recorded as a boot event) and nginx (our own config: one worker, sendfile, access log to a file) serving the
// same files: the kernel and initrd of Debian's netboot installer (8 and 39 MiB), and per host the iPXE script
// and cloud-config that sot/render.ts rendered for a generated SoT. The agent serves those from a model cache
// filled with every host's open gate; nginx serves the same texts as static files. wrk walks all hosts' URLs,
// after an unmeasured warm-up run per case (a long-running server is warm).
//
// Also in-process, with no reference: validating that SoT and rendering every host (iPXE script + config).
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BootArtifacts } from '../domain/site-model.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER, createRenderer } from '../sot/render.ts';
import { validateSot } from '../sot/validate.ts';
import { startAgentServer } from './lib/agent-server.ts';
import { writeBenchSot } from './lib/bench-sot.ts';
import type { BenchContext } from './lib/context.ts';
import { secondsSince } from './lib/context.ts';
import type { CacheHost } from './lib/fill-cache.ts';
import { benchBootCredential, fillModelCache } from './lib/fill-cache.ts';
import type { BenchNet } from './lib/lab.ts';
import { cpuSeconds, createBenchNet, runTool, startDaemon, waitForListen } from './lib/lab.ts';
import type { BenchmarkResult, Row } from './lib/results.ts';
import { makeRow } from './lib/results.ts';

export interface HttpOptions {
  runs: number;
  /** Hosts in the generated SoT: each has its own script and config URL. */
  hosts: number;
  /** wrk duration per case and server. */
  seconds: number;
  /** An unmeasured wrk run of this many seconds before each case: a long-running server is warm. */
  warmupSeconds: number;
  /** wrk connections for the big files and for the small texts. */
  fileConnections: number;
  textConnections: number;
  /** Only these cases (kernel, initrd, ipxe, config), e.g. to profile one. */
  cases?: string[];
}

export const HTTP_FULL: HttpOptions = {
  runs: 3,
  hosts: 1000,
  seconds: 3,
  warmupSeconds: 1,
  fileConnections: 4,
  textConnections: 16,
};
export const HTTP_SMOKE: HttpOptions = {
  runs: 1,
  hosts: 10,
  seconds: 1,
  warmupSeconds: 0,
  fileConnections: 2,
  textConnections: 2,
};

const DI = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
const SERVERS = ['vaquero', 'nginx'] as const;
type ServerName = (typeof SERVERS)[number];
const PORTS: Record<ServerName, number> = { vaquero: 8080, nginx: 8081 };

interface WrkResult {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { p50: number; p90: number; p99: number; max: number; mean: number };
}

interface CaseDef {
  key: string;
  label: string;
  connections: number;
  /** Request paths per server. */
  paths: Record<ServerName, string[]>;
  big: boolean;
}

/** Prints one JSON line at the end; request() walks the path list so every host's URL is asked in turn. */
const WRK_SCRIPT = `
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

export async function runHttp(opts: HttpOptions, ctx: BenchContext): Promise<BenchmarkResult> {
  const t0 = performance.now();
  chmodSync(ctx.dir, 0o755); // nginx workers read as nobody
  const www = path.join(ctx.dir, 'www');
  const assets = path.join(www, 'assets');
  for (const d of [www, assets, path.join(www, 'ipxe'), path.join(www, 'config')])
    mkdirSync(d, { recursive: true, mode: 0o755 });
  const sizes = prepareAssets(assets);

  const net = createBenchNet('10.81', 24);
  try {
    const { hosts, render } = await renderHosts(opts, `http://${net.serverIp}:${PORTS.vaquero}`);
    // What nginx serves: the same texts, with a token of the agent's length where the agent puts its token.
    const fakeToken = 'x'.repeat(43);
    for (const h of hosts) {
      writeFileSync(
        path.join(www, 'ipxe', `${h.mac}.ipxe`),
        h.artifacts!.ipxe.split(CHECKPOINT_TOKEN_PLACEHOLDER).join(fakeToken),
        { mode: 0o644 },
      );
      writeFileSync(
        path.join(www, 'config', h.mac),
        h.artifacts!.config!.text.split(CHECKPOINT_TOKEN_PLACEHOLDER).join(fakeToken),
        { mode: 0o644 },
      );
    }
    // The wrk client is a host being reprovisioned too, so its kernel and initrd fetches are boot events.
    const clientMac = await linkMac(net.client, net.clientIf);
    const clientHost: CacheHost = {
      host: 'wrk-client',
      mac: clientMac,
      ipv4: net.clientIp,
      artifacts: {
        ...hosts[0]!.artifacts!,
        kernel: `http://${net.serverIp}:${PORTS.vaquero}/assets/linux`,
        initrds: [`http://${net.serverIp}:${PORTS.vaquero}/assets/initrd.gz`],
      },
    };
    const cases: CaseDef[] = [
      {
        key: 'kernel',
        label: `kernel (${mib(sizes.linux)} MiB)`,
        connections: opts.fileConnections,
        big: true,
        paths: { vaquero: ['/assets/linux'], nginx: ['/assets/linux'] },
      },
      {
        key: 'initrd',
        label: `initrd (${mib(sizes['initrd.gz'])} MiB)`,
        connections: opts.fileConnections,
        big: true,
        paths: { vaquero: ['/assets/initrd.gz'], nginx: ['/assets/initrd.gz'] },
      },
      {
        key: 'ipxe',
        label: `iPXE script, ${hosts.length} hosts`,
        connections: opts.textConnections,
        big: false,
        paths: {
          // The wrk client is none of these hosts: it shows each one's boot credential, as iPXE does when its
          // address alone does not tie it to the MAC (a relayed or proxy-mode boot).
          vaquero: hosts.map((h) => `/ipxe?mac=${h.mac.replace(/:/g, '-')}&boot=${benchBootCredential(h)}`),
          nginx: hosts.map((h) => `/ipxe/${h.mac}.ipxe`),
        },
      },
      {
        key: 'config',
        label: `cloud-config, ${hosts.length} hosts`,
        connections: opts.textConnections,
        big: false,
        paths: {
          vaquero: hosts.map((h) => `/config/${h.mac}?boot=${benchBootCredential(h)}`),
          nginx: hosts.map((h) => `/config/${h.mac}`),
        },
      },
    ];
    const selected = cases.filter((c) => !opts.cases || opts.cases.includes(c.key));
    const scriptFile = path.join(ctx.dir, 'walk.lua');
    writeFileSync(scriptFile, WRK_SCRIPT);
    for (const c of cases)
      for (const s of SERVERS)
        writeFileSync(path.join(ctx.dir, `paths-${c.key}-${s}.txt`), c.paths[s].join('\n') + '\n');
    const nginxConf = writeNginxConf(ctx.dir, net, www);

    const results: Record<
      ServerName,
      {
        cases: Record<string, WrkResult | null>;
        cpuSeconds: number | null;
        serverStats?: Record<string, unknown>;
      }[]
    > = { vaquero: [], nginx: [] };
    for (let run = 0; run < opts.runs; run++) {
      const order = run % 2 === 0 ? SERVERS : [...SERVERS].reverse();
      for (const server of order) {
        ctx.log(`http run ${run + 1}/${opts.runs}: ${server}`);
        const s = await startServer(
          server,
          run,
          net,
          { www, assets, hosts: [...hosts, clientHost], nginxConf },
          ctx,
        );
        const cpu0 = cpuSeconds(s.pid);
        const got: Record<string, WrkResult | null> = {};
        let cpu1: number | null = null;
        try {
          for (const c of selected) {
            const paths = path.join(ctx.dir, `paths-${c.key}-${server}.txt`);
            if (opts.warmupSeconds > 0)
              await wrk(
                net,
                PORTS[server],
                c.connections,
                opts.warmupSeconds,
                scriptFile,
                paths,
                c.paths[server][0]!,
              );
            got[c.key] = await wrk(
              net,
              PORTS[server],
              c.connections,
              opts.seconds,
              scriptFile,
              paths,
              c.paths[server][0]!,
            );
          }
        } finally {
          cpu1 = cpuSeconds(s.pid);
          const serverStats = await s.stop();
          results[server].push({
            cases: got,
            cpuSeconds: cpu0 !== null && cpu1 !== null ? Math.round((cpu1 - cpu0) * 100) / 100 : null,
            ...(serverStats !== undefined ? { serverStats } : {}),
          });
        }
      }
    }

    const rows: Row[] = [];
    const notes: string[] = [];
    for (const c of selected) {
      const of = (s: ServerName, f: (w: WrkResult) => number) =>
        results[s].map((r) => (r.cases[c.key] ? f(r.cases[c.key]!) : null));
      const rps = (w: WrkResult) => w.requests / (w.duration_us / 1e6);
      const spec = (metric: string, unit: string, better: 'higher' | 'lower') => ({
        case: `${c.label}, ${c.connections} connections`,
        metric,
        unit,
        better,
      });
      rows.push(
        makeRow('http', spec('requests', '/s', 'higher'), of('vaquero', rps), { nginx: of('nginx', rps) }),
      );
      if (c.big) {
        const mbs = (w: WrkResult) => w.bytes / 2 ** 20 / (w.duration_us / 1e6);
        rows.push(
          makeRow('http', spec('throughput', 'MiB/s', 'higher'), of('vaquero', mbs), {
            nginx: of('nginx', mbs),
          }),
        );
      }
      rows.push(
        makeRow(
          'http',
          spec('latency p50', 'ms', 'lower'),
          of('vaquero', (w) => w.latency_us.p50 / 1000),
          { nginx: of('nginx', (w) => w.latency_us.p50 / 1000) },
        ),
      );
      rows.push(
        makeRow(
          'http',
          spec('latency p99', 'ms', 'lower'),
          of('vaquero', (w) => w.latency_us.p99 / 1000),
          { nginx: of('nginx', (w) => w.latency_us.p99 / 1000) },
        ),
      );
      for (const s of SERVERS) {
        const bad = results[s].reduce((n, r) => {
          const e = r.cases[c.key]?.errors;
          return n + (e ? e.connect + e.read + e.write + e.status + e.timeout : 1);
        }, 0);
        if (bad > 0)
          notes.push(`${s}: ${bad} errors (socket errors, non-2xx or a failed wrk run) on ${c.label}`);
      }
    }
    rows.push(
      makeRow(
        'render',
        { case: `validate a SoT of ${opts.hosts} hosts`, metric: 'time', unit: 's', better: 'lower' },
        render.validateSeconds,
      ),
      makeRow(
        'render',
        { case: 'render a host (iPXE script + config)', metric: 'hosts', unit: '/s', better: 'higher' },
        render.hostsPerSecond,
      ),
    );
    return {
      name: 'http',
      params: { ...opts, sizes, wrk: '-t1, one Lua script walking every host URL' },
      rows,
      details: { results, render },
      notes,
      durationS: secondsSince(t0),
    };
  } finally {
    net.cleanup();
  }
}

const mib = (bytes: number | undefined): number => Math.round(((bytes ?? 0) / 2 ** 20) * 10) / 10;

/** Debian's netboot installer kernel and initrd when present; else files of the same sizes. */
function prepareAssets(assets: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const [name, size] of [
    ['linux', 8_222_656],
    ['initrd.gz', 40_810_276],
  ] as const) {
    const dest = path.join(assets, name);
    // A copy, not a link: the agent refuses symlinks that leave its assets root.
    if (existsSync(path.join(DI, name))) copyFileSync(path.join(DI, name), dest);
    else writeFileSync(dest, Buffer.alloc(size, 0x5a));
    chmodSync(dest, 0o644);
    sizes[name] = size;
  }
  return sizes;
}

async function renderHosts(opts: HttpOptions, agentUrl: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bench-sot-'));
  try {
    writeBenchSot(dir, { hosts: opts.hosts, agentUrl: () => agentUrl });
    const validateSeconds: number[] = [];
    const hostsPerSecond: number[] = [];
    let hosts: CacheHost[] = [];
    for (let run = 0; run < opts.runs; run++) {
      const t0 = performance.now();
      const { model, diagnostics } = await validateSot(dir);
      validateSeconds.push((performance.now() - t0) / 1000);
      if (diagnostics.length > 0) throw new Error(`generated SoT is invalid: ${diagnostics[0]!.message}`);
      const t1 = performance.now();
      const renderer = createRenderer(model);
      const rendered = model.hosts.map((h) => renderer.renderHost(h).rendered!);
      hostsPerSecond.push(rendered.length / ((performance.now() - t1) / 1000));
      hosts = rendered.map((r) => {
        const st = r.stages[0]!;
        const artifacts: BootArtifacts = {
          bootStage: 1,
          ipxe: st.ipxe,
          kernel: st.kernel,
          initrds: st.initrds,
          cmdline: st.cmdline,
          ...(st.config !== undefined ? { config: st.config } : {}),
        };
        return { host: r.host, mac: r.mac, ...(r.ipv4 !== undefined ? { ipv4: r.ipv4 } : {}), artifacts };
      });
    }
    return { hosts, render: { validateSeconds, hostsPerSecond } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function linkMac(ns: string, ifname: string): Promise<string> {
  const r = await runTool(ns, 'ip', ['-o', 'link', 'show', ifname], 5000);
  const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
  if (!m) throw new Error(`no MAC on ${ifname}: ${r.stdout}`);
  return m[1]!;
}

function writeNginxConf(dir: string, net: BenchNet, www: string): string {
  const tmp = path.join(dir, 'nginx-tmp');
  mkdirSync(tmp, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      // One worker: the agent is one Node process. Both share the 2 cores with wrk either way.
      'worker_processes 1;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'nginx-error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  access_log ${path.join(dir, 'nginx-access.log')};`,
      '  sendfile on;',
      '  tcp_nopush on;',
      '  keepalive_timeout 65;',
      '  keepalive_requests 100000;',
      '  types { text/plain ipxe; application/octet-stream gz; }',
      '  default_type text/plain;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (t) => `  ${t}_temp_path ${path.join(tmp, t)};`,
      ),
      '  server {',
      `    listen ${net.serverIp}:${PORTS.nginx};`,
      `    root ${www};`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}

async function startServer(
  server: ServerName,
  run: number,
  net: BenchNet,
  files: { www: string; assets: string; hosts: CacheHost[]; nginxConf: string },
  ctx: BenchContext,
): Promise<{ pid: number; stop(): Promise<Record<string, unknown> | undefined> }> {
  if (server === 'vaquero') {
    const dataDir = path.join(ctx.dir, `agent-${run}`);
    fillModelCache(dataDir, {
      httpUrl: `http://${net.serverIp}:${PORTS.vaquero}`,
      subnet: {
        id: 'bench',
        cidr: '10.81.0.0/24',
        netmask: '255.255.255.0',
        dns: [],
        ntp: [],
        dhcpOptions: [],
      },
      hosts: files.hosts,
    });
    const a = await startAgentServer(
      net.server,
      {
        services: ['http'],
        dataDir,
        interfaces: [],
        assetsRoot: files.assets,
        http: { listen: net.serverIp, port: PORTS.vaquero },
      },
      {
        dir: ctx.dir,
        name: `http-agent-${run}`,
        ...(ctx.profileDir !== undefined ? { profileDir: ctx.profileDir } : {}),
      },
    );
    return { pid: a.pid, stop: () => a.stop() };
  }
  const d = startDaemon(net.server, 'nginx', [
    '-c',
    files.nginxConf,
    '-e',
    path.join(ctx.dir, 'nginx-error.log'),
    '-g',
    'daemon off;',
  ]);
  try {
    await waitForListen(net.server, 'tcp', PORTS.nginx);
  } catch (err) {
    await d.stop();
    throw new Error(`nginx did not start: ${d.output()}`, { cause: err });
  }
  return {
    pid: d.pid,
    async stop() {
      await d.stop();
      return undefined;
    },
  };
}

async function wrk(
  net: BenchNet,
  port: number,
  connections: number,
  seconds: number,
  script: string,
  pathsFile: string,
  firstPath: string,
): Promise<WrkResult | null> {
  const url = `http://${net.serverIp}:${port}${firstPath}`;
  const r = await runTool(
    net.client,
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url, '--', pathsFile],
    (seconds + 30) * 1000,
  );
  const m = /WRKJSON (\{.*\})/.exec(r.stdout);
  return m ? (JSON.parse(m[1]!) as WrkResult) : null;
}
