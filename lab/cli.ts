// `vaquero lab up|status|down|demo`: a lab that outlives the command. `up` makes the lab network, starts the
// scenario (lab/scenario.ts, in hold mode) detached inside the lab namespace and returns once the initial rollout
// is done; the scenario keeps the stack, the BMCs and the VMs running until `down` signals it. Everything lives in
// one state dir (default $VAQUERO_LAB_DIR, else $VAQUERO_DATA_DIR/lab, else /run/vaquero-lab): state.json names
// the scenario's pid and the lab's namespaces, and every process of the lab names the dir on its command line,
// which is how `down` finds stragglers without touching anyone else's processes. The lab's REST API with its
// dashboard and the Temporal UI live on the namespace's loopback: a forwarder started first (lab/forward.ts) serves
// them on the host's 127.0.0.1, so the dashboard's links to the Temporal UI name the forwarded address.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Firmware } from './qemu-vm.ts';
import { runProcesses } from './run.ts';
import type { LabReady, ScenarioSpec, ScenarioVm } from './scenario.ts';
import { labSockets } from './forward.ts';
import { createLabNetwork, destroyLabNetwork, labNamespaces, requireLabRoot } from './topology.ts';

const SCENARIO = fileURLToPath(new URL('./scenario.ts', import.meta.url));
const FORWARD = fileURLToPath(new URL('./forward.ts', import.meta.url));

export interface LabUpOptions {
  vms: number;
  /** arm64: aarch64 UEFI VMs (lab firmware `arm64-uefi`); a lab serves one tiny OS, so not mixed with x86. */
  firmware: 'bios' | 'uefi' | 'mixed' | 'arm64';
  dhcp: 'server' | 'proxy';
  name: string;
  prefix: string;
  /** Run the demo's second commit (and plan) after the initial rollout. */
  demo?: boolean;
  /** Give up waiting for the initial rollout(s) after this long. */
  timeoutS?: number;
}

interface LabState {
  name: string;
  prefix: string;
  pid: number;
  runDir: string;
  startedAt: number;
}

type Ready = LabReady;

export function labStateDir(): string {
  if (process.env.VAQUERO_LAB_DIR) return path.resolve(process.env.VAQUERO_LAB_DIR);
  if (process.env.VAQUERO_DATA_DIR) return path.resolve(process.env.VAQUERO_DATA_DIR, 'lab');
  return '/run/vaquero-lab';
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readState(dir: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function labVms(n: number, firmware: LabUpOptions['firmware'], prefix: string): ScenarioVm[] {
  const octet = Number(prefix.split('.')[2]) & 0xff;
  return Array.from({ length: n }, (_, i) => ({
    name: `vm${i + 1}`,
    firmware: (firmware === 'mixed'
      ? i % 2 === 0
        ? 'bios'
        : 'uefi'
      : firmware === 'arm64'
        ? 'arm64-uefi'
        : firmware) satisfies Firmware,
    mac: `52:54:00:77:${octet.toString(16).padStart(2, '0')}:${(0x0a + i).toString(16).padStart(2, '0')}`,
    ipv4: `${prefix}.${10 + i}`,
  }));
}

/** Starts the lab and waits for its initial rollout (and the demo's, if asked); progress goes to `out`. */
export async function labUp(
  o: LabUpOptions,
  out: (line: string) => void,
): Promise<{ ok: boolean; ready?: Ready }> {
  requireLabRoot();
  if (o.vms < 1 || o.vms > 8) throw new Error('--vms must be 1 to 8');
  const dir = labStateDir();
  const old = await readState(dir);
  if (old && (alive(old.pid) || labNamespaces(old.name).length > 0))
    throw new Error(`a lab is already up (state in ${dir}); run \`vaquero lab down\` first`);
  const runDir = path.join(dir, 'run');
  await rm(runDir, { recursive: true, force: true });
  await mkdir(runDir, { recursive: true });
  const vms = labVms(o.vms, o.firmware, o.prefix);
  const forwarded = await startForwarder(dir, runDir).catch((err: unknown) => {
    out(`no forwarding to the host's loopback: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
  let network: ReturnType<typeof createLabNetwork>;
  try {
    network = createLabNetwork({ name: o.name, prefix: o.prefix, taps: vms.length });
  } catch (err) {
    // No state yet for `down` to find the forwarder by: end it here.
    if (forwarded) process.kill(forwarded.pid, 'SIGTERM');
    throw err;
  }
  const spec: ScenarioSpec = {
    dir: runDir,
    network,
    dhcpMode: o.dhcp,
    vms,
    ...(o.dhcp === 'proxy'
      ? { keaPool: [`${o.prefix}.200`, `${o.prefix}.220`] satisfies [string, string] }
      : {}),
    ...(o.demo !== undefined ? { demo: o.demo } : {}),
    temporalUi: true,
    hold: true,
    ...(forwarded?.ui !== undefined ? { forwardedUiUrl: forwarded.ui } : {}),
  };
  const log = path.join(runDir, 'scenario.log');
  // Detached, with its output in files: it outlives this command (and its terminal).
  const child = spawn(
    'ip',
    ['netns', 'exec', network.ns, process.execPath, '--import', 'tsx', SCENARIO, JSON.stringify(spec)],
    {
      detached: true,
      stdio: ['ignore', openSync(path.join(runDir, 'report.json'), 'w'), openSync(log, 'w')],
      cwd: path.dirname(path.dirname(SCENARIO)),
    },
  );
  child.unref();
  if (!child.pid) {
    if (forwarded) process.kill(forwarded.pid, 'SIGTERM');
    destroyLabNetwork(o.name);
    throw new Error('could not start the lab scenario');
  }
  const state: LabState = { name: o.name, prefix: o.prefix, pid: child.pid, runDir, startedAt: Date.now() };
  await writeFile(path.join(dir, 'state.json'), JSON.stringify(state, null, 2));

  let shown = 0;
  const showProgress = async () => {
    const text = await readFile(log, 'utf8').catch(() => '');
    const lines = text.split('\n');
    for (const l of lines.slice(shown, -1)) if (l.startsWith('[lab ')) out(l);
    shown = Math.max(shown, lines.length - 1);
  };
  const deadline = Date.now() + (o.timeoutS ?? 600) * 1000;
  for (;;) {
    await showProgress();
    const ready = await readReady(runDir);
    if (ready) {
      if (forwarded !== undefined) {
        ready.forwarded = { api: forwarded.api, ui: forwarded.ui };
        await writeFile(path.join(runDir, 'ready.json'), JSON.stringify(ready, null, 2));
      }
      return { ok: ready.ok, ready };
    }
    if (!alive(child.pid)) {
      out(`the lab stopped before it was up; its log: ${log}`);
      return { ok: false };
    }
    if (Date.now() > deadline) {
      out(`the lab was not up within ${o.timeoutS ?? 600} s; its log: ${log}`);
      return { ok: false };
    }
    await sleep(500);
  }
}

/**
 * Starts the detached forwarder (lab/forward.ts) from free ports of the host's 127.0.0.1 to the sockets the lab
 * will make in `runDir` (a connection before they exist is dropped); returns the URLs. Its command line names the
 * sockets, inside the state dir, so `down` ends it with the rest.
 */
async function startForwarder(
  dir: string,
  runDir: string,
): Promise<{ api: string; ui: string; pid: number }> {
  const sockets = labSockets(runDir);
  const outFile = path.join(runDir, 'forward.out');
  const child = spawn(process.execPath, ['--import', 'tsx', FORWARD, `0=${sockets.api}`, `0=${sockets.ui}`], {
    detached: true,
    stdio: ['ignore', openSync(outFile, 'w'), openSync(`${outFile}.err`, 'w')],
    cwd: path.dirname(path.dirname(FORWARD)),
  });
  child.unref();
  if (child.pid) await writeFile(path.join(dir, 'forwarder.pid'), `${child.pid}\n`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = /^ready (\d+) (\d+)$/m.exec(await readFile(outFile, 'utf8').catch(() => ''));
    if (m && child.pid)
      return { api: `http://127.0.0.1:${m[1]}`, ui: `http://127.0.0.1:${m[2]}`, pid: child.pid };
    if (Date.now() > deadline || !child.pid || !alive(child.pid))
      throw new Error(`the forwarder did not start (see ${outFile}.err)`);
    await sleep(100);
  }
}

/** The scenario's ready.json, or undefined while it is not there (or, from a scenario of before the rename, half written). */
async function readReady(runDir: string): Promise<Ready | undefined> {
  const text = await readFile(path.join(runDir, 'ready.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Ready;
  } catch {
    return undefined;
  }
}

export async function labStatus(): Promise<{ up: boolean; text: string }> {
  const dir = labStateDir();
  const st = await readState(dir);
  if (!st) return { up: false, text: `no lab (no state in ${dir})` };
  const ready = await readReady(st.runDir);
  const up = alive(st.pid);
  const lines = [
    `lab ${st.name}: ${up ? (ready ? 'up' : 'starting') : 'stopped (run `vaquero lab down` to clean up)'}`,
    `  namespaces ${labNamespaces(st.name).join(', ') || 'none'}; scenario pid ${st.pid}; state ${dir}`,
  ];
  if (ready) lines.push(...describeReady(st.name, ready));
  return { up: up && ready !== undefined, text: lines.join('\n') };
}

export function describeReady(ns: string, r: Ready): string[] {
  const lines = [`  agent       ${r.agentUrl}`, `  temporal    ${r.temporal} (inside namespace ${ns})`];
  const fwd = r.forwarded ?? {};
  if (r.apiUrl) {
    lines.push(
      fwd.api
        ? `  api         ${fwd.api} (VAQUERO_TOKEN_FILE=${r.apiTokenFile} vaquero status --server ${fwd.api})`
        : `  api         ${r.apiUrl} (inside the namespace: ip netns exec ${ns} curl ${r.apiUrl}/live)`,
      `  dashboard   ${fwd.api ?? r.apiUrl}/ (sign in with a token: operate ${r.apiTokenFile}, read-only ${r.readTokenFile})`,
    );
  }
  if (r.temporalUiUrl) {
    lines.push(
      fwd.ui
        ? `  temporal ui ${fwd.ui}`
        : `  temporal ui ${r.temporalUiUrl}  (inside the namespace: ip netns exec ${ns} curl ${r.temporalUiUrl})`,
    );
  }
  const link = (l: string) => (fwd.ui && r.temporalUiUrl ? l.replace(r.temporalUiUrl, fwd.ui) : l);
  lines.push(`  sot         ${r.sot} (git; vaquero plan --repo ${r.sot} HEAD~1 HEAD)`);
  for (const p of r.phases) {
    lines.push(
      `  rollout ${p.name}: ${p.rollout?.state} in ${p.seconds}s, ${p.rollout?.provisioned} provisioned, ${p.rollout?.failed} failed` +
        (p.planned ? `; planned ${p.planned.join(', ') || 'nothing'}` : ''),
    );
    for (const [host, h] of Object.entries(p.hosts)) {
      if (p.planned && !p.planned.includes(host)) {
        lines.push(`    ${host}: not in the plan; BMC power-ons ${p.powerOns[host]}`);
        continue;
      }
      lines.push(
        `    ${host}: ${h.state}${h.error ? ` (${h.error})` : ''}; BMC power-ons ${p.powerOns[host]}${h.validated ? '; booted command line validated' : ''}`,
      );
    }
    if (p.link) lines.push(`    ${link(p.link)}`);
  }
  return lines;
}

/**
 * Ends the lab: SIGTERM to the scenario (it stops VMs, BMCs and servers by pid), then SIGKILL to any process that
 * still names the state dir, then the lab's own namespaces, then the state dir.
 */
export async function labDown(out: (line: string) => void): Promise<void> {
  requireLabRoot();
  const dir = labStateDir();
  const st = await readState(dir);
  if (!st) {
    out(`no lab (no state in ${dir})`);
    return;
  }
  if (alive(st.pid)) {
    process.kill(st.pid, 'SIGTERM');
    const deadline = Date.now() + 40_000;
    while (alive(st.pid) && Date.now() < deadline) await sleep(200);
  }
  const forwarder = Number(await readFile(path.join(dir, 'forwarder.pid'), 'utf8').catch(() => '0'));
  if (forwarder > 0 && alive(forwarder)) {
    const cmdline = await readFile(`/proc/${forwarder}/cmdline`, 'utf8').catch(() => '');
    // Only if that pid is still our forwarder (its command line names the state dir).
    if (cmdline.includes(dir)) process.kill(forwarder, 'SIGTERM');
    await sleep(200);
  }
  for (const p of await runProcesses(dir)) {
    out(`killing leftover pid ${p.pid}: ${p.cmdline.slice(0, 120)}`);
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  destroyLabNetwork(st.name);
  await sleep(200);
  const left = await runProcesses(dir);
  if (left.length > 0) throw new Error(`processes still alive: ${left.map((p) => p.pid).join(', ')}`);
  await rm(dir, { recursive: true, force: true });
  out(`lab ${st.name} is down (namespaces removed, state ${dir} removed)`);
}
