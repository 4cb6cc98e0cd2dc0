// IPv6 router advertisements on the lab bridge (LAB.md §4.4): iPXE solicits a router before it configures
// IPv4 and waits for an answer for seconds. dnsmasq with `enable-ra` and an `ra-only` range answers, and with
// `port=0` and no IPv4 range it serves neither DNS nor DHCP, so it never competes with the agent.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Daemon } from './daemon.ts';
import { startDaemon, waitUntil } from './daemon.ts';

export interface RouterAdverts {
  daemon: Daemon;
  logFile: string;
  stop(): Promise<void>;
}

export function routerAdvertsConfig(bridge: string, dir: string): string {
  return [
    'port=0',
    `interface=${bridge}`,
    'bind-interfaces',
    'enable-ra',
    `dhcp-range=::,constructor:${bridge},ra-only`,
    'log-dhcp',
    `log-facility=${path.join(dir, 'dnsmasq-ra.log')}`,
    // Root keeps the lab's directories readable without opening them to `nobody`.
    'user=root',
    '',
  ].join('\n');
}

/** dnsmasq in the foreground inside the lab namespace, sending RAs on `bridge`. */
export async function startRouterAdverts(spec: {
  ns?: string;
  bridge: string;
  dir: string;
  pidDir?: string;
}): Promise<RouterAdverts> {
  const conf = path.join(spec.dir, 'dnsmasq-ra.conf');
  const logFile = path.join(spec.dir, 'dnsmasq-ra.log');
  await writeFile(conf, routerAdvertsConfig(spec.bridge, spec.dir));
  const daemon = await startDaemon('dnsmasq-ra', 'dnsmasq', ['--keep-in-foreground', `--conf-file=${conf}`], {
    ...(spec.ns !== undefined ? { ns: spec.ns } : {}),
    ...(spec.pidDir !== undefined ? { pidDir: spec.pidDir } : {}),
  });
  try {
    await waitUntil(
      daemon,
      'dnsmasq to start',
      async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('started'),
      10_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { daemon, logFile, stop: () => daemon.stop() };
}
