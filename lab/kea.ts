// kea-dhcp4 as a lab site's own DHCP server (LAB.md §4.6), beside an agent in proxy mode: it gives the
// addresses, the agent only boot information. It runs in the lab's router namespace on the veth bridged in,
// with its pid and lock files in the lab directory so that runs never see each other's.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Daemon } from './daemon.ts';
import { startDaemon, waitUntil } from './daemon.ts';

export interface KeaSpec {
  /** Where the config, log, pid and lock files go. */
  dir: string;
  /** The router namespace and its interface on the lab bridge. */
  ns: string;
  ifname: string;
  /** e.g. 10.77.9.0/24 */
  subnet: string;
  /** e.g. ["10.77.9.200", "10.77.9.220"] */
  pool: [string, string];
  routers?: string[];
  dns?: string[];
  leaseSeconds?: number;
}

export interface KeaLease {
  mac: string;
  ip: string;
  /** The log line's own timestamp (local time, as kea wrote it). */
  time: string;
}

export interface Kea {
  daemon: Daemon;
  configFile: string;
  logFile: string;
  /** Leases kea reports to have given (DHCP4_LEASE_ALLOC), in order. */
  leases(): Promise<KeaLease[]>;
  stop(): Promise<void>;
}

export function keaConfig(spec: KeaSpec, logFile: string): unknown {
  const options = [
    ...(spec.routers?.length ? [{ name: 'routers', data: spec.routers.join(', ') }] : []),
    ...(spec.dns?.length ? [{ name: 'domain-name-servers', data: spec.dns.join(', ') }] : []),
  ];
  return {
    Dhcp4: {
      'interfaces-config': { interfaces: [spec.ifname], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': spec.leaseSeconds ?? 600,
      subnet4: [
        {
          id: 1,
          subnet: spec.subnet,
          pools: [{ pool: `${spec.pool[0]} - ${spec.pool[1]}` }],
          'option-data': options,
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: logFile }], severity: 'INFO' }],
    },
  };
}

export function parseKeaLeases(log: string): KeaLease[] {
  const out: KeaLease[] = [];
  for (const line of log.split('\n')) {
    // 2026-11-24 22:09:06.792 INFO  [kea-dhcp4.leases/…] DHCP4_LEASE_ALLOC [hwtype=1 52:54:00:…], cid=[…], tid=0x…: lease 10.77.9.200 has been allocated …
    const m =
      /^(\S+ \S+) .*DHCP4_LEASE_ALLOC \[hwtype=\d+ ([0-9a-f:]{17})\].*: lease (\d+\.\d+\.\d+\.\d+) has been allocated/.exec(
        line,
      );
    if (m) out.push({ time: m[1]!, mac: m[2]!, ip: m[3]! });
  }
  return out;
}

export async function startKea(spec: KeaSpec, opts: { pidDir?: string } = {}): Promise<Kea> {
  const configFile = path.join(spec.dir, 'kea-dhcp4.json');
  const logFile = path.join(spec.dir, 'kea.log');
  await writeFile(configFile, JSON.stringify(keaConfig(spec, logFile), null, 2));
  const env = { ...process.env, KEA_PIDFILE_DIR: spec.dir, KEA_LOCKFILE_DIR: spec.dir };
  const daemon = await startDaemon('kea-dhcp4', 'kea-dhcp4', ['-c', configFile], {
    ns: spec.ns,
    env,
    ...(opts.pidDir !== undefined ? { pidDir: opts.pidDir } : {}),
  });
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  try {
    // Sockets are open once it says so; a DISCOVER before that would go unanswered.
    await waitUntil(
      daemon,
      'kea-dhcp4 to start',
      async () => (await log()).includes('DHCP4_STARTED'),
      15_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return {
    daemon,
    configFile,
    logFile,
    leases: async () => parseKeaLeases(await log()),
    stop: () => daemon.stop(),
  };
}
