// Runs one lab scenario from the outside: makes the lab network, runs lab/scenario.ts inside its namespace
// (so the stack's loopback, Temporal included, is the namespace's own), and afterwards makes sure nothing is
// left: the scenario process, every process of the run (each names the run's directory on its command line,
// which is how they are told apart from anyone else's), the namespaces and, unless kept, the directory.
// With `whileHeld`, the scenario holds the lab once its rollouts are done (ready.json), the callback looks at the
// running lab (its dashboard, say), and then the lab is released and reports as usual: no boot of its own.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabReady, ScenarioReport, ScenarioSpec } from './scenario.ts';
import { createLabNetwork, destroyLabNetwork, labNamespaces, requireLabRoot } from './topology.ts';

const SCENARIO = fileURLToPath(new URL('./scenario.ts', import.meta.url));

export interface LabRunSpec extends Omit<ScenarioSpec, 'dir' | 'network' | 'hold'> {
  /** Namespace name (at most 11 characters). */
  name: string;
  /** The lab /24's first three octets, e.g. "10.77.50". */
  prefix: string;
  /** Kill the scenario after this long (default 240 s). */
  timeoutMs?: number;
  /** A relayed lab: the VMs on a /24 of this prefix behind the router, dhcrelay between them and the agent. */
  relayPrefix?: string;
  /** Keep the run directory (logs, serial consoles, BMC files) for a look afterwards. */
  keepDir?: boolean;
  /**
   * Called with the held lab's ready.json once its rollouts are done, while everything still runs (inside the
   * run's timeout); the lab is released when it settles. What it throws is in LabRun.heldError.
   */
  whileHeld?: (ready: LabReady) => Promise<void>;
}

export interface LabRun {
  report?: ScenarioReport;
  /** The scenario's exit code, or the signal that ended it. */
  exit: string;
  /** Whether whileHeld ran, and what it threw. */
  held?: boolean;
  heldError?: unknown;
  /** The last part of the scenario's stderr. */
  stderr: string;
  dir: string;
  /** Processes of the run still alive after the scenario ended, which this had to kill (should be none). */
  killedLeftovers: { pid: number; cmdline: string }[];
  /** Processes of the run alive after cleanup, and namespaces still present (both should be empty). */
  left: { pids: number[]; namespaces: string[] };
}

export async function runLab(spec: LabRunSpec): Promise<LabRun> {
  requireLabRoot();
  const dir = await mkdtemp(path.join(tmpdir(), `vaq-lab-${spec.name}-`));
  try {
    let exit = 'not started';
    let stderr = '';
    let stdout = '';
    const killedLeftovers: LabRun['killedLeftovers'] = [];
    let held = false;
    let heldError: unknown;
    try {
      const network = createLabNetwork({
        name: spec.name,
        prefix: spec.prefix,
        taps: spec.vms.length,
        ...(spec.relayPrefix !== undefined ? { relayPrefix: spec.relayPrefix } : {}),
      });
      const {
        name: _n,
        prefix: _p,
        timeoutMs = 240_000,
        keepDir: _k,
        whileHeld,
        relayPrefix: _r,
        ...rest
      } = spec;
      const scenarioSpec: ScenarioSpec = { ...rest, dir, network, ...(whileHeld ? { hold: true } : {}) };
      // `ip netns exec` execs in place: the child's pid is the scenario's node process.
      const argv = ['netns', 'exec', network.ns, process.execPath, '--import', 'tsx', SCENARIO];
      const child = spawn('ip', [...argv, JSON.stringify(scenarioSpec)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: path.dirname(path.dirname(SCENARIO)),
      });
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
      const exited = new Promise<string>((resolve) => {
        // SIGTERM lets the scenario end what it started and still report; SIGKILL if that hangs.
        const term = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
        const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 25_000);
        child.once('error', (err) => resolve(`error: ${err.message}`));
        child.once('exit', (code, signal) => {
          clearTimeout(term);
          clearTimeout(kill);
          resolve(signal ?? String(code));
        });
      });
      if (whileHeld) {
        const ready = await heldReady(dir, exited);
        if (ready) {
          held = true;
          await whileHeld(ready).catch((err: unknown) => (heldError = err));
          await writeFile(path.join(dir, 'release'), '');
        }
      }
      exit = await exited;
    } finally {
      for (const p of await runProcesses(dir)) {
        killedLeftovers.push(p);
        killPid(p.pid);
      }
      destroyLabNetwork(spec.name);
    }
    await new Promise((r) => setTimeout(r, 200));
    const left = { pids: (await runProcesses(dir)).map((p) => p.pid), namespaces: labNamespaces(spec.name) };
    let report: ScenarioReport | undefined;
    try {
      report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ScenarioReport;
    } catch {
      // No report: `exit` and `stderr` tell why.
    }
    return {
      ...(report !== undefined ? { report } : {}),
      exit,
      ...(spec.whileHeld ? { held, ...(heldError !== undefined ? { heldError } : {}) } : {}),
      stderr,
      dir,
      killedLeftovers,
      left,
    };
  } finally {
    if (!spec.keepDir) await rm(dir, { recursive: true, force: true });
  }
}

/** The held scenario's ready.json (polled every 200 ms), or undefined if the scenario exits first. */
async function heldReady(dir: string, exited: Promise<string>): Promise<LabReady | undefined> {
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const text = await readFile(path.join(dir, 'ready.json'), 'utf8').catch(() => undefined);
    if (text !== undefined) return JSON.parse(text) as LabReady;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

/** Live processes whose command line names the run directory: only this run's own ever do. */
export async function runProcesses(dir: string): Promise<{ pid: number; cmdline: string }[]> {
  const out: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''))
      .replace(/\0/g, ' ')
      .trim();
    if (!cmdline.includes(dir)) continue;
    const state = (await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')).replace(/^.*\) /, '')[0];
    if (state && state !== 'Z') out.push({ pid: Number(entry), cmdline: cmdline.slice(0, 300) });
  }
  return out;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}
