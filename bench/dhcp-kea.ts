// ISC Kea (kea-dhcp4, Kea 2.2 from Debian's kea-dhcp4-server) as a reference of the DHCP benchmark: the
// configuration of lab/kea.ts (its keaConfig: the interface, the subnet's routers and DNS, the log file) made into
// a static server for the benchmark's clients: the same reservations as the agent and dnsmasq (MAC → address), no
// dynamic pool (dnsmasq's `static` range), the same boot file and next server, the memfile lease database with
// its lease file written (`persist`, as a site runs it), and a log at WARN (INFO writes a line per lease).
// Single-threaded as Kea 2.2 ships, or multi-threaded (`threads`), Kea's own option for more than one core.
// Started in the foreground by the benchmark's own process tracking (bench/lib/lab.ts), ended by its pid; its
// counters are read from its control socket before it stops.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { keaConfig } from '../lab/kea.ts';
import type { BenchNet } from './lib/lab.ts';
import { startDaemon, waitForListen } from './lib/lab.ts';

export interface KeaBenchSpec {
  /** Config, lease file, log, pid and lock files, control socket. */
  dir: string;
  /** A name for this instance's files (one per run). */
  name: string;
  net: BenchNet;
  /** The /16 (or other) CIDR every reservation is in, e.g. 10.79.0.0/16. */
  subnet: string;
  reservations: { mac: string; ip: string }[];
  bootFile: string;
  domain: string;
  leaseSeconds: number;
  /** 1: single-threaded (Kea 2.2's default); more: multi-threading with that many packet threads. */
  threads: number;
}

export interface KeaBench {
  pid: number;
  leaseFile: string;
  /** Stops it (SIGTERM, then SIGKILL) and returns its packet counters (pkt4-*) as it last reported them. */
  stop(): Promise<Record<string, number> | undefined>;
}

type KeaDhcp4 = Record<string, unknown> & { subnet4: Record<string, unknown>[] };

export function keaBenchConfig(
  spec: KeaBenchSpec,
  files: { leaseFile: string; logFile: string; socket: string },
): unknown {
  // The lab's config needs a pool; the benchmark's clients all have reservations, so it is dropped below.
  const base = (
    keaConfig(
      {
        dir: spec.dir,
        ns: spec.net.server,
        ifname: spec.net.serverIf,
        subnet: spec.subnet,
        pool: [spec.net.serverIp, spec.net.serverIp],
        routers: [spec.net.serverIp],
        dns: [spec.net.serverIp],
        leaseSeconds: spec.leaseSeconds,
      },
      files.logFile,
    ) as { Dhcp4: KeaDhcp4 }
  ).Dhcp4;
  const subnet = { ...base.subnet4[0] };
  delete subnet.pools;
  return {
    Dhcp4: {
      ...base,
      // Every client comes through a relay (perfdhcp -l): UDP sockets, Kea's advice for relayed traffic.
      'interfaces-config': { interfaces: [spec.net.serverIf], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: files.leaseFile, 'lfc-interval': 3600 },
      'host-reservation-identifiers': ['hw-address'],
      'control-socket': { 'socket-type': 'unix', 'socket-name': files.socket },
      'multi-threading':
        spec.threads > 1
          ? { 'enable-multi-threading': true, 'thread-pool-size': spec.threads, 'packet-queue-size': 64 }
          : { 'enable-multi-threading': false },
      subnet4: [
        {
          ...subnet,
          // No pool: every reservation is outside one, which lets Kea skip the pool checks (its advice).
          'reservations-out-of-pool': true,
          'next-server': spec.net.serverIp,
          'boot-file-name': spec.bootFile,
          'option-data': [
            ...((subnet['option-data'] as unknown[] | undefined) ?? []),
            { name: 'domain-name', data: spec.domain },
          ],
          reservations: spec.reservations.map((r) => ({ 'hw-address': r.mac, 'ip-address': r.ip })),
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: files.logFile }], severity: 'WARN' }],
    },
  };
}

/** One command over Kea's control socket (newline-free JSON in, JSON out when it closes the connection). */
function keaCommand(socket: string, command: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(socket);
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`kea ${command}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    c.on('connect', () => c.write(JSON.stringify({ command })));
    c.on('data', (d) => {
      data += d.toString();
      try {
        const parsed = JSON.parse(data) as unknown;
        clearTimeout(timer);
        c.end();
        resolve(parsed);
      } catch {
        // not all of it yet
      }
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** pkt4-* counters (received, sent, offers, acks, receive drops, parse failures) from `statistic-get-all`. */
export function packetCounters(answer: unknown): Record<string, number> {
  const args = (answer as { arguments?: Record<string, [number, string][]> } | undefined)?.arguments ?? {};
  const out: Record<string, number> = {};
  for (const [name, samples] of Object.entries(args)) {
    if (!name.startsWith('pkt4-')) continue;
    const v = samples[0]?.[0];
    if (typeof v === 'number') out[name] = v;
  }
  return out;
}

export async function startKeaBench(spec: KeaBenchSpec): Promise<KeaBench> {
  const leaseFile = path.join(spec.dir, `${spec.name}-leases4.csv`);
  const logFile = path.join(spec.dir, `${spec.name}.log`);
  // A unix socket path is at most 107 bytes: the run's temp dir is short.
  const socket = path.join(spec.dir, `${spec.name}.sock`);
  const configFile = path.join(spec.dir, `${spec.name}.json`);
  writeFileSync(configFile, JSON.stringify(keaBenchConfig(spec, { leaseFile, logFile, socket }), null, 2));
  const d = startDaemon(spec.net.server, 'kea-dhcp4', ['-c', configFile], {
    logFile: path.join(spec.dir, `${spec.name}.out`),
    // Its pid and lock files beside the rest, never in /run (no other Kea sees them).
    env: { ...process.env, KEA_PIDFILE_DIR: spec.dir, KEA_LOCKFILE_DIR: spec.dir },
  });
  try {
    await waitForListen(spec.net.server, 'udp', 67);
  } catch (err) {
    await d.stop();
    throw new Error(`kea-dhcp4 did not start (see ${logFile})`, { cause: err });
  }
  return {
    pid: d.pid,
    leaseFile,
    async stop() {
      const counters = await keaCommand(socket, 'statistic-get-all').then(packetCounters, () => undefined);
      await d.stop();
      return counters;
    },
  };
}
