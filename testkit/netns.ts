// Network namespaces for tests that speak DHCP, TFTP or PXE (LAB.md §1): every packet stays inside namespaces
// the test made. Names carry the test process's pid, so a run never touches another run's namespaces, and
// everything made is removed by cleanup() (also registered to run at process exit).
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

let counter = 0;
const made = new Set<string>();

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Fails loudly (not skipped) when the machine cannot run namespace tests. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root (network namespaces); run the suite as root');
}

export function nsName(role: string): string {
  counter++;
  // Interface names are limited to 15 characters; namespace names are not, but stay short and greppable.
  return `vq${process.pid % 100000}${role}${counter}`;
}

export function createNamespace(name: string): void {
  ip('netns', 'add', name);
  made.add(name);
  // DHCP client scripts write /etc/resolv.conf; `ip netns exec` bind-mounts this one over it instead.
  mkdirSync(`/etc/netns/${name}`, { recursive: true });
  writeFileSync(`/etc/netns/${name}/resolv.conf`, '# vaquero test namespace\n');
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

export function deleteNamespace(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    // Already gone.
  }
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  made.delete(name);
}

export interface VethPair {
  server: string;
  client: string;
  /** Interface names inside each namespace. */
  serverIf: string;
  clientIf: string;
  /** The server side's address, e.g. 10.77.5.1 (a /24). */
  serverIp: string;
  prefix: string;
  cleanup(): void;
}

/**
 * Two namespaces joined by a veth: `server` gets `<prefix>.1/24`, `client` starts with no address. The server
 * namespace may bind ports below 1024 unprivileged and routes limited broadcast out of its interface.
 *
 * `serverNs` puts the server end into an existing namespace instead (a multi-homed server: one pair per leg);
 * cleanup() then removes only the client namespace. `broadcastRoute: false` leaves out the 255.255.255.255/32
 * route (there can be only one per namespace, and a server should not need it: LAB.md §7.3).
 */
export function createVethPair(opts: {
  prefix: string;
  serverNs?: string;
  broadcastRoute?: boolean;
}): VethPair {
  const ownServer = opts.serverNs === undefined;
  const server = opts.serverNs ?? nsName('s');
  const client = nsName('c');
  const serverIf = ownServer ? `${server}v`.slice(-15) : `${client}s`.slice(-15);
  const clientIf = `${client}v`.slice(-15);
  if (ownServer) createNamespace(server);
  createNamespace(client);
  ip('link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf);
  ip('link', 'set', serverIf, 'netns', server);
  ip('link', 'set', clientIf, 'netns', client);
  const serverIp = `${opts.prefix}.1`;
  ip('-n', server, 'addr', 'add', `${serverIp}/24`, 'dev', serverIf);
  ip('-n', server, 'link', 'set', serverIf, 'up');
  ip('-n', client, 'link', 'set', clientIf, 'up');
  if (opts.broadcastRoute !== false) ip('-n', server, 'route', 'add', '255.255.255.255/32', 'dev', serverIf);
  execFileSync('ip', ['netns', 'exec', server, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=0']);
  return {
    server,
    client,
    serverIf,
    clientIf,
    serverIp,
    prefix: opts.prefix,
    cleanup() {
      if (ownServer) deleteNamespace(server);
      deleteNamespace(client);
    },
  };
}

export interface Lan {
  /** Namespace holding the bridge; nothing else runs there. */
  hub: string;
  bridge: string;
  /** One namespace per role, each with one veth (`ifname`) whose peer is a port of the bridge. */
  members: Record<string, { ns: string; ifname: string }>;
  cleanup(): void;
}

/**
 * One broadcast domain shared by several namespaces (LAB.md §4.6: a DHCP server and a proxy cannot share a
 * namespace, so each gets its own on a bridge). Members start without addresses; see addAddress.
 */
export function createLan(roles: string[]): Lan {
  const hub = nsName('h');
  const bridge = `${hub}b`.slice(-15);
  createNamespace(hub);
  const members: Lan['members'] = {};
  const cleanup = (): void => {
    for (const m of Object.values(members)) deleteNamespace(m.ns);
    deleteNamespace(hub);
  };
  try {
    ip('-n', hub, 'link', 'add', bridge, 'type', 'bridge');
    ip('-n', hub, 'link', 'set', bridge, 'up');
    for (const role of roles) {
      const ns = nsName(role.replace(/[^a-z]/g, '').slice(0, 3) || 'm');
      const ifname = `${ns}v`.slice(-15);
      const port = `${ns}p`.slice(-15);
      createNamespace(ns);
      members[role] = { ns, ifname };
      ip('link', 'add', ifname, 'type', 'veth', 'peer', 'name', port);
      ip('link', 'set', ifname, 'netns', ns);
      ip('link', 'set', port, 'netns', hub);
      ip('-n', hub, 'link', 'set', port, 'master', bridge);
      ip('-n', hub, 'link', 'set', port, 'up');
      ip('-n', ns, 'link', 'set', ifname, 'up');
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return { hub, bridge, members, cleanup };
}

/** Sets an interface's MAC (a DHCP client's identity); the link is cycled so every driver accepts it. */
export function setLinkAddress(ns: string, ifname: string, mac: string): void {
  ip('-n', ns, 'link', 'set', ifname, 'down');
  ip('-n', ns, 'link', 'set', ifname, 'address', mac);
  ip('-n', ns, 'link', 'set', ifname, 'up');
}

export function flushAddresses(ns: string, ifname: string): void {
  ip('-n', ns, 'addr', 'flush', 'dev', ifname);
}

/** Lets a plain UDP socket in `ns` send to 255.255.255.255 before the interface has an address. */
export function addBroadcastRoute(ns: string, ifname: string): void {
  ip('-n', ns, 'route', 'add', '255.255.255.255/32', 'dev', ifname);
}

/** Gives an interface inside a namespace a static address, e.g. `10.77.5.2/24` for a client that needs no DHCP. */
export function addAddress(ns: string, ifname: string, cidr: string): void {
  ip('-n', ns, 'addr', 'add', cidr, 'dev', ifname);
}

/**
 * Runs a TypeScript file with node + tsx inside a namespace, with an IPC channel (`process.send` in the child,
 * 'message' events here). `ip netns exec` execs in place, so the returned pid is the node process itself.
 */
export function spawnNodeInNs(ns: string, script: string, args: string[] = []): ChildProcess {
  return spawnInNs(ns, process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
}

/** Runs a command inside a namespace. The caller ends it (by its pid) or waits for it. */
export function spawnInNs(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Runs a command inside a namespace to completion; resolves with its exit code and output. */
export function runInNs(
  ns: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnInNs(ns, cmd, args, { env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

process.on('exit', () => {
  for (const name of [...made]) deleteNamespace(name);
});
