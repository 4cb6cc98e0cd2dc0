// Runs vaquero's CLI as a separate process against a test stack (TEMPORAL_ADDRESS), and kills only what it
// started.
import { codecSettingsToEnv } from '../temporal/codec/codec-settings.ts';
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const VAQUERO_BIN = fileURLToPath(new URL('../bin/vaquero.js', import.meta.url));
const execFileP = promisify(execFile);

export interface StackAddress {
  address: string;
  namespace: string;
  /** The stack's payload codec (key references), given to the CLI as VAQUERO_CODEC_KEYS / VAQUERO_CODEC. */
  codec?: CodecSettings;
}

export function cliEnv(stack: StackAddress): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_NAMESPACE: stack.namespace,
    ...(stack.codec !== undefined ? codecSettingsToEnv(stack.codec) : {}),
  };
}

export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code or signal. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** SIGKILL, then wait for the exit. Safe to call more than once. */
  kill(): Promise<void>;
}

/** `vaquero worker …`; resolves once it printed "workers running (pid N)". */
export async function startWorkerProcess(
  stack: StackAddress,
  args: string[],
  timeoutMs = 60_000,
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [VAQUERO_BIN, 'worker', ...args], {
    env: cliEnv(stack),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    const pid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker did not start within ${timeoutMs} ms:\n${out}`)),
        timeoutMs,
      );
      const onData = () => {
        const m = /workers running \(pid (\d+)\)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout!.on('data', onData);
      void exited.then((how) => {
        clearTimeout(timer);
        reject(new Error(`worker exited (${String(how)}) before it was running:\n${out}`));
      });
    });
    if (pid !== child.pid) throw new Error(`worker reports pid ${pid}, spawned ${child.pid}`);
    return { pid, child, output: () => out, exited, kill };
  } catch (err) {
    await kill();
    throw err;
  }
}

/** Runs `vaquero <args>` to completion against the stack. */
export async function runCli(
  stack: StackAddress,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ stdout: string; stderr: string }> {
  return execFileP(process.execPath, [VAQUERO_BIN, ...args], {
    env: cliEnv(stack),
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  });
}
