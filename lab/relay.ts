// A real DHCP relay for a relayed lab (LAB.md §9.1): ISC dhcrelay (isc-dhcp-relay) in the router namespace, between
// the VMs' segment (downstream, its address is the giaddr) and the lab bridge where the agent is (upstream). It
// forwards the VMs' requests to the agent with giaddr set and hands the agent's unicast answers back to them.
import path from 'node:path';
import type { Daemon } from './daemon.ts';
import { startDaemon, waitUntil } from './daemon.ts';

export interface LabRelaySpec {
  /** Where its pid file goes. */
  dir: string;
  /** The router namespace. */
  ns: string;
  /** Its interface on the VMs' segment and its interface toward the agent. */
  downstream: string;
  upstream: string;
  /** The agent's address: where requests are forwarded. */
  server: string;
  pidDir?: string;
}

export interface LabRelay {
  daemon: Daemon;
  stop(): Promise<void>;
}

export async function startLabRelay(spec: LabRelaySpec): Promise<LabRelay> {
  // -d: in the foreground (ended by its pid); -id/-iu name the two sides apart, so it never relays back upstream.
  // prettier-ignore
  const args = [
    '-4', '-d',
    '-pf', path.join(spec.dir, 'dhcrelay.pid'),
    '-id', spec.downstream,
    '-iu', spec.upstream,
    spec.server,
  ];
  const daemon = await startDaemon('dhcrelay', 'dhcrelay', args, {
    ns: spec.ns,
    ...(spec.pidDir !== undefined ? { pidDir: spec.pidDir } : {}),
  });
  try {
    // It says "Sending on" once per interface when it listens on both.
    await waitUntil(
      daemon,
      'dhcrelay to listen',
      async () => (daemon.output().match(/Sending on/g) ?? []).length >= 2,
      10_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { daemon, stop: () => daemon.stop() };
}
