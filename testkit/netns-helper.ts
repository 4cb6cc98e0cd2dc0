// What the deploy tests need inside the network namespace their agent containers run in (`podman run --network
// ns:/run/netns/NS`): a process of its own there (`ip netns exec NS node …`, so the test process stays in the
// host's namespace), driven over its IPC channel. It serves:
//   - Temporal's frontend on the namespace's 127.0.0.1:<port>: a TCP listener that hands each connection to a
//     unix socket (visible from every namespace) where the test connects it to the real frontend on the host's
//     loopback (lab/forward.ts). TLS passes through untouched: the agent's mTLS is end to end;
//   - sim hosts behind Redfish BMCs on the namespace's 127.0.0.1 (testkit/sim-redfish.ts), booting through the
//     agent's DHCP (as their relay, sim/sim-dhcp-relay.ts), TFTP and HTTP on the namespace's loopback;
//   - lab machines: a QEMU VM on a tap of the lab bridge, powered by its ipmi_sim on the namespace's 127.0.0.1
//     (lab/machine.ts), and router advertisements on the bridge (lab/router-adverts.ts).
// Every process it starts is ended on `stop`; their pids are reported so that the test can end them should this
// process die first.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveTcpToUnix, serveUnixToTcp } from '../lab/forward.ts';
import type { LabMachine, LabMachineReport, LabMachineSpec } from '../lab/machine.ts';
import { startLabMachine } from '../lab/machine.ts';
import type { RouterAdverts } from '../lab/router-adverts.ts';
import { startRouterAdverts } from '../lab/router-adverts.ts';
import type { SimDelays } from '../sim/sim-delays.ts';
import { SimDhcpRelay } from '../sim/sim-dhcp-relay.ts';
import { SimFleet } from '../sim/sim-fleet.ts';
import { spawnNodeInNs } from './netns.ts';
import type { SimRedfishBmcs, SimRedfishHost } from './sim-redfish.ts';
import { startSimRedfishBmcs } from './sim-redfish.ts';

const SELF = fileURLToPath(import.meta.url);

export interface SimHostsSpec {
  hosts: SimRedfishHost[];
  /** The agent's services on the namespace's loopback. */
  agent: { http: string; tftpPort: number; dhcpPort: number; relayPort: number };
  /** The agent URL the SoT names (rendered scripts point there); sim hosts route it to `agent.http`. */
  sotHttpUrl: string;
  /** The network address of the hosts' subnet (the relay's option 118). */
  subnet: string;
  username: string;
  password: string;
  delays: SimDelays;
}

export interface SimCounts {
  /** Per host: network boots begun, power-ons (either kind), and requests its Redfish BMC served. */
  netboots: Record<string, number>;
  powerOns: Record<string, number>;
  bmcRequests: Record<string, number>;
}

export interface MachineStarted {
  name: string;
  bmcAddress: string;
  bmcPid: number;
  credentials: { ref: string; username: string; password: string };
}

type Request =
  | { op: 'sim-hosts'; spec: SimHostsSpec }
  | { op: 'sim-counts' }
  | { op: 'machine'; spec: LabMachineSpec }
  | { op: 'machine-report'; name: string }
  | { op: 'router-adverts'; bridge: string; dir: string }
  | { op: 'expose'; port: number; socket: string }
  | { op: 'stop' };

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface NetnsHelper {
  pid: number;
  /** 127.0.0.1:<port> in the namespace, where the frontend is forwarded (when asked for). */
  temporalAddress?: string;
  simHosts(spec: SimHostsSpec): Promise<{ urls: Record<string, string> }>;
  simCounts(): Promise<SimCounts>;
  machine(spec: LabMachineSpec): Promise<MachineStarted>;
  machineReport(name: string): Promise<LabMachineReport>;
  routerAdverts(bridge: string, dir: string): Promise<{ pid: number }>;
  /**
   * The namespace's 127.0.0.1:`port` on the host's loopback: returns the host port (lab/forward.ts, both ways
   * through the unix socket `socket`).
   */
  expose(port: number, socket: string): Promise<number>;
  /** Its output so far (stderr and stdout), for a failure's message. */
  output(): string;
  /** Ends everything it started, then itself (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

/**
 * Starts the helper inside `ns`. With `temporal`, the namespace's 127.0.0.1:`temporal.port` reaches the socket
 * `temporal.socket`, which the caller serves (lab/forward.ts serveUnixToTcp).
 */
export async function startNetnsHelper(
  ns: string,
  opts: { temporal?: { port: number; socket: string } } = {},
): Promise<NetnsHelper> {
  const child: ChildProcess = spawnNodeInNs(ns, SELF, [JSON.stringify(opts)]);
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: Reply | { ready: true }) => {
    if ('ready' in m) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error));
  });
  child.once('exit', (code, signal) => {
    for (const p of pending.values())
      p.reject(new Error(`netns helper exited (${signal ?? code}):\n${out.slice(-4000)}`));
    pending.clear();
  });
  const call = <T>(req: Request): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...req });
    });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: { ready?: true }) => {
      if (m.ready) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    child.once('exit', () => reject(new Error(`netns helper exited at start:\n${out}`)));
  });
  let stopping: Promise<void> | undefined;
  const exposed: net.Server[] = [];
  return {
    pid: child.pid!,
    ...(opts.temporal ? { temporalAddress: `127.0.0.1:${opts.temporal.port}` } : {}),
    simHosts: (spec) => call({ op: 'sim-hosts', spec }),
    simCounts: () => call({ op: 'sim-counts' }),
    machine: (spec) => call({ op: 'machine', spec }),
    machineReport: (name) => call({ op: 'machine-report', name }),
    routerAdverts: (bridge, dir) => call({ op: 'router-adverts', bridge, dir }),
    async expose(port, socket) {
      await call({ op: 'expose', port, socket });
      const server = net.createServer((c) => {
        const u = net.connect(socket);
        c.pipe(u);
        u.pipe(c);
        for (const [a, b] of [
          [c, u],
          [u, c],
        ] as const) {
          a.once('error', () => b.destroy());
          a.once('close', () => b.destroy());
        }
      });
      exposed.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      return (server.address() as net.AddressInfo).port;
    },
    output: () => out,
    stop() {
      stopping ??= (async () => {
        for (const server of exposed.splice(0)) {
          server.close();
          server.unref();
        }
        if (child.exitCode === null && child.signalCode === null) {
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await call({ op: 'stop' }).catch(() => undefined);
          await exited;
          clearTimeout(timer);
        }
        process.removeListener('exit', reap);
      })();
      return stopping;
    },
  };
}

/** The helper itself, inside the namespace. */
async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as { temporal?: { port: number; socket: string } };
  const stops: (() => Promise<unknown>)[] = [];
  if (opts.temporal) await serveTcpToUnix(opts.temporal.port, opts.temporal.socket);
  let fleet: SimFleet | undefined;
  let bmcs: SimRedfishBmcs | undefined;
  const machines = new Map<string, LabMachine>();
  const log = (m: string) => process.stderr.write(`${m}\n`);

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'sim-hosts': {
        if (fleet) throw new Error('sim hosts already started');
        const s = req.spec;
        const relay = await SimDhcpRelay.start({
          server: { host: '127.0.0.1', port: s.agent.dhcpPort },
          address: '127.0.0.1',
          port: s.agent.relayPort,
          subnetOf: () => s.subnet,
        });
        stops.push(() => relay.close());
        const f = new SimFleet({
          delays: s.delays,
          events: {
            report: () => Promise.reject(new Error('the agent observes these hosts: they report nothing')),
          },
          network: {
            http: s.agent.http,
            tftp: { host: '127.0.0.1', port: s.agent.tftpPort },
            dhcp: (mac, client) => relay.exchange(mac, client),
            sotHttpUrl: s.sotHttpUrl.replace(/\/+$/, ''),
          },
          log,
        });
        fleet = f;
        stops.push(async () => f.stop());
        bmcs = await startSimRedfishBmcs({
          driver: f.driver,
          hosts: s.hosts,
          username: s.username,
          password: s.password,
        });
        const b = bmcs;
        stops.push(() => b.close());
        return { urls: b.urls };
      }
      case 'sim-counts': {
        if (!fleet || !bmcs) throw new Error('no sim hosts');
        const byHost = (m: Map<string, number>) =>
          Object.fromEntries([...m].map(([k, v]) => [k.split('/').pop()!, v]));
        return {
          netboots: byHost(fleet.netboots),
          powerOns: byHost(fleet.powerOns),
          bmcRequests: { ...bmcs.requests },
        } satisfies SimCounts;
      }
      case 'machine': {
        const m = await startLabMachine(req.spec);
        machines.set(m.name, m);
        stops.push(() => m.stop());
        return {
          name: m.name,
          bmcAddress: m.bmc.address,
          bmcPid: m.bmc.pid,
          credentials: m.credentials,
        } satisfies MachineStarted;
      }
      case 'machine-report': {
        const m = machines.get(req.name);
        if (!m) throw new Error(`no machine ${req.name}`);
        return m.report();
      }
      case 'router-adverts': {
        const ra: RouterAdverts = await startRouterAdverts({ bridge: req.bridge, dir: req.dir });
        stops.push(() => ra.stop());
        return { pid: ra.daemon.pid };
      }
      case 'expose': {
        const server = await serveUnixToTcp(req.socket, req.port);
        stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
        return {};
      }
      case 'stop': {
        for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
        return {};
      }
    }
  };

  process.on('message', (m: Request & { id: number }) => {
    handle(m).then(
      (result) => {
        process.send?.({ id: m.id, ok: true, result } satisfies Reply);
        if (m.op === 'stop') process.disconnect?.();
      },
      (err: unknown) =>
        process.send?.({
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies Reply),
    );
  });
  // The test process gone (its IPC channel closed): end what was started here, then exit.
  process.on('disconnect', () => {
    void (async () => {
      for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
      process.exit(0);
    })();
  });
  process.send?.({ ready: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
