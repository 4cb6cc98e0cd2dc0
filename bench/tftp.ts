// TFTP: 1, 10 and 50 concurrent clients fetching undionly.kpxe and ipxe.efi (Debian's ipxe package, copied into
// one root that every server serves) from the agent's TFTP server, dnsmasq's TFTP and tftpd-hpa (`in.tftpd -L`
// in the foreground, never the package's init). The client is curl (a real client, blksize 1468 as PXE ROMs
// ask) in the client namespace; C concurrent clients are curl's parallel mode with C transfers in flight, so no
// process start sits between transfers.
//
// Per server, file and concurrency C, in each run:
//  * burst: C clients start at once; the time until the last has its file (the slowest curl time_total);
//  * throughput: `transfers` fetches (at least 2 C), C at a time; completed transfers per wall-clock second.
// Each server is warmed up first with a few unmeasured transfers of each file, as a long-running one would be.
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAgentServer } from './lib/agent-server.ts';
import type { BenchContext } from './lib/context.ts';
import { secondsSince } from './lib/context.ts';
import { fillModelCache } from './lib/fill-cache.ts';
import type { BenchNet } from './lib/lab.ts';
import { cpuSeconds, createBenchNet, runTool, startDaemon, waitForListen } from './lib/lab.ts';
import type { BenchmarkResult, Row } from './lib/results.ts';
import { makeRow } from './lib/results.ts';

export interface TftpOptions {
  runs: number;
  concurrency: number[];
  /** Transfers per throughput measurement, per file (raised to 2 × concurrency when lower). */
  transfers: Record<string, number>;
  /** Unmeasured transfers of each file first: a long-running server is warm (file caches, JIT). */
  warmup: number;
  /** Only these servers (default all), e.g. to profile the agent alone. */
  servers?: ServerName[];
}

export const TFTP_FILES = ['undionly.kpxe', 'ipxe.efi'];
const IPXE_DIR = '/usr/lib/ipxe';

export const TFTP_FULL: TftpOptions = {
  runs: 3,
  concurrency: [1, 10, 50],
  transfers: { 'undionly.kpxe': 200, 'ipxe.efi': 60 },
  warmup: 20,
};

export const TFTP_SMOKE: TftpOptions = {
  runs: 1,
  concurrency: [1, 3],
  transfers: { 'undionly.kpxe': 4, 'ipxe.efi': 2 },
  warmup: 2,
};

const SERVERS = ['vaquero', 'dnsmasq', 'tftpd-hpa'] as const;
export type ServerName = (typeof SERVERS)[number];

interface Measured {
  burstMs: number | null;
  perSecond: number | null;
  failures: number;
}

/** Keyed `${file}|${concurrency}`. */
type ServerRun = {
  cases: Record<string, Measured>;
  cpuSeconds: number | null;
  serverStats?: Record<string, unknown>;
};

export async function runTftp(opts: TftpOptions, ctx: BenchContext): Promise<BenchmarkResult> {
  const t0 = performance.now();
  const root = path.join(ctx.dir, 'tftp');
  mkdirSync(root, { recursive: true });
  // tftpd-hpa and dnsmasq read as nobody: the path down to the files must be world-readable.
  chmodSync(ctx.dir, 0o755);
  chmodSync(root, 0o755);
  const sizes: Record<string, number> = {};
  for (const f of TFTP_FILES) {
    // ipxe.efi is a symlink to /boot/ipxe.efi in Debian's package: copy the file itself, so that every server
    // serves the same regular file.
    copyFileSync(path.join(IPXE_DIR, f), path.join(root, f));
    chmodSync(path.join(root, f), 0o644);
    sizes[f] = statSync(path.join(root, f)).size;
  }
  const net = createBenchNet('10.80', 24);
  try {
    const clientMac = await linkMac(net.client, net.clientIf);
    const runs: Record<ServerName, ServerRun[]> = { vaquero: [], dnsmasq: [], 'tftpd-hpa': [] };
    for (let run = 0; run < opts.runs; run++) {
      const order = [...SERVERS.slice(run % SERVERS.length), ...SERVERS.slice(0, run % SERVERS.length)];
      for (const server of order.filter((s) => !opts.servers || opts.servers.includes(s))) {
        ctx.log(`tftp run ${run + 1}/${opts.runs}: ${server}`);
        const s = await startServer(server, run, net, root, clientMac, ctx);
        const cpu0 = cpuSeconds(s.pid);
        const cases: Record<string, Measured> = {};
        let cpu1: number | null = null;
        try {
          for (const file of TFTP_FILES) await curlBatch(net, file, sizes[file]!, opts.warmup, 1);
          for (const file of TFTP_FILES) {
            for (const c of opts.concurrency) {
              cases[`${file}|${c}`] = await measure(
                net,
                file,
                sizes[file]!,
                c,
                Math.max(2 * c, opts.transfers[file] ?? 0),
              );
            }
          }
        } finally {
          cpu1 = cpuSeconds(s.pid);
          const serverStats = await s.stop();
          runs[server].push({
            cases,
            cpuSeconds: cpu0 !== null && cpu1 !== null ? Math.round((cpu1 - cpu0) * 100) / 100 : null,
            ...(serverStats !== undefined ? { serverStats } : {}),
          });
        }
      }
    }
    const rows: Row[] = [];
    const notes: string[] = [];
    for (const file of TFTP_FILES) {
      for (const c of opts.concurrency) {
        const key = `${file}|${c}`;
        const of = (s: ServerName, f: (m: Measured) => number | null) =>
          runs[s].map((r) => (r.cases[key] ? f(r.cases[key]) : null));
        const label = `${file} (${Math.round(sizes[file]! / 1024)} KiB), ${c} client${c === 1 ? '' : 's'}`;
        rows.push(
          makeRow(
            'tftp',
            { case: label, metric: 'transfers', unit: '/s', better: 'higher' },
            of('vaquero', (m) => m.perSecond),
            {
              dnsmasq: of('dnsmasq', (m) => m.perSecond),
              'tftpd-hpa': of('tftpd-hpa', (m) => m.perSecond),
            },
          ),
          makeRow(
            'tftp',
            { case: label, metric: 'burst, all done', unit: 'ms', better: 'lower' },
            of('vaquero', (m) => m.burstMs),
            {
              dnsmasq: of('dnsmasq', (m) => m.burstMs),
              'tftpd-hpa': of('tftpd-hpa', (m) => m.burstMs),
            },
          ),
        );
        for (const s of SERVERS) {
          const failed = runs[s].reduce((n, r) => n + (r.cases[key]?.failures ?? 0), 0);
          if (failed > 0)
            notes.push(
              `${s}: ${failed} failed transfer(s) of ${file} with ${c} clients (counted out of the rates)`,
            );
        }
      }
    }
    return {
      name: 'tftp',
      params: { ...opts, sizes, blksize: 1468, client: 'curl (parallel mode)' },
      rows,
      details: { runs },
      notes,
      durationS: secondsSince(t0),
    };
  } finally {
    net.cleanup();
  }
}

async function linkMac(ns: string, ifname: string): Promise<string> {
  const r = await runTool(ns, 'ip', ['-o', 'link', 'show', ifname], 5000);
  const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
  if (!m) throw new Error(`no MAC on ${ifname}: ${r.stdout}`);
  return m[1]!;
}

async function startServer(
  server: ServerName,
  run: number,
  net: BenchNet,
  root: string,
  clientMac: string,
  ctx: BenchContext,
): Promise<{ pid: number; stop(): Promise<Record<string, unknown> | undefined> }> {
  if (server === 'vaquero') {
    // The client is a host being reprovisioned, as in production: each transfer becomes two boot events.
    const dataDir = path.join(ctx.dir, `agent-${run}`);
    fillModelCache(dataDir, {
      httpUrl: `http://${net.serverIp}:8080`,
      subnet: {
        id: 'bench',
        cidr: '10.80.0.0/24',
        netmask: '255.255.255.0',
        dns: [],
        ntp: [],
        dhcpOptions: [],
      },
      hosts: [{ host: 'client', mac: clientMac, ipv4: net.clientIp }],
    });
    const a = await startAgentServer(
      net.server,
      { services: ['tftp'], dataDir, interfaces: [], tftpRoot: root },
      {
        dir: ctx.dir,
        name: `tftp-agent-${run}`,
        ...(ctx.profileDir !== undefined ? { profileDir: ctx.profileDir } : {}),
      },
    );
    return { pid: a.pid, stop: () => a.stop() };
  }
  let d;
  if (server === 'dnsmasq') {
    const conf = path.join(ctx.dir, 'dnsmasq-tftp.conf');
    writeFileSync(
      conf,
      [
        'port=0',
        `interface=${net.serverIf}`,
        'bind-interfaces',
        'enable-tftp',
        `tftp-root=${root}`,
        'tftp-max=512', // the agent's maxTransfers; dnsmasq's default (50) would refuse the 50-client burst's retries
        'keep-in-foreground',
        `log-facility=${path.join(ctx.dir, 'dnsmasq-tftp.log')}`,
        '',
      ].join('\n'),
    );
    d = startDaemon(net.server, 'dnsmasq', [`--conf-file=${conf}`]);
  } else {
    // -L: listen in the foreground; -s: chroot to the root (its usual way); it forks one process per transfer.
    d = startDaemon(net.server, 'in.tftpd', ['-L', '-s', root, '-a', `${net.serverIp}:69`]);
  }
  try {
    await waitForListen(net.server, 'udp', 69);
  } catch (err) {
    await d.stop();
    throw new Error(`${server} did not start: ${d.output()}`, { cause: err });
  }
  return {
    pid: d.pid,
    async stop() {
      await d.stop();
      return undefined;
    },
  };
}

/** One curl process fetching `count` copies of `file`, `parallel` at a time; bounded by --max-time per transfer. */
async function curlBatch(net: BenchNet, file: string, size: number, count: number, parallel: number) {
  const url = `tftp://${net.serverIp}/${file}`;
  const args = [
    '-s',
    '--tftp-blksize',
    '1468',
    '--max-time',
    '30',
    '-w',
    '%{size_download} %{time_total} %{exitcode}\\n',
  ];
  if (parallel > 1) args.push('-Z', '--parallel-immediate', '--parallel-max', String(parallel));
  for (let i = 0; i < count; i++) args.push('-o', '/dev/null', url);
  const r = await runTool(net.client, 'curl', args, 30_000 + count * 2000);
  const done = [...r.stdout.matchAll(/^(\d+) ([0-9.]+) (\d+)$/gm)].map((m) => ({
    bytes: Number(m[1]),
    s: Number(m[2]),
    code: Number(m[3]),
  }));
  const ok = done.filter((d) => d.code === 0 && d.bytes === size);
  return { ok, failures: count - ok.length, wallMs: r.ms };
}

async function measure(
  net: BenchNet,
  file: string,
  size: number,
  c: number,
  transfers: number,
): Promise<Measured> {
  const burst = await curlBatch(net, file, size, c, c);
  const load = await curlBatch(net, file, size, transfers, c);
  return {
    burstMs: burst.failures === 0 ? Math.max(...burst.ok.map((d) => d.s)) * 1000 : null,
    perSecond: load.ok.length > 0 ? load.ok.length / (load.wallMs / 1000) : null,
    failures: burst.failures + load.failures,
  };
}
