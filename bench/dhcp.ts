// DHCP: perfdhcp (kea-admin) as a relay (giaddr, LAB.md §3) against the agent's DHCP server, dnsmasq (no-ping,
// quiet-dhcp) and ISC Kea (kea-dhcp4, memfile with its lease file; single-threaded, and multi-threaded as a
// labelled extra: bench/dhcp-kea.ts), one after the other in the same run, with the same reservations on the
// same /16: perfdhcp's clients are `-b mac=BASE -R N`, whose MACs are computed (perfdhcpMac) and reserved on
// every server. Every client is a PXE client (option 60 PXEClient, option 93 BIOS), so all answer with a boot file.
//
// Per server and run, on a freshly started server warmed up by a short run of other clients (a running
// server is warm: JIT, caches):
//  1. rack power-on: perfdhcp's avalanche scenario, every client DISCOVERs at once and retransmits with
//     back-off until it has its lease: the time until every client has one;
//  2. the highest rate with no drops: doubling from startRate, then bisecting, each step `-p stepSeconds`;
//  3. latency percentiles of DISCOVER→OFFER and REQUEST→ACK at one fixed rate, the same for both servers.
// The servers' order rotates from run to run, so drift on the machine does not favour one.
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentSubnet } from '../domain/site-model.ts';
import { startKeaBench } from './dhcp-kea.ts';
import { startAgentServer } from './lib/agent-server.ts';
import type { BenchContext } from './lib/context.ts';
import { secondsSince } from './lib/context.ts';
import { fillModelCache } from './lib/fill-cache.ts';
import type { BenchNet } from './lib/lab.ts';
import { cpuSeconds, createBenchNet, runTool, sleep, startDaemon, waitForListen } from './lib/lab.ts';
import { noDrops, parsePerfdhcp, perfdhcpMac } from './lib/perfdhcp.ts';
import type { PerfdhcpRun } from './lib/perfdhcp.ts';
import type { BenchmarkResult } from './lib/results.ts';
import { makeRow } from './lib/results.ts';
import { percentile } from './lib/stats.ts';

export interface DhcpOptions {
  runs: number;
  /** perfdhcp -R for the rate search and the latency run (each has a reservation). */
  clients: number;
  stepSeconds: number;
  startRate: number;
  maxRate: number;
  /** Bisection steps after the doubling found a rate with drops (stops early within 10 %). */
  bisectSteps: number;
  latencyRate: number;
  latencySeconds: number;
  /** Clients of the rack power-on burst. */
  burstClients: number;
  burstTimeoutS: number;
  /** Unmeasured exchanges first, from MACs of their own (also reserved on all): a running server is warm. */
  warmupClients: number;
  /** Packet threads of the multi-threaded Kea (`kea-mt`); 0 leaves it out. */
  keaThreads: number;
}

export const DHCP_FULL: DhcpOptions = {
  runs: 3,
  clients: 1000,
  stepSeconds: 2,
  startRate: 200,
  maxRate: 25600,
  bisectSteps: 3,
  latencyRate: 100,
  latencySeconds: 4,
  burstClients: 1000,
  burstTimeoutS: 60,
  warmupClients: 200,
  keaThreads: 2,
};

export const DHCP_SMOKE: DhcpOptions = {
  runs: 1,
  clients: 20,
  stepSeconds: 1,
  startRate: 10,
  maxRate: 20,
  bisectSteps: 1,
  latencyRate: 10,
  latencySeconds: 1,
  burstClients: 10,
  burstTimeoutS: 20,
  warmupClients: 5,
  keaThreads: 2,
};

/** The agent's flood limits here (dhcp.max_packets_per_second and …_per_client_…): far above any rate asked for. */
const AGENT_FLOOD_LIMIT = 1_000_000;
const BASE = '10.79';
const MAC_BASE = '02:76:00:00:00:00';
const WARMUP_MAC_BASE = '02:77:00:00:00:00';
/** What a BIOS PXE ROM sends (LAB.md §4.4), as perfdhcp -o hex. */
const PXE_OPTIONS = [
  '-o',
  `60,${Buffer.from('PXEClient:Arch:00000:UNDI:002001').toString('hex')}`,
  '-o',
  '93,0000',
];
const BOOT_FILE = 'undionly.kpxe';
const LEASE_SECONDS = 3600;
const ALL_SERVERS = ['vaquero', 'dnsmasq', 'kea', 'kea-mt'] as const;
type ServerName = (typeof ALL_SERVERS)[number];
const serversOf = (opts: DhcpOptions): ServerName[] =>
  ALL_SERVERS.filter((s) => s !== 'kea-mt' || opts.keaThreads > 1);

const ipFor = (r: number): string => `${BASE}.${1 + Math.floor(r / 250)}.${1 + (r % 250)}`;

interface Step {
  rate: number;
  ok: boolean;
  achieved: number | null;
  discover: PerfdhcpRun['discover'];
  request: PerfdhcpRun['request'];
}

interface ServerRun {
  burstSeconds: number | null;
  burstResent: number | null;
  maxRate: number | null;
  rateAtMax: number | null;
  /** Most ACKs per second seen in any step, drops or not. */
  peakAcksPerSecond: number | null;
  /** True when the search reached maxRate without drops (the cap, not the server, ended it). */
  capped: boolean;
  /** perfdhcp could not send at the asked rate: the client, not the server, was the limit. */
  clientLimited: boolean;
  steps: Step[];
  latency: { d2o: number[]; r2a: number[]; ok: boolean };
  cpuSeconds: number | null;
  /**
   * Datagrams the server namespace's kernel dropped while this server ran because a socket's receive buffer was
   * full (/proc/net/snmp Udp RcvbufErrors): the server was behind, or descheduled longer than its buffer lasts.
   */
  rcvbufDrops: number | null;
  /** The agent's counters (services, recorder, outbox), Kea's pkt4-* counters. */
  serverStats?: Record<string, unknown>;
}

export async function runDhcp(opts: DhcpOptions, ctx: BenchContext): Promise<BenchmarkResult> {
  const t0 = performance.now();
  const n = Math.max(opts.clients, opts.burstClients);
  if (n + opts.warmupClients > 60_000) throw new Error('at most 60000 DHCP clients (one /16)');
  const net = createBenchNet(BASE, 16);
  chmodSync(ctx.dir, 0o755); // dnsmasq drops to nobody and keeps writing its lease file here
  try {
    const macs = [
      ...Array.from({ length: n }, (_, r) => perfdhcpMac(MAC_BASE, r)),
      ...Array.from({ length: opts.warmupClients }, (_, r) => perfdhcpMac(WARMUP_MAC_BASE, r)),
    ];
    writeDnsmasqFiles(ctx.dir, net, macs);
    const servers = serversOf(opts);
    const subnet: AgentSubnet = {
      id: 'bench',
      cidr: `${BASE}.0.0/16`,
      netmask: '255.255.0.0',
      gateway: net.serverIp,
      dns: [net.serverIp],
      ntp: [],
      domain: 'bench.example',
      dhcpOptions: [],
    };
    const runs = Object.fromEntries(servers.map((s) => [s, [] as ServerRun[]])) as Partial<
      Record<ServerName, ServerRun[]>
    >;
    for (let run = 0; run < opts.runs; run++) {
      const order = servers.map((_, i) => servers[(i + run) % servers.length]!);
      for (const server of order) {
        ctx.log(`dhcp run ${run + 1}/${opts.runs}: ${server}`);
        const dataDir = path.join(ctx.dir, `agent-${run}`);
        if (server === 'vaquero')
          fillModelCache(dataDir, {
            httpUrl: `http://${net.serverIp}:8080`,
            subnet,
            hosts: macs.map((mac, r) => ({ host: `h${r}`, mac, ipv4: ipFor(r) })),
          });
        runs[server]!.push(await measureServer(server, run, dataDir, net, macs, opts, ctx));
      }
    }
    return summarize(servers, runs as Record<ServerName, ServerRun[]>, opts, secondsSince(t0));
  } finally {
    net.cleanup();
  }
}

function writeDnsmasqFiles(dir: string, net: BenchNet, macs: string[]): void {
  writeFileSync(path.join(dir, 'dnsmasq-hosts'), macs.map((m, r) => `${m},${ipFor(r)}`).join('\n') + '\n');
  writeFileSync(
    path.join(dir, 'dnsmasq-dhcp.conf'),
    [
      'port=0',
      `interface=${net.serverIf}`,
      'bind-interfaces',
      'no-ping', // without it every new lease waits 3 s for an ICMP probe (LAB.md §2)
      'quiet-dhcp', // as in LAB.md §3's perfdhcp runs: no log line per packet
      'dhcp-authoritative',
      // Its default (1000) would refuse leases to reservations beyond it: every reserved client must fit.
      `dhcp-lease-max=${macs.length}`,
      `dhcp-range=${BASE}.0.0,static,255.255.0.0,${LEASE_SECONDS}`,
      `dhcp-hostsfile=${path.join(dir, 'dnsmasq-hosts')}`,
      `dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
      `dhcp-option=option:router,${net.serverIp}`,
      `dhcp-option=option:dns-server,${net.serverIp}`,
      'dhcp-option=option:domain-name,bench.example',
      `dhcp-boot=${BOOT_FILE},,${net.serverIp}`,
      'keep-in-foreground',
      `log-facility=${path.join(dir, 'dnsmasq-dhcp.log')}`,
      '',
    ].join('\n'),
  );
}

async function startServer(
  server: ServerName,
  run: number,
  dataDir: string,
  net: BenchNet,
  macs: string[],
  opts: DhcpOptions,
  ctx: BenchContext,
): Promise<{ pid: number; stop(): Promise<Record<string, unknown> | undefined> }> {
  if (server === 'vaquero') {
    const a = await startAgentServer(
      net.server,
      {
        services: ['dhcp'],
        dataDir,
        interfaces: [{ name: net.serverIf, address: net.serverIp, cidr: `${net.serverIp}/${net.bits}` }],
        // dnsmasq has no flood limits: the agent's are lifted so both are measured at what the server can do.
        // The per-client one too: perfdhcp draws every exchange from the same 1,000 MACs, so at 6,400 DORA/s
        // each "client" makes about 13 exchanges a second, which that limit exists to refuse.
        dhcp: {
          max_packets_per_second: AGENT_FLOOD_LIMIT,
          max_packets_per_client_per_second: AGENT_FLOOD_LIMIT,
        },
      },
      {
        dir: ctx.dir,
        name: `dhcp-agent-${run}`,
        ...(ctx.profileDir !== undefined ? { profileDir: ctx.profileDir } : {}),
      },
    );
    return { pid: a.pid, stop: () => a.stop() };
  }
  if (server === 'kea' || server === 'kea-mt') {
    const k = await startKeaBench({
      dir: ctx.dir,
      name: `${server}-${run}`,
      net,
      subnet: `${BASE}.0.0/16`,
      reservations: macs.map((mac, r) => ({ mac, ip: ipFor(r) })),
      bootFile: BOOT_FILE,
      domain: 'bench.example',
      leaseSeconds: LEASE_SECONDS,
      threads: server === 'kea-mt' ? opts.keaThreads : 1,
    });
    return { pid: k.pid, stop: () => k.stop() };
  }
  const d = startDaemon(net.server, 'dnsmasq', [`--conf-file=${path.join(ctx.dir, 'dnsmasq-dhcp.conf')}`]);
  try {
    await waitForListen(net.server, 'udp', 67);
  } catch (err) {
    await d.stop();
    throw new Error(`dnsmasq did not start: ${d.output()}`, { cause: err });
  }
  return {
    pid: d.pid,
    async stop() {
      await d.stop();
      return undefined;
    },
  };
}

async function perfdhcp(
  net: BenchNet,
  args: string[],
  timeoutS: number,
  base = MAC_BASE,
): Promise<PerfdhcpRun> {
  const r = await runTool(
    net.client,
    'perfdhcp',
    // To the server's address, as a relay sends (LAB.md §9.1): Kea's UDP sockets, bound to that address, see
    // no broadcast.
    ['-4', ...PXE_OPTIONS, '-l', net.clientIf, '-b', `mac=${base}`, ...args, net.serverIp],
    timeoutS * 1000,
  );
  if (r.timedOut) return parsePerfdhcp('', null);
  if (r.code !== 0 && r.code !== 3)
    throw new Error(`perfdhcp ${args.join(' ')} exited with ${r.code}: ${r.stderr || r.stdout}`);
  return parsePerfdhcp(r.stdout + r.stderr, r.code);
}

/** The namespace's UDP counters (/proc/net/snmp is per network namespace); undefined if unreadable. */
async function udpCounters(ns: string): Promise<Record<string, number> | undefined> {
  const r = await runTool(ns, 'cat', ['/proc/net/snmp'], 5000);
  const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  if (!names || !values) return undefined;
  const v = values.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(
    names
      .split(/\s+/)
      .slice(1)
      .map((k, i) => [k, v[i] ?? NaN]),
  );
}

async function measureServer(
  server: ServerName,
  run: number,
  dataDir: string,
  net: BenchNet,
  macs: string[],
  opts: DhcpOptions,
  ctx: BenchContext,
): Promise<ServerRun> {
  const s = await startServer(server, run, dataDir, net, macs, opts, ctx);
  const cpu0 = cpuSeconds(s.pid);
  const udp0 = await udpCounters(net.server);
  const out: ServerRun = {
    burstSeconds: null,
    burstResent: null,
    maxRate: null,
    rateAtMax: null,
    peakAcksPerSecond: null,
    capped: false,
    clientLimited: false,
    steps: [],
    latency: { d2o: [], r2a: [], ok: false },
    cpuSeconds: null,
    rcvbufDrops: null,
  };
  try {
    if (opts.warmupClients > 0) {
      const rate = String(Math.min(100, opts.warmupClients));
      await perfdhcp(net, ['-R', String(opts.warmupClients), '-r', rate, '-p', '2'], 20, WARMUP_MAC_BASE);
      await sleep(300);
    }
    const burst = await perfdhcp(
      net,
      ['-R', String(opts.burstClients), '--scenario', 'avalanche'],
      opts.burstTimeoutS,
    );
    out.burstSeconds = burst.provisionedClients === opts.burstClients ? burst.provisionSeconds : null;
    out.burstResent = burst.resent;
    await sleep(500);

    // exit-wait-time (-W, µs) lets answers to the last packets arrive before perfdhcp counts them as drops.
    const step = async (rate: number): Promise<Step> => {
      const r = await perfdhcp(
        net,
        ['-R', String(opts.clients), '-r', String(rate), '-p', String(opts.stepSeconds), '-W', '500000'],
        opts.stepSeconds + 15,
      );
      // perfdhcp's own "Rate" divides by its whole run time, exit wait included: count ACKs per test second.
      const achieved = r.request ? r.request.received / opts.stepSeconds : null;
      const st: Step = { rate, ok: noDrops(r), achieved, discover: r.discover, request: r.request };
      out.steps.push(st);
      if (achieved !== null) out.peakAcksPerSecond = Math.max(out.peakAcksPerSecond ?? 0, achieved);
      if (r.discover && r.discover.sent < rate * opts.stepSeconds * 0.85) out.clientLimited = true;
      await sleep(300);
      return st;
    };
    let good: Step | undefined;
    let badRate = Infinity;
    for (let rate = opts.startRate; rate <= opts.maxRate; rate *= 2) {
      const st = await step(rate);
      if (!st.ok) {
        badRate = rate;
        break;
      }
      good = st;
    }
    out.capped = badRate === Infinity;
    for (let i = 0; i < opts.bisectSteps && badRate !== Infinity; i++) {
      const low = good?.rate ?? 0;
      if (low > 0 && (badRate - low) / low <= 0.1) break;
      const mid = Math.round((low + badRate) / 2);
      if (mid === low || mid === badRate) break;
      const st = await step(mid);
      if (st.ok) good = st;
      else badRate = mid;
    }
    out.maxRate = good?.rate ?? null;
    out.rateAtMax = good?.achieved ?? null;

    const lat = await perfdhcp(
      net,
      [
        '-R',
        String(opts.clients),
        '-r',
        String(opts.latencyRate),
        '-p',
        String(opts.latencySeconds),
        '-W',
        '500000',
        '-x',
        't',
      ],
      opts.latencySeconds + 15,
    );
    out.latency = { d2o: lat.discoverDelaysMs, r2a: lat.requestDelaysMs, ok: noDrops(lat) };
  } finally {
    const cpu1 = cpuSeconds(s.pid);
    out.cpuSeconds = cpu0 !== null && cpu1 !== null ? Math.round((cpu1 - cpu0) * 100) / 100 : null;
    const udp1 = await udpCounters(net.server);
    const [r0, r1] = [udp0?.RcvbufErrors, udp1?.RcvbufErrors];
    out.rcvbufDrops = r0 !== undefined && r1 !== undefined ? r1 - r0 : null;
    const serverStats = await s.stop();
    if (serverStats !== undefined) out.serverStats = serverStats;
  }
  return out;
}

function summarize(
  servers: ServerName[],
  runs: Record<ServerName, ServerRun[]>,
  opts: DhcpOptions,
  durationS: number,
): BenchmarkResult {
  const refs = servers.filter((s) => s !== 'vaquero');
  const pick = (f: (r: ServerRun) => number | null) => ({
    vaquero: runs.vaquero.map(f),
    refs: Object.fromEntries(refs.map((s) => [s, runs[s].map(f)])),
  });
  const row = (spec: Parameters<typeof makeRow>[1], f: (r: ServerRun) => number | null) => {
    const p = pick(f);
    return makeRow('dhcp', spec, p.vaquero, p.refs);
  };
  // Percentiles of the answered exchanges; a latency run with drops is named in the notes.
  const lat = (which: 'd2o' | 'r2a', p: number) => (r: ServerRun) => percentile(r.latency[which], p);
  const rows = [
    row(
      { case: 'highest rate with no drops', metric: 'rate', unit: 'DORA/s', better: 'higher' },
      (r) => r.maxRate,
    ),
    row(
      { case: 'highest rate with no drops', metric: 'achieved', unit: 'DORA/s', better: 'higher' },
      (r) => r.rateAtMax,
    ),
    row(
      { case: 'any rate (saturated)', metric: 'peak ACKs', unit: '/s', better: 'higher' },
      (r) => r.peakAcksPerSecond,
    ),
    row(
      { case: `DISCOVER→OFFER at ${opts.latencyRate}/s`, metric: 'p50', unit: 'ms', better: 'lower' },
      lat('d2o', 50),
    ),
    row(
      { case: `DISCOVER→OFFER at ${opts.latencyRate}/s`, metric: 'p99', unit: 'ms', better: 'lower' },
      lat('d2o', 99),
    ),
    row(
      { case: `REQUEST→ACK at ${opts.latencyRate}/s`, metric: 'p50', unit: 'ms', better: 'lower' },
      lat('r2a', 50),
    ),
    row(
      { case: `REQUEST→ACK at ${opts.latencyRate}/s`, metric: 'p99', unit: 'ms', better: 'lower' },
      lat('r2a', 99),
    ),
    row(
      {
        case: `rack power-on, ${opts.burstClients} clients`,
        metric: 'all leased',
        unit: 's',
        better: 'lower',
      },
      (r) => r.burstSeconds,
    ),
    row(
      {
        case: `rack power-on, ${opts.burstClients} clients`,
        metric: 'retransmissions',
        unit: 'packets',
        better: 'lower',
      },
      (r) => r.burstResent,
    ),
  ];
  const notes: string[] = [];
  const limited = runs.vaquero.reduce(
    (n, r) =>
      n +
      Number(
        (r.serverStats?.services as { dhcp?: { rateLimited?: number } } | undefined)?.dhcp?.rateLimited ?? 0,
      ),
    0,
  );
  if (limited > 0)
    notes.push(
      `vaquero: ${limited} packets refused by the agent's flood limits (both set to ${AGENT_FLOOD_LIMIT} packets/s here): those clients lost an exchange to them, not to the CPU`,
    );
  if (servers.includes('kea-mt'))
    notes.push(
      `kea-mt: kea-dhcp4 with multi-threading on (${opts.keaThreads} packet threads), an extra beside the single-threaded kea (Kea 2.2's default)`,
    );
  for (const s of refs.filter((r) => r.startsWith('kea'))) {
    // Kea counts what its sockets or queue dropped: such drops are the server's, not perfdhcp's.
    const dropped = runs[s].reduce(
      (n, r) => n + Number((r.serverStats as Record<string, number> | undefined)?.['pkt4-receive-drop'] ?? 0),
      0,
    );
    if (dropped > 0) notes.push(`${s}: ${dropped} packets dropped by Kea itself (pkt4-receive-drop)`);
  }
  for (const s of servers) {
    const full = runs[s].reduce((n, r) => n + (r.rcvbufDrops ?? 0), 0);
    if (full > 0)
      notes.push(
        `${s}: ${full} datagrams dropped by the kernel because its socket receive buffer was full (behind, or not scheduled)`,
      );
    if (runs[s].some((r) => r.capped))
      notes.push(
        `${s}: no drops up to maxRate ${opts.maxRate}/s in some run: the search cap, not the server, ended it`,
      );
    if (runs[s].some((r) => r.clientLimited))
      notes.push(
        `${s}: perfdhcp sent below the asked rate in some step: the client shares the 2 cores and was a limit`,
      );
    if (runs[s].some((r) => !r.latency.ok))
      notes.push(
        `${s}: drops in the latency run at ${opts.latencyRate}/s in some run (percentiles are of the answered ones)`,
      );
    if (runs[s].some((r) => r.burstSeconds === null))
      notes.push(`${s}: a rack power-on burst did not complete within ${opts.burstTimeoutS} s`);
  }
  return {
    name: 'dhcp',
    params: { ...opts },
    rows,
    details: {
      runs: Object.fromEntries(
        servers.map((s) => [
          s,
          runs[s].map((r) => ({
            ...r,
            latency: { ok: r.latency.ok, d2oSamples: r.latency.d2o.length, r2aSamples: r.latency.r2a.length },
          })),
        ]),
      ),
    },
    notes,
    durationS,
  };
}
