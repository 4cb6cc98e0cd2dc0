// Runs a long-lived program so that it cannot outlive us, even when we are SIGKILLed: Node has
// no PR_SET_PDEATHSIG, so a tiny supervisor process sits between us and the program. Its stdin is
// a pipe whose only writer is this process; when that pipe reaches EOF (we exited, crashed, or
// asked for a stop) it sends SIGTERM, then SIGKILL after a grace period. It exits as soon as the
// program exits, passing on the exit status, and it is the program's parent, so it reaps it and
// nothing is left to init. It runs in its own session (detached), so a Ctrl-C in the terminal
// reaches only our process, which then stops the program cleanly itself.
// The supervisor is a separate Node process rather than a shell script: a shell needs helper
// processes (sleep, a watcher subshell) for the timeout, and those can outlive it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

// Plain CommonJS for `node -e`; argv: graceMs, program, ...args. The program's stdout and
// stderr go to the supervisor's stderr (the log file); its pid goes to our pipe.
const SUPERVISOR_JS = `
const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const [graceText, cmd, ...args] = process.argv.slice(1);
const prog = spawn(cmd, args, { stdio: ['ignore', 2, 2] });
prog.once('error', (err) => { console.error('vaquero-supervisor: ' + err.message); process.exit(127); });
prog.once('spawn', () => process.stdout.write(prog.pid + '\\n'));
prog.once('exit', (code, sig) => process.exit(code ?? 128 + (constants.signals[sig] ?? 0)));
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  prog.kill('SIGTERM');
  setTimeout(() => prog.kill('SIGKILL'), Number(graceText)).unref();
};
process.stdin.on('end', stop).on('error', stop).resume();
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, stop);
`;

export interface SupervisedProcess {
  /** The supervised program. */
  pid: number;
  supervisorPid: number;
  /** Resolves once the program is gone and reaped, with its exit status (128+n when killed by signal n). */
  exited: Promise<number | null>;
  /** SIGTERM, wait up to graceMs, then SIGKILL; resolves when the program is gone. Idempotent. */
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  /** Receives the program's stdout and stderr. */
  outputFd: number;
  graceMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export async function spawnSupervised(
  command: string,
  args: readonly string[],
  opts: SuperviseOptions,
): Promise<SupervisedProcess> {
  const graceMs = opts.graceMs ?? 10_000;
  // NODE_OPTIONS (e.g. --import tsx) would only slow the supervisor down.
  const { NODE_OPTIONS: _ignored, ...env } = opts.env ?? process.env;
  const child = spawn(
    process.execPath,
    ['--input-type=commonjs', '-e', SUPERVISOR_JS, '--', String(graceMs), command, ...args],
    { stdio: ['pipe', 'pipe', opts.outputFd], detached: true, env, cwd: opts.cwd },
  );
  const { stdin, stdout } = child;
  if (!stdin || !stdout) throw new Error('spawn did not create the supervisor pipes');
  // Once the supervisor is gone, ending the lifeline fails with EPIPE; that is expected.
  stdin.on('error', () => undefined);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
  });
  const pid = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.once('error', reject);
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(Number(buf.slice(0, nl)));
    });
    void exited.then((code) => reject(new Error(`supervisor exited (${code}) before starting ${command}`)));
  });
  stdout.destroy();
  const supervisorPid = child.pid;
  if (supervisorPid === undefined || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(`supervisor for ${command} did not report a pid`);
  }
  // Neither the supervisor nor the lifeline may keep our event loop alive: if the caller never
  // stops the program, our exit closes the pipe and the supervisor stops it.
  child.unref();
  (stdin as Socket).unref();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stdin.end();
      if (!done) signal(pid, 'SIGTERM');
      if (!(await settlesWithin(exited, graceMs))) {
        signal(pid, 'SIGKILL');
        if (!(await settlesWithin(exited, 5_000))) {
          signal(supervisorPid, 'SIGKILL');
          await exited;
        }
      }
      // The supervisor reaps the program before it exits; this covers a supervisor killed by hand.
      for (let i = 0; i < 100 && isAlive(pid); i++) await delay(100);
      if (isAlive(pid)) throw new Error(`process ${pid} (${command}) is still alive after SIGKILL`);
    })();
    return stopping;
  };
  return { pid, supervisorPid, exited, stop };
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const timeout = delay(ms, false, { signal: ac.signal }).catch(() => false);
  const result = await Promise.race([p.then(() => true), timeout]);
  ac.abort();
  return result;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** True while pid names a running process; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}
