// The DHCP test lab (LAB.md §1-3, §4.6, §7): the agent's DHCP server in a namespace (server-child.ts), real
// clients (udhcpc, dhclient, dhcpcd, perfdhcp, kea as the site server) and a plain UDP peer (udp-child.ts) in
// others. Every process is started here and ended here by its pid; scratch files live in one temp dir.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Binding } from '../../../../agent/dhcp/bindings.ts';
import type { DhcpEvent, DhcpStats } from '../../../../agent/dhcp/server.ts';
import type { AgentSubnet } from '../../../../domain/site-model.ts';
import {
  addAddress,
  addBroadcastRoute,
  flushAddresses,
  runInNs,
  setLinkAddress,
  spawnInNs,
  spawnNodeInNs,
} from '../../../../testkit/netns.ts';
import type { VethPair } from '../../../../testkit/netns.ts';
import type { Datagram, FromServer, FromUdp, ServerSpec, ToServer, ToUdp } from './protocol.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

// Children still running when the test process exits (an assertion threw past a finally, a signal) are ended
// here, each by its own pid, so none outlives the run inside a deleted namespace.
const running = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Request/reply over a child's IPC channel; messages without an id go to `onOther`. */
class Rpc<TReq extends { id: number }, TRes> {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: TRes) => void>();
  stderr = '';

  constructor(
    readonly child: ChildProcess,
    onOther: (m: TRes) => void = () => undefined,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    child.stdout?.resume();
    child.on('message', (raw) => {
      const m = raw as TRes & { id?: number };
      if (typeof m.id !== 'number') return onOther(m);
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m);
    });
    child.once('exit', () => {
      for (const done of this.waiting.values())
        done({ ok: false, error: `helper exited: ${this.stderr}` } as TRes);
      this.waiting.clear();
    });
  }

  call(req: WithoutId<TReq>, timeoutMs = 15_000): Promise<TRes> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error(`helper is gone: ${this.stderr}`));
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply to ${JSON.stringify(req).slice(0, 100)}; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.child.send({ ...req, id });
    });
  }

  /** Ends the helper: closes the channel, then SIGKILL by pid if it has not exited within a second. */
  async end(): Promise<void> {
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    await exited;
    clearTimeout(timer);
  }
}

function check<T extends { ok: boolean }>(m: T): Extract<T, { ok: true }> {
  if (!m.ok) throw new Error(`helper failed: ${(m as unknown as { error: string }).error}`);
  return m as Extract<T, { ok: true }>;
}

export interface AgentHandle {
  events: DhcpEvent[];
  logs: string[];
  stats(): Promise<DhcpStats>;
  bindings(): Promise<Binding[]>;
  /** Still answering over IPC (the process did not crash). */
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startAgent(ns: string, spec: ServerSpec): Promise<AgentHandle> {
  const events: DhcpEvent[] = [];
  const logs: string[] = [];
  const rpc = new Rpc<ToServer, FromServer>(track(spawnNodeInNs(ns, join(here, 'server-child.ts'))), (m) => {
    if ('event' in m) events.push(m.event);
    else if ('log' in m) logs.push(m.log);
  });
  try {
    check((await rpc.call({ op: 'start', spec }, 30_000)) as Extract<FromServer, { ok: boolean }>);
  } catch (err) {
    await rpc.end();
    throw err;
  }
  return {
    events,
    logs,
    async stats() {
      const m = check((await rpc.call({ op: 'stats' })) as Extract<FromServer, { ok: boolean }>);
      return m.stats!;
    },
    async bindings() {
      const m = check((await rpc.call({ op: 'bindings' })) as Extract<FromServer, { ok: boolean }>);
      return m.bindings ?? [];
    },
    alive: () => rpc.child.connected && rpc.child.exitCode === null,
    async stop() {
      if (rpc.child.connected) await rpc.call({ op: 'stop' }).catch(() => undefined);
      await rpc.end();
    },
  };
}

export interface UdpPeer {
  open(name: string, address: string, port: number): Promise<void>;
  send(
    name: string,
    to: string,
    port: number,
    packets: Buffer[],
    gapMs?: number,
  ): Promise<{ sent: number; errors: string[] }>;
  collect(name: string, waitMs: number): Promise<Datagram[]>;
  stop(): Promise<void>;
}

/**
 * A raw DHCP client on the client side of `pair`: address <prefix>.3, a broadcast route, and socket `c` bound to
 * 0.0.0.0:68, so hand-made packets reach the agent as a real client's would.
 */
export async function startDhcpClientPeer(pair: VethPair, prefix: string): Promise<UdpPeer> {
  addAddress(pair.client, pair.clientIf, `${prefix}.3/24`);
  addBroadcastRoute(pair.client, pair.clientIf);
  const peer = await startUdpPeer(pair.client);
  await peer.open('c', '0.0.0.0', 68);
  return peer;
}

export async function startUdpPeer(ns: string): Promise<UdpPeer> {
  const rpc = new Rpc<ToUdp, FromUdp>(track(spawnNodeInNs(ns, join(here, 'udp-child.ts'))));
  return {
    async open(name, address, port) {
      check(await rpc.call({ op: 'open', name, address, port }, 30_000));
    },
    async send(name, to, port, packets, gapMs) {
      const hex = packets.map((p) => p.toString('hex'));
      const m = check(
        await rpc.call(
          { op: 'send', name, to, port, packets: hex, ...(gapMs !== undefined ? { gapMs } : {}) },
          60_000,
        ),
      );
      return { sent: m.sent ?? 0, errors: m.errors ?? [] };
    },
    async collect(name, waitMs) {
      return check(await rpc.call({ op: 'collect', name, waitMs }, waitMs + 10_000)).received ?? [];
    },
    stop: () => rpc.end(),
  };
}

/** A long-running program in a namespace (kea, tcpdump), ended by `stop()` with SIGTERM then SIGKILL, by pid. */
export function startProgram(
  ns: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output(): string; stop(): Promise<void> } {
  const child = track(spawnInNs(ns, cmd, args, { env }));
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * tcpdump writing `filter` on `ifname` to `pcap`, in immediate mode so nothing waits in its ring buffer when it is
 * stopped; resolves once it is listening.
 */
export async function startCapture(
  ns: string,
  ifname: string,
  pcap: string,
  filter: string,
): Promise<{ stop(): Promise<void> }> {
  const cap = startProgram(ns, 'tcpdump', [
    '-i',
    ifname,
    '-n',
    '--immediate-mode',
    '-U',
    '-B',
    '4096',
    '-w',
    pcap,
    filter,
  ]);
  for (let i = 0; i < 50 && !cap.output().includes('listening on'); i++) await sleep(100);
  if (!cap.output().includes('listening on')) {
    await cap.stop();
    throw new Error(`tcpdump did not start: ${cap.output()}`);
  }
  return cap;
}

/** Scratch directory for scripts, configs and lease files. */
export function scratch(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vq-dhcp-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function labSubnet(prefix: string, id = 'lab'): AgentSubnet {
  return {
    id,
    cidr: `${prefix}.0/24`,
    netmask: '255.255.255.0',
    gateway: `${prefix}.1`,
    dns: [`${prefix}.53`, `${prefix}.54`],
    ntp: [`${prefix}.123`],
    domain: 'lab.example',
    dhcpOptions: [{ code: 224, type: 'string', value: 'vaquero-test' }],
  };
}

export async function addressesOf(ns: string, ifname: string): Promise<string[]> {
  const r = await runInNs(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', ifname], { timeoutMs: 5000 });
  return [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]!);
}

export interface UdhcpcResult {
  code: number | null;
  /** The script's environment at "bound": ip, router, dns, domain, siaddr, boot_file, optNNN … */
  env?: Record<string, string>;
  output: string;
}

/**
 * busybox udhcpc, once (-q), in the foreground (-f), giving up after `tries` DISCOVERs one second apart (-n).
 * Its script records the environment udhcpc hands over and configures the address.
 */
export async function runUdhcpc(
  ns: string,
  ifname: string,
  dir: string,
  opts: {
    vendorClass?: string;
    send?: string[];
    request?: number[];
    tries?: number;
    tag?: string;
    /** Sets the broadcast flag (-B), as PXE ROMs do: servers then broadcast their answers. */
    broadcast?: boolean;
  } = {},
): Promise<UdhcpcResult> {
  const tag = opts.tag ?? 'udhcpc';
  const out = join(dir, `${tag}.env`);
  const script = join(dir, `${tag}.sh`);
  rmSync(out, { force: true });
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'case "$1" in',
      `  bound|renew) env > "${out}.tmp" && mv "${out}.tmp" "${out}"; ip addr add "$ip/\${mask:-24}" dev "$interface" ;;`,
      'esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const args = [
    '-i',
    ifname,
    '-n',
    '-q',
    '-f',
    '-t',
    String(opts.tries ?? 4),
    '-T',
    '1',
    '-A',
    '1',
    '-s',
    script,
  ];
  for (const code of opts.request ?? [224]) args.push('-O', String(code));
  if (opts.vendorClass) args.push('-V', opts.vendorClass);
  if (opts.broadcast) args.push('-B');
  for (const x of opts.send ?? []) args.push('-x', x);
  const r = await runInNs(ns, 'udhcpc', args, { timeoutMs: 20_000, env: { PATH: process.env.PATH } });
  const env = existsSync(out) ? parseEnv(readFileSync(out, 'utf8')) : undefined;
  return { code: r.code, ...(env !== undefined ? { env } : {}), output: r.stdout + r.stderr };
}

/** ISC dhclient in the foreground until its lease file holds a lease (then ended by pid); returns that lease. */
export async function runDhclient(ns: string, ifname: string, dir: string): Promise<string> {
  const conf = join(dir, 'dhclient.conf');
  const leases = join(dir, 'dhclient.leases');
  writeFileSync(
    conf,
    [
      'option vaq-test code 224 = text;',
      'timeout 20;',
      'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name, ntp-servers, vaq-test;',
      '',
    ].join('\n'),
  );
  writeFileSync(leases, '');
  const child = track(
    spawnInNs(ns, 'dhclient', [
      '-d',
      '-1',
      '-v',
      '-cf',
      conf,
      '-lf',
      leases,
      '-pf',
      join(dir, 'dhclient.pid'),
      ifname,
    ]),
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const text = readFileSync(leases, 'utf8');
      if (text.includes('fixed-address')) return text;
      await sleep(100);
    }
    throw new Error(`dhclient got no lease (exit ${child.exitCode}): ${output}`);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/**
 * dhcpcd once (-1), IPv4 only, no ARP probe (-A), in the foreground (-B), with our own hook script (-c) that
 * records the variables dhcpcd hands to hooks (new_ip_address, new_routers, new_vaq_test, …). Its lease file
 * lives in /var/lib/dhcpcd and is removed here.
 */
export async function runDhcpcd(
  ns: string,
  ifname: string,
  dir: string,
): Promise<{ code: number | null; vars?: Record<string, string>; output: string }> {
  const conf = join(dir, 'dhcpcd.conf');
  const out = join(dir, 'dhcpcd.env');
  const hook = join(dir, 'dhcpcd-hook.sh');
  rmSync(out, { force: true });
  writeFileSync(
    conf,
    [
      'clientid',
      'define 224 string vaq_test',
      'option domain_name_servers, domain_name, routers, ntp_servers, vaq_test',
      '',
    ].join('\n'),
  );
  writeFileSync(
    hook,
    ['#!/bin/sh', `case "$reason" in BOUND|REBOOT) env > "${out}" ;; esac`, 'exit 0', ''].join('\n'),
  );
  chmodSync(hook, 0o755);
  try {
    const r = await runInNs(
      ns,
      'dhcpcd',
      ['-f', conf, '-c', hook, '-1', '-4', '-A', '-B', '-t', '15', ifname],
      {
        timeoutMs: 25_000,
        env: { PATH: process.env.PATH },
      },
    );
    return {
      code: r.code,
      ...(existsSync(out) ? { vars: parseEnv(readFileSync(out, 'utf8')) } : {}),
      output: r.stdout + r.stderr,
    };
  } finally {
    rmSync(`/var/lib/dhcpcd/${ifname}.lease`, { force: true });
  }
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

export interface ServerOnPairSpec extends Omit<
  ServerSpec,
  'mode' | 'interfaces' | 'subnets' | 'reservations'
> {
  prefix: string;
  /** MAC → the address reserved for it, each a host named `<hostPrefix><i>` (also its hostname). */
  reserved: Readonly<Record<string, string>>;
  hostPrefix: string;
}

/** A server-mode agent on the pair's server side, for one lab subnet, with a reservation per MAC of `reserved`. */
export function startServerOnPair(pair: VethPair, spec: ServerOnPairSpec): Promise<AgentHandle> {
  const { prefix, reserved, hostPrefix, ...rest } = spec;
  return startAgent(pair.server, {
    mode: 'server',
    interfaces: [{ name: pair.serverIf, address: pair.serverIp, cidr: `${pair.serverIp}/24` }],
    subnets: [labSubnet(prefix)],
    reservations: Object.entries(reserved).map(([mac, ipv4], i) => ({
      host: `${hostPrefix}${i}`,
      mac,
      ipv4,
      subnet: 'lab',
      hostname: `${hostPrefix}${i}`,
    })),
    ...rest,
  });
}

/** The client side becomes a new machine: this MAC, and no address left from the previous client. */
export function asClient(pair: VethPair, mac: string): void {
  flushAddresses(pair.client, pair.clientIf);
  setLinkAddress(pair.client, pair.clientIf, mac);
}
