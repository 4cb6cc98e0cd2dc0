// A lab daemon (kea, dnsmasq, ipmi_sim, …): started in the foreground, optionally inside a namespace, its pid
// recorded in a pid file of the lab's own, and ended by that pid — never by name, never anyone else's process.
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Daemon {
  name: string;
  pid: number;
  /** Resolves with the exit code (or 128 + signal) once it is gone. */
  exited: Promise<number>;
  running(): boolean;
  /** The last few kB of its stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 2 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface DaemonOptions {
  /** Run inside this network namespace (`ip netns exec` execs in place, so the pid is the daemon's own). */
  ns?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory for `<name>.pid`, so a harness can end it by pid if this process dies first. */
  pidDir?: string;
}

export async function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  opts: DaemonOptions = {},
): Promise<Daemon> {
  const [file, argv] = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? 128 + (signal ? 15 : 0));
    });
    child.once('error', (err) => {
      done = true;
      out += `\n${err.message}`;
      resolve(127);
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`${name}: cannot start ${cmd}: ${out.trim()}`);
  }
  const pidFile = opts.pidDir ? path.join(opts.pidDir, `${name}.pid`) : undefined;
  if (pidFile) {
    await mkdir(opts.pidDir!, { recursive: true });
    await writeFile(pidFile, `${pid}\n`);
  }
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    exited,
    running: () => !done,
    output: () => out,
    stop(graceMs = 2000) {
      stopping ??= (async () => {
        if (!done) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        if (pidFile) await rm(pidFile, { force: true });
      })();
      return stopping;
    },
  };
}

/** Resolves once `probe` returns true; rejects after `timeoutMs`, or at once when the daemon exits. */
export async function waitUntil(
  d: Daemon | undefined,
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (d && !d.running())
      throw new Error(`${d.name} exited while waiting for ${what}: ${d.output().trim()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
