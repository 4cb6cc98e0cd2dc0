// The benchmark lab (LAB.md §1): a server namespace and a client namespace joined by one veth, so every packet
// of a benchmark stays inside namespaces it made. Processes started here are tracked and ended by their own pid
// (never by name), also when the runner exits early.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createNamespace, deleteNamespace, nsName } from '../../testkit/netns.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface BenchNet {
  server: string;
  client: string;
  serverIf: string;
  clientIf: string;
  serverIp: string;
  clientIp: string;
  /** Prefix length of both addresses. */
  bits: number;
  cleanup(): void;
}

/**
 * `<base>.0.1/bits` on the server side, `<base>.0.2/bits` on the client side (a DHCP relay needs its own address,
 * LAB.md §3), e.g. base `10.79` with bits 16 for a /16 that holds thousands of reservations.
 */
export function createBenchNet(base: string, bits: number): BenchNet {
  const server = nsName('bs');
  const client = nsName('bc');
  const serverIf = `${server}v`.slice(-15);
  const clientIf = `${client}v`.slice(-15);
  const cleanup = (): void => {
    deleteNamespace(client);
    deleteNamespace(server);
  };
  try {
    createNamespace(server);
    createNamespace(client);
    ip('link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf);
    ip('link', 'set', serverIf, 'netns', server);
    ip('link', 'set', clientIf, 'netns', client);
    ip('-n', server, 'addr', 'add', `${base}.0.1/${bits}`, 'dev', serverIf);
    ip('-n', client, 'addr', 'add', `${base}.0.2/${bits}`, 'dev', clientIf);
    ip('-n', server, 'link', 'set', serverIf, 'up');
    ip('-n', client, 'link', 'set', clientIf, 'up');
    // The agent and dnsmasq bind ports below 1024; only this namespace's setting changes.
    execFileSync('ip', ['netns', 'exec', server, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=0']);
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    server,
    client,
    serverIf,
    clientIf,
    serverIp: `${base}.0.1`,
    clientIp: `${base}.0.2`,
    bits,
    cleanup,
  };
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

export interface Daemon {
  child: ChildProcess;
  pid: number;
  /** The last 20 kB of what it wrote (when not redirected to a file). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * A long-running program inside a namespace. `ip netns exec` execs in place, so the pid is the program's own.
 * `logFile` takes its stdout and stderr (a program that logs a line per request must not block on a pipe).
 */
export function startDaemon(
  ns: string,
  cmd: string,
  args: string[],
  opts: { logFile?: string; ipc?: boolean; env?: NodeJS.ProcessEnv } = {},
): Daemon {
  let fd: number | undefined;
  const out: SpawnOptions['stdio'] = opts.logFile
    ? ['ignore', (fd = openSync(opts.logFile, 'a')), fd, ...(opts.ipc ? ['ipc' as const] : [])]
    : ['ignore', 'pipe', 'pipe', ...(opts.ipc ? ['ipc' as const] : [])];
  const child = track(
    spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: out, env: opts.env ?? process.env }),
  );
  if (fd !== undefined) closeSync(fd);
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`spawn ${cmd}: ${err.message}\n`)));
  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Runs a command inside a namespace to completion, killed (by pid) after `timeoutMs`. */
export function runTool(ns: string, cmd: string, args: string[], timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = track(
      spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut, ms: performance.now() - started });
    });
  });
}

/** Waits until something listens on a port inside a namespace (`ss`), for servers that say nothing when ready. */
export async function waitForListen(
  ns: string,
  proto: 'tcp' | 'udp',
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const flag = proto === 'tcp' ? '-Hltn' : '-Hlun';
  while (Date.now() < deadline) {
    const r = await runTool(ns, 'ss', [flag, `sport = :${port}`], 5000);
    if (r.stdout.trim().length > 0) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${ns} after ${timeoutMs} ms`);
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself hold spaces; [0] is field 3 (state).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * CPU seconds a process has used so far with its children: reaped ones (tftpd-hpa forks one per transfer) and
 * live ones (nginx's worker). Null once it is gone. The kernel counts in ticks of 1/100 s.
 */
export function cpuSeconds(pid: number): number | null {
  const own = statFields(pid);
  if (!own) return null;
  const ticks = (f: string[]): number => [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
  let total = ticks(own);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === pid) total += ticks(f);
  }
  return total / 100;
}

/** Peak resident set (VmHWM) of a live process in MiB; null once it is gone. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}
