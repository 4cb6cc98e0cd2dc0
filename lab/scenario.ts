// A lab run, end to end, inside an existing lab network (lab/topology.ts): the stack (Temporal, control
// worker, agent), one BMC-driven VM per host, router advertisements and, in proxy mode, kea as the site's
// DHCP server; then a rollout of the lab SoT, and a JSON report of how every host booted.
//
// Each VM has an ipmi_sim standing for its machine's power; the host's BMC kind says how the agent reaches it:
//   ipmi       the agent's ipmi driver talks to the ipmi_sim (the default);
//   container  the agent's container driver runs the lab's BMC image (lab/podman.ts) once per call, on the lab's
//              podman service, host network: the image's ipmitool talks to the ipmi_sim;
//   ssh        the host's "running OS" is an sshd (lab/ssh-host.ts); the VM is powered on before the rollout
//              (through its ipmi_sim, network first, while no gate is open for it), and the driver's reboot
//              command resets it through the ipmi_sim and stops that sshd. The VM then netboots through the agent.
// With a container host or a boot with tasks, the lab starts podman's Docker API and the agent's config names it
// as `tasks.engine`: the agent builds its container driver and task runner from that alone.
// A VM with `disk` gets a blank disk, which the tiny installer fills with the lab's installed system
// (lab/disk-image.ts); with spec.bootFromDisk, once the rollouts are done each such VM is powered on through its
// BMC as an operator would (no boot device set: the rollout's one-time PXE override is used up) and must boot that
// system, which reports to the lab (lab/disk-reports.ts), with no network boot.
// With spec.secondAgent, a second agent of the site (lab/second-agent.ts) runs as its own process,
// `vaquero agent --config`, at another address of the same bridge; it can be SIGKILLed and started again.
//
//   ip netns exec <lab ns> node --import tsx lab/scenario.ts '<ScenarioSpec as JSON>'
//
// The report goes to stdout (nothing else does); every process started here is ended here, by pid, and its pid
// file in <dir>/pids lets the caller end it should this process die first.
import { execFileSync } from 'node:child_process';
import { access, copyFile, mkdir, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { GateEntry } from '../domain/netboot-gate.ts';
import type { SiteModel } from '../domain/site-model.ts';
import { startDirRollout } from '../client/start-rollout.ts';
import { checkoutRevision } from '../sot/git-revision.ts';
import { hostStates, planStates } from '../sot/plan.ts';
import { validateSot } from '../sot/validate.ts';
import { hostStatusQuery, hostWorkflowId, rolloutStatusQuery } from '../domain/workflow-api.ts';
import type { HostStatus } from '../domain/host.ts';
import type { RolloutResult, RolloutTimelineEntry } from '../domain/rollout.ts';
import { prepareLabAssets } from './assets.ts';
import { DISK_MARKERS } from './disk-image.ts';
import type { DiskBootReport, DiskReports } from './disk-reports.ts';
import { startDiskReports } from './disk-reports.ts';
import { labSockets, serveUnixToTcp } from './forward.ts';
import type { BootSummary } from './boot-report.ts';
import { summarizeBoot } from './boot-report.ts';
import { agentsOfTimeline, readHostInstallerLogs } from '../server/host-logs.ts';
import { MAX_LOG_LINES_PER_QUERY } from '../domain/installer-logs.ts';
import type { HostInstallerLogsResult } from '../workflows/host-installer-logs.ts';
import type { Kea, KeaLease } from './kea.ts';
import { startKea } from './kea.ts';
import type { LabMachine, LabMachineReport } from './machine.ts';
import { startLabMachine } from './machine.ts';
import type { Firmware } from './qemu-vm.ts';
import type { LabRelay } from './relay.ts';
import { startLabRelay } from './relay.ts';
import type { RouterAdverts } from './router-adverts.ts';
import { startRouterAdverts } from './router-adverts.ts';
import { TINY_MARKERS } from './tiny-initrd.ts';
import type { LabPodman } from './podman.ts';
import { labBmcImage, labTaskImage, startLabPodman } from './podman.ts';
import type { LabSshd } from './ssh-host.ts';
import { rebootLog, startLabSshd, writeRebootScript } from './ssh-host.ts';
import type { LabBootTasks, LabOs, LabSotHost, LabSotSpec } from './sot.ts';
import { appendOsCmdline, commitAll, LAB_OSES, writeLabSot } from './sot.ts';
import type { AgentRequest, SecondAgent } from './second-agent.ts';
import { metricSum, parseMetrics, startSecondAgent } from './second-agent.ts';
import { signedChainTftpRoot } from './signed-chain.ts';
import {
  ARM64_CONSOLE,
  ARM64_TIMEOUTS,
  ARM64_VM_TIMEOUT_S,
  arm64TftpRoot,
  prepareArm64LabAssets,
} from './arm64-assets.ts';
import type { LabStack } from './stack.ts';
import { startLabStack } from './stack.ts';
import type { LabNetwork } from './topology.ts';

export interface ScenarioVm {
  name: string;
  firmware: Firmware;
  mac: string;
  /** Reserved address in the SoT (handed out in server mode). */
  ipv4: string;
  /**
   * How the agent reaches the host's power (see the top of this file); default ipmi. An ssh host is reprovisioned
   * once: its sshd does not come back after the reboot, so a later phase finds it unreachable.
   */
  bmc?: LabBmcKind;
  /** A blank disk (64 MiB, raw) that the tiny installer writes the lab's installed system to. */
  disk?: boolean;
  /**
   * The SoT marks the host `secure_boot: true` (the signed chain); default: when its firmware is `uefi-secure`.
   * False on a `uefi-secure` VM: it is offered the unsigned iPXE, which its firmware refuses to run.
   */
  secureBoot?: boolean;
}

export type LabBmcKind = 'ipmi' | 'container' | 'ssh';

export interface ScenarioSpec {
  /** Work directory (exists; owned by the caller, who removes it). */
  dir: string;
  network: LabNetwork;
  dhcpMode: 'server' | 'proxy';
  vms: ScenarioVm[];
  /** Send IPv6 router advertisements on the bridge (iPXE then skips its router wait). Default true. */
  routerAdverts?: boolean;
  /** Proxy mode: kea in the router namespace, giving addresses from this pool. */
  keaPool?: [string, string];
  /** Seconds the rollout may take. Default 180. */
  rolloutTimeoutS?: number;
  /** The lab SoT's step timeouts and power retries (lab/sot.ts), for runs with a host expected to fail. */
  timeouts?: LabSotSpec['timeouts'];
  powerRetries?: number;
  site?: string;
  /**
   * The demo: after the initial rollout, a commit adds `vaquero.demo=2` to the command line of the OS profile
   * `tiny-b`, and that commit is planned and rolled out.
   */
  demo?: boolean;
  /**
   * Then (or right after the initial rollout without the demo) a commit changes both profiles with max_fail set,
   * and this host's BMC (its ipmi_sim) is killed once that rollout has started.
   */
  bmcFailure?: { host: string; maxFail: number };
  /** Serve the Temporal Web UI (inside the namespace). */
  temporalUi?: boolean;
  /**
   * After the rollouts: power every VM with a disk on through its BMC (`ipmitool chassis power on`, nothing
   * else) and wait for its installed system's report. The report's `diskBoot` tells what each boot did.
   */
  bootFromDisk?: boolean;
  /**
   * Task containers of the OS profiles' boots (host i boots LAB_OSES[i % 2]); their images must exist locally
   * (LAB_TASK_IMAGE is made for them).
   */
  bootTasks?: Partial<Record<LabOs, LabBootTasks>>;
  /**
   * vaquero's containers.conf (cli/setup/podman.ts ensurePodmanConf), required when a host has a container BMC
   * or a boot has tasks: the lab's podman service runs with it.
   */
  containersConf?: string;
  /**
   * During the initial rollout: once the first VM's BMC has started it, the Temporal server is stopped until the
   * agent has recorded that VM's whole boot (the tiny OS's checkpoint included), then started again on the same
   * data and ports. The report's `outage` tells what the agent held meanwhile.
   */
  temporalOutage?: boolean;
  /**
   * Keep the lab running after the rollouts: write <dir>/ready.json (URLs, token files, sockets, pids) and wait
   * for a signal (`vaquero lab up`) or for the file <dir>/release (a test done with the running lab: the report is
   * then collected and printed as without hold).
   */
  hold?: boolean;
  /**
   * The Temporal UI as the host's loopback reaches it (`vaquero lab up` forwards the namespace's): the dashboard's
   * links to workflow runs name it. Default: the UI's address inside the namespace.
   */
  forwardedUiUrl?: string;
  /**
   * A second agent of the site on the same bridge (lab/second-agent.ts), a process of its own
   * (`vaquero agent --config`) at the /24's .3, listed in the SoT's agents[] beside the first. With it:
   *   killDuringNetboot  SIGKILL it during the initial rollout while hosts are in netboot (killWhen), then
   *                      start it again after that rollout and wait until its cache has every gate closed;
   *   strayPowerOn       then power every VM on through its BMC (ipmitool to its ipmi_sim): nothing must boot;
   *   secondRollout      then a commit changes every OS profile's command line (vaquero.rev=2), rolled out.
   */
  secondAgent?: {
    dhcp?: boolean;
    killDuringNetboot?: boolean;
    /**
     * When to kill it: once every host is in a netboot stage (default; usually before their firmware's first
     * DHCP answer), or once it has served a host its iPXE script (past-dhcp: by its /metrics, polled every
     * 100 ms; that host's iPXE then holds its URLs and is fetching, or about to fetch, its kernel and initrd
     * from it, so the kill lands in or just before that transfer).
     */
    killWhen?: 'netboot' | 'past-dhcp';
    strayPowerOn?: boolean;
    secondRollout?: boolean;
  };
}

/** What the second agent went through (spec.secondAgent). */
export interface SecondAgentReport {
  id: string;
  url: string;
  pids: number[];
  /** Seconds since the run's start when it was SIGKILLed, and each host's stage then. */
  killedAtS?: number;
  /** Epoch ms of the SIGKILL. */
  killedAt?: number;
  stagesAtKill?: Record<string, string>;
  /** Its /metrics just before the SIGKILL (name{labels} → value). */
  metricsAtKill?: Record<string, number>;
  /** The scripts and assets it served before the SIGKILL, by its access log (a transfer cut short is not in it). */
  servedBeforeKill?: AgentRequest[];
  /** Its gates (its data_dir's cache/netboot.json) just before the restart and once caught up. */
  gatesAtRestart?: GateEntry[];
  gatesAfterCatchUp?: GateEntry[];
  /** Seconds from its restart to every gate of its cache closed. */
  catchUpS?: number;
  /** Per VM: the BMC power-on after the rollout, its serial console, and whether anything booted. */
  strayPowerOn?: Record<string, { serial: string; noNetboot: boolean; booted: boolean; powerLog: string[] }>;
  /** Both agents' /metrics around the stray power-ons (name{labels} → value). */
  metricsBeforeStray?: Record<string, Record<string, number>>;
  metricsAfterStray?: Record<string, Record<string, number>>;
  /** The power activities it ran (its log's `power <site>/<host>: …` lines), every process it ran as. */
  powerCalls?: string[];
  /** Its outbox's log lines (`outbox: …`) since its restart: the process `metrics` is of. */
  outboxLog?: string[];
  /** The second agent's /metrics and /health at the end. */
  metrics?: Record<string, number>;
  health?: Record<string, unknown>;
  /** The tail of its log. */
  logTail?: string;
}

/** One rollout of the lab SoT at one commit. */
export interface PhaseReport {
  name: string;
  commit: string;
  rolloutId: string;
  /** Link to the rollout in the Temporal UI, when it is served. */
  link?: string;
  /** The plan from the previous commit (absent for the initial rollout): hosts to reprovision. */
  planned?: string[];
  rollout?: RolloutResult;
  seconds: number;
  /** Power-ons each BMC's hook saw during this phase (ipmi_sim's own log, not vaquero's view). */
  powerOns: Record<string, number>;
  /** Each host's end state in this phase, with the command line it reported booting (if it did). */
  hosts: Record<
    string,
    {
      state?: string;
      error?: string;
      bootedCmdline?: string;
      validated?: boolean;
      powerCycles?: number;
      bootStages?: number;
      /** The boot events of this phase's run, as its timeline holds them (`dhcp from <agent>: …`; epoch ms). */
      events?: { at: number; message: string }[];
    }
  >;
}

export interface ScenarioHost {
  name: string;
  machine: LabMachineReport;
  status?: HostStatus;
  boot?: BootSummary;
  /** The host's netboot gate as the agent held it while open (reservation and artifacts included). */
  openGate?: GateEntry;
  /** The gate after the run. */
  gate?: GateEntry;
  /** The installer's log lines as the API reads them from the agents (hostInstallerLogs), after the run. */
  installerLog?: HostInstallerLogsResult;
  bmcKind: LabBmcKind;
  /** Container BMC: the calls the BMC image's script logged (`<epoch s> <host> <action> … -> <answer>`). */
  bmcContainerCalls?: string[];
  /** ssh host: the sshd standing for its OS, its reboot script's log, and how that sshd ended. */
  ssh?: {
    address: string;
    rebootLog: { at?: number; what: string }[];
    sshdExit?: { at: number; how: string };
    /** Serial console of the VM before the rollout (its netboot with no gate open for it). */
    serialBeforeRollout?: string;
  };
}

/** The power-on after the rollouts of a VM whose disk was installed (spec.bootFromDisk). */
export interface DiskBootHost {
  /** `chassis bootparam get 5` before the power-on: what the rollout's override left. */
  bootFlagsBefore: string;
  /** Epoch ms of the power-on, and the boot device the BMC started the VM with. */
  poweredOnAt: number;
  bootDevice?: string;
  /** The installed system's report to the lab (first one after the power-on). */
  report?: DiskBootReport;
  /** The serial console of this boot (control sequences removed). */
  serial: string;
  /** Boot events the host's workflow recorded after the power-on. */
  newBootEvents: string[];
}

export interface DiskBootStep {
  hosts: Record<string, DiskBootHost>;
  /**
   * What the agent saw during the step, its counters after minus before: DHCP packets, TFTP transfers, HTTP
   * requests (its /metrics and /health apart), boot events recorded for a run and observations of hosts with no
   * open gate, installer log summaries it sent (a summary of the netboot's last lines goes out on a timer).
   */
  agentDelta: {
    dhcpReceived: number;
    tftpStarted: number;
    httpRequests: number;
    recorded: number;
    ungated: number;
    logSummaries: number;
  };
  seconds: number;
}

/** What the agent did while Temporal was stopped (spec.temporalOutage). */
export interface OutageReport {
  host: string;
  /** Seconds since the run's start. */
  stoppedAtS?: number;
  restartedAtS?: number;
  /** Seconds the server was down. */
  downS?: number;
  /** Boot events the agent recorded while Temporal was down. */
  recordedWhileDown?: number;
  /** The outbox just before the restart: `queued` events waited for Temporal. */
  outboxBeforeRestart?: Record<string, unknown>;
  /** The host's gate, served from the agent's cache, was open throughout the outage. */
  gateOpenFromCache?: boolean;
  /** The outbox once the rollout finished. */
  outboxAfter?: Record<string, unknown>;
  /** Seconds from the restart to the rollout's result. */
  restartToResultS?: number;
}

export interface ScenarioReport {
  ok: boolean;
  error?: string;
  /** Seconds: stack start, rollout (start to result), whole run. */
  timings: Record<string, number>;
  rollout?: RolloutResult;
  /** The rollout's own timeline: plan, site model publication, hosts started and finished. */
  rolloutTimeline?: RolloutTimelineEntry[];
  hosts: ScenarioHost[];
  siteModel?: SiteModel;
  agent?: {
    url: string;
    services: Record<string, Record<string, unknown>>;
    recorder: Record<string, number>;
    /** The BMC drivers the agent built from its config. */
    drivers: string[];
    /** Whether the agent's config named a container engine (tasks.engine). */
    tasksEngine?: string;
  };
  /** The lab's podman service and the images it made (when the run needed containers). */
  podman?: { endpoint: string; bmcImage?: string; taskImage?: string };
  kea?: { leases: KeaLease[] };
  /** Every pid this run started (all gone when it returns). */
  pids: Record<string, number>;
  /** The rollouts in order: initial, then the demo's and the BMC failure's commits when asked for. */
  phases: PhaseReport[];
  temporalUiUrl?: string;
  /** The lab's `vaquero server` (REST API and dashboard) inside the namespace, and its token files. */
  server?: { url: string; operateTokenFile: string; readTokenFile: string };
  outage?: OutageReport;
  secondAgent?: SecondAgentReport;
  diskBoot?: DiskBootStep;
  /** A relayed lab: the VMs' segment and the relay's output (lab/relay.ts). */
  relay?: { cidr: string; giaddr: string; log?: string };
}

/** <dir>/ready.json of a held lab (spec.hold): where everything is, once the rollouts are done. */
export interface LabReady {
  ok: boolean;
  error?: string;
  agentUrl: string;
  /** The REST API and dashboard inside the namespace, and its token files. */
  apiUrl: string;
  apiTokenFile: string;
  readTokenFile: string;
  temporal: string;
  temporalUiUrl?: string;
  sot: string;
  phases: PhaseReport[];
  pids: Record<string, number>;
  /** Unix sockets of the namespace's API and UI ports (lab/forward.ts). */
  sockets: { api: string; ui?: string };
  /** The same, on the host's 127.0.0.1 through `lab up`'s forwarder. */
  forwarded?: { api?: string; ui?: string };
}

const secs = (from: number) => Math.round((Date.now() - from) / 100) / 10;

export async function runScenario(spec: ScenarioSpec, signal?: AbortSignal): Promise<ScenarioReport> {
  const t0 = Date.now();
  const site = spec.site ?? 'lab';
  const agentId = `${site}-agent`;
  const pidDir = path.join(spec.dir, 'pids');
  await mkdir(pidDir, { recursive: true });
  const report: ScenarioReport = { ok: false, timings: {}, hosts: [], pids: {}, phases: [] };
  const machines: LabMachine[] = [];
  let stack: LabStack | undefined;
  let kea: Kea | undefined;
  let ra: RouterAdverts | undefined;
  let relay: LabRelay | undefined;
  const openGates = new Map<string, GateEntry>();
  let watch: NodeJS.Timeout | undefined;
  let rolloutId: string | undefined;
  let stopUiSocket: (() => Promise<void>) | undefined;
  let podman: LabPodman | undefined;
  let agent2: SecondAgent | undefined;
  let diskReports: DiskReports | undefined;
  /** Per host: its BMC kind and what the lab made for it besides the VM and its ipmi_sim. */
  const extras = new Map<string, HostExtras>();
  // A signal during the set-up stops it at the next step; during the rollout it ends the wait at once.
  const checkAbort = () => {
    if (signal?.aborted) throw new Error('stopped by a signal');
  };
  // Progress on stderr: the caller shows it when a run fails.
  const say = (m: string) => process.stderr.write(`[lab ${secs(t0)}s] ${m}\n`);
  const notePid = async (name: string, pid: number) => {
    report.pids[name] = pid;
    await writeFile(path.join(pidDir, `${name}.pid`), `${pid}\n`);
  };

  /** spec.temporalOutage: Temporal down from the VM's power-on until the agent has seen its whole boot. */
  const outage = async (st: LabStack, m: LabMachine | undefined): Promise<void> => {
    if (!m) throw new Error('temporalOutage needs a VM');
    const o: OutageReport = { host: m.name };
    report.outage = o;
    await waitUntil('the BMC started the VM', 120_000, async () =>
      (await m.report()).powerLog.some((p) => p.what.startsWith('vm start')),
    );
    // The power activity's result reaches the workflow first, so the outage does not make it power on again.
    const hostId = hostWorkflowId(site, m.name);
    await waitUntil('the workflow saw the power-on', 30_000, async () => {
      const hs = await bounded(st.temporal.client.workflow.getHandle(hostId).query(hostStatusQuery), 3_000);
      return hs?.timeline.some((e) => e.kind === 'power' && /now on/.test(e.message)) ?? false;
    });
    const recordedBefore = st.agent.recorder.stats().recorded;
    await st.stopTemporal();
    const down = Date.now();
    o.stoppedAtS = secs(t0);
    say(`outage: ${m.name} powered on; Temporal stopped (${recordedBefore} events recorded so far)`);
    let gateOpen = true;
    try {
      // The tiny OS prints its marker once the agent answered its checkpoint, which the recorder then holds.
      await waitUntil('the agent saw the whole boot without Temporal', 90_000, async () => {
        if (st.agent.cache.lookup(m.mac)?.open !== true) gateOpen = false;
        return (await m.report()).serial.includes(TINY_MARKERS.callbackOk);
      });
    } finally {
      o.recordedWhileDown = st.agent.recorder.stats().recorded - recordedBefore;
      o.outboxBeforeRestart = { ...st.agent.outbox.stats() };
      o.gateOpenFromCache = gateOpen;
      say(
        `outage: ${o.recordedWhileDown} events recorded while down, outbox ${JSON.stringify(o.outboxBeforeRestart)}, gate open from the cache: ${gateOpen}; restarting Temporal`,
      );
      await st.restartTemporal();
      o.downS = secs(down);
      o.restartedAtS = secs(t0);
      say(`outage: Temporal back after ${o.downS}s`);
    }
  };
  const waitUntil = async (what: string, ms: number, ok: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      checkAbort();
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  /**
   * spec.secondAgent.killDuringNetboot: SIGKILL the second agent once every host is in netboot, or (past-dhcp)
   * once it has served a host its iPXE script.
   */
  const killInNetboot = async (a2: SecondAgent): Promise<void> => {
    const stages: Record<string, string> = {};
    const client = stack!.temporal.client;
    const queryStages = async () => {
      for (const m of machines) {
        const hs = await bounded(
          client.workflow.getHandle(hostWorkflowId(site, m.name)).query(hostStatusQuery),
          3_000,
        );
        if (hs) stages[m.name] = hs.stage;
      }
    };
    const r2 = report.secondAgent!;
    if (spec.secondAgent?.killWhen === 'past-dhcp') {
      // Its own count of the scripts it served (HTTP 200 on /ipxe): nothing else tells this soon enough.
      const SCRIPTS = 'vaquero_agent_http_requests_total';
      const deadline = Date.now() + 150_000;
      const started = Date.now();
      for (;;) {
        const m = await a2.metrics().catch(() => undefined);
        if (m && metricSum(m, SCRIPTS, { route: '/ipxe', status: '200' }) > 0) {
          r2.metricsAtKill = m;
          break;
        }
        checkAbort();
        if (Date.now() > deadline) throw new Error(`${a2.id} served no iPXE script within 150 s`);
        // Once the first agent has served every host its script, the second never will in this boot: said now,
        // not after the deadline (the caller may run the scenario again, and the wait cost minutes of CI).
        const m1 = await fetch(`${stack!.agentUrl}/metrics`)
          .then(async (r) => parseMetrics(await r.text()))
          .catch(() => undefined);
        if (m1 && metricSum(m1, SCRIPTS, { route: '/ipxe', status: '200' }) >= machines.length)
          throw new Error(
            `${a2.id} served no iPXE script within ${Math.round((Date.now() - started) / 1000)} s: ${agentId} served every host its script`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
      await a2.kill();
      r2.killedAt = Date.now();
      r2.killedAtS = secs(t0);
      // Just after the SIGKILL (the queries take a moment): the host it served is in netboot.
      await queryStages();
    } else {
      await waitUntil('every host in netboot', 150_000, async () => {
        await queryStages();
        return Object.values(stages).filter((s) => s.startsWith('netboot/')).length === machines.length;
      });
      r2.metricsAtKill = await a2.metrics().catch(() => ({}));
      await a2.kill();
      r2.killedAt = Date.now();
      r2.killedAtS = secs(t0);
    }
    r2.stagesAtKill = { ...stages };
    // The boot credential stays out of the report.
    r2.servedBeforeKill = (await a2.requests())
      .filter((q) => /^\/(ipxe|assets\/)/.test(q.url))
      .map((q) => ({ ...q, url: q.url.replace(/([?&]boot=)[^&]*/, '$1-') }));
    say(
      `${a2.id} SIGKILLed; host stages ${JSON.stringify(stages)}; it had served ${JSON.stringify(r2.servedBeforeKill.map((q) => `${q.url} ${q.status}`))}`,
    );
  };
  /** spec.secondAgent.strayPowerOn: every VM powered on by its BMC while no gate is open; then powered off. */
  const strayPowerOn = async (a2: SecondAgent, r2: SecondAgentReport): Promise<void> => {
    const agents = { [agentId]: `${stack!.agentUrl}/metrics`, [a2.id]: `${a2.url}/metrics` };
    const snapshot = async () => {
      const out: Record<string, Record<string, number>> = {};
      for (const [id, url] of Object.entries(agents)) out[id] = parseMetrics(await (await fetch(url)).text());
      return out;
    };
    r2.metricsBeforeStray = await snapshot();
    const before = await Promise.all(machines.map(async (m) => (await m.report()).powerLog.length));
    for (const m of machines) {
      for (const args of [
        ['chassis', 'bootdev', 'pxe'],
        ['chassis', 'power', 'on'],
      ]) {
        const r = await m.bmc.ipmitool(args);
        if (r.code !== 0) throw new Error(`${m.name}: ipmitool ${args.join(' ')} failed: ${r.stderr}`);
      }
    }
    say('stray power-on of every VM through its BMC; waiting for each netboot to find nothing');
    r2.strayPowerOn = {};
    const deadline = Date.now() + 150_000;
    for (const [i, m] of machines.entries()) {
      let rep = await m.report();
      while (
        !NO_NETBOOT.test(rep.serial) &&
        !rep.serial.includes(TINY_MARKERS.callbackOk) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 500));
        checkAbort();
        rep = await m.report();
      }
      // A few seconds more: anything that would still boot (a late answer) shows on the console.
      await new Promise((r) => setTimeout(r, 3_000));
      rep = await m.report();
      r2.strayPowerOn[m.name] = {
        serial: rep.serial.slice(-3000),
        noNetboot: NO_NETBOOT.test(rep.serial),
        booted: /Linux version/.test(rep.serial) || rep.serial.includes(TINY_MARKERS.callbackOk),
        powerLog: rep.powerLog.slice(before[i]).map((p) => p.what),
      };
    }
    r2.metricsAfterStray = await snapshot();
    for (const m of machines) {
      const r = await m.bmc.ipmitool(['chassis', 'power', 'off']);
      if (r.code !== 0) throw new Error(`${m.name}: ipmitool chassis power off failed: ${r.stderr}`);
    }
    await waitUntil('every VM off after the stray power-on', 30_000, async () => {
      for (const m of machines) {
        const log = (await m.report()).powerLog;
        if (!log.at(-1)?.what.startsWith('vm stop')) return false;
      }
      return true;
    });
    say(
      `stray power-on: ${JSON.stringify(Object.fromEntries(Object.entries(r2.strayPowerOn).map(([k, v]) => [k, { noNetboot: v.noNetboot, booted: v.booted }])))}`,
    );
  };

  /** spec.bootFromDisk: each VM with a disk powered on through its BMC; its installed system must report. */
  const bootFromDisk = async (st: LabStack, reports: DiskReports): Promise<void> => {
    const t = Date.now();
    const vms = machines.filter((m) => spec.vms.find((v) => v.name === m.name)?.disk);
    const counters = async () => {
      const m = parseMetrics(await (await fetch(`${st.agentUrl}/metrics`)).text());
      return {
        dhcpReceived: metricSum(m, 'vaquero_agent_dhcp_received_total'),
        tftpStarted: metricSum(m, 'vaquero_agent_tftp_transfers_started_total'),
        // Every HTTP request but the lab's own reads of /metrics and /health.
        httpRequests: Object.entries(m)
          .filter(
            ([k]) =>
              k.startsWith('vaquero_agent_http_requests_total{') && !/route="\/(metrics|health)"/.test(k),
          )
          .reduce((sum, [, v]) => sum + v, 0),
        recorded: metricSum(m, 'vaquero_agent_boot_events_total', { outcome: 'recorded' }),
        ungated: metricSum(m, 'vaquero_agent_boot_events_total', { outcome: 'ungated' }),
        logSummaries: metricSum(m, 'vaquero_agent_installer_log_summaries_total'),
      };
    };
    const events = async (m: LabMachine) =>
      (
        await bounded(
          st.temporal.client.workflow.getHandle(hostWorkflowId(site, m.name)).query(hostStatusQuery),
        )
      )?.timeline.filter((e) => e.kind === 'event') ?? [];
    const before = await counters();
    const step: DiskBootStep = { hosts: {}, agentDelta: before, seconds: 0 };
    report.diskBoot = step;
    const eventsBefore = new Map<string, number>();
    // The tiny OS powers off after its callback, and the host is provisioned at the callback: on a busy machine a
    // VM can still be on here, and a power-on then boots nothing.
    const allOff = async (): Promise<boolean> => {
      for (const m of vms) {
        const r = await m.bmc.ipmitool(['chassis', 'power', 'status']);
        if (!/is off/.test(r.stdout)) return false;
      }
      return true;
    };
    await waitUntil('every VM off after its installer', 60_000, allOff);
    for (const m of vms) {
      eventsBefore.set(m.name, (await events(m)).length);
      // QEMU truncates the serial file when it starts: the network boot's console is kept aside, and put back
      // after this boot so the machine's report still shows it.
      await copyFile(m.serialLog, `${m.serialLog}.netboot`).catch(() => undefined);
      const flags = await m.bmc.ipmitool(['chassis', 'bootparam', 'get', '5']);
      const on = await m.bmc.ipmitool(['chassis', 'power', 'on']);
      if (on.code !== 0) throw new Error(`${m.name}: ipmitool chassis power on failed: ${on.stderr}`);
      step.hosts[m.name] = {
        bootFlagsBefore: flags.stdout
          .split('\n')
          .filter((l) => /Boot Flag|Options apply|Boot Device Selector|BIOS/.test(l))
          .map((l) => l.trim())
          .join('; '),
        poweredOnAt: Date.now(),
        serial: '',
        newBootEvents: [],
      };
    }
    say(`boot from disk: ${vms.map((m) => m.name).join(', ')} powered on through their BMCs`);
    const reportOf = (m: LabMachine) =>
      reports.reports().find((r) => r.mac === m.mac && r.at >= step.hosts[m.name]!.poweredOnAt);
    try {
      await waitUntil('every installed system reported its boot from disk', 120_000, async () => {
        for (const m of vms) {
          const serial = (await m.report()).serial;
          if (serial.includes(DISK_MARKERS.reportFailed) || serial.includes(DISK_MARKERS.noSeed))
            throw new Error(
              `${m.name}: ${serial
                .split('\n')
                .filter((l) => l.startsWith('DISK:'))
                .join(' | ')}`,
            );
        }
        return vms.every((m) => reportOf(m) !== undefined);
      });
      // The installed system powers off after its report: every VM off again before the step ends.
      await waitUntil('every VM off after its boot from disk', 30_000, allOff);
    } finally {
      for (const m of vms) {
        const h = step.hosts[m.name]!;
        const rep = await m.report();
        const r = reportOf(m);
        if (r) h.report = r;
        h.serial = rep.serial.slice(-4000);
        const device = rep.powerOns.at(-1);
        if (device !== undefined) h.bootDevice = device;
        h.newBootEvents = (await events(m)).slice(eventsBefore.get(m.name)).map((e) => e.message);
        await copyFile(m.serialLog, `${m.serialLog}.disk`).catch(() => undefined);
        await copyFile(`${m.serialLog}.netboot`, m.serialLog).catch(() => undefined);
      }
      const after = await counters();
      step.agentDelta = {
        dhcpReceived: after.dhcpReceived - before.dhcpReceived,
        tftpStarted: after.tftpStarted - before.tftpStarted,
        httpRequests: after.httpRequests - before.httpRequests,
        recorded: after.recorded - before.recorded,
        ungated: after.ungated - before.ungated,
        logSummaries: after.logSummaries - before.logSummaries,
      };
      step.seconds = secs(t);
      say(
        `boot from disk: ${JSON.stringify(Object.fromEntries(Object.entries(step.hosts).map(([k, v]) => [k, { device: v.bootDevice, reported: v.report !== undefined }])))}; agent saw ${JSON.stringify(step.agentDelta)}`,
      );
    }
  };

  try {
    // An arm64 lab serves the arm64 tiny OS under the same names, so its VMs are all arm64 (one OS per lab).
    const arm64 = spec.vms.some((vm) => vm.firmware === 'arm64-uefi');
    if (arm64 && !spec.vms.every((vm) => vm.firmware === 'arm64-uefi'))
      throw new Error(
        'a lab with arm64-uefi VMs has only arm64-uefi VMs (it serves one tiny OS, built for arm64)',
      );
    const arm64Assets = arm64 ? await prepareArm64LabAssets(path.join(spec.dir, 'assets')) : undefined;
    if (arm64 && spec.vms.some((vm) => vm.disk))
      throw new Error('lab VMs with a disk are x86 only (the installed system is built for amd64)');
    const assets =
      arm64Assets ??
      (await prepareLabAssets(path.join(spec.dir, 'assets'), {
        diskImage: spec.vms.some((vm) => vm.disk),
      }));
    report.timings.assetsS = secs(t0);
    say(`assets ready (tiny initrd ${assets.initrdBuilt ? 'built' : 'cached'}, ${assets.initrdBytes} bytes)`);
    // A relayed lab (lab/relay.ts): the VMs' router sends their RAs, and dhcrelay forwards their DHCP to the agent.
    const seg = spec.network.relay;
    if (spec.routerAdverts !== false) {
      ra = await startRouterAdverts(
        seg
          ? { ns: spec.network.router.ns, bridge: seg.ifname, dir: spec.dir, pidDir }
          : { bridge: spec.network.bridge, dir: spec.dir, pidDir },
      );
      report.pids['dnsmasq-ra'] = ra.daemon.pid;
    }
    if (seg) {
      relay = await startLabRelay({
        dir: spec.dir,
        ns: spec.network.router.ns,
        downstream: seg.ifname,
        upstream: spec.network.router.ifname,
        server: spec.network.address,
        pidDir,
      });
      report.pids.dhcrelay = relay.daemon.pid;
      report.relay = { cidr: seg.cidr, giaddr: seg.gateway };
      say(
        `dhcrelay (pid ${relay.daemon.pid}): ${seg.cidr} (giaddr ${seg.gateway}) -> ${spec.network.address}`,
      );
    }
    if (spec.dhcpMode === 'proxy') {
      const r = spec.network.router;
      if (!r || !spec.keaPool) throw new Error('proxy mode needs a lab network with a router and a kea pool');
      await mkdir(path.join(spec.dir, 'kea'), { recursive: true });
      kea = await startKea(
        {
          dir: path.join(spec.dir, 'kea'),
          ns: r.ns,
          ifname: r.ifname,
          subnet: spec.network.cidr,
          pool: spec.keaPool,
          routers: [spec.network.address],
        },
        { pidDir },
      );
      report.pids['kea-dhcp4'] = kea.daemon.pid;
    }
    for (const [i, vm] of spec.vms.entries()) {
      const tap = spec.network.taps[i];
      if (!tap)
        throw new Error(
          `the lab network has ${spec.network.taps.length} tap(s), not enough for ${spec.vms.length} VMs`,
        );
      let disk: string | undefined;
      if (vm.disk) {
        // Blank and sparse: the installer writes the image at its start.
        disk = path.join(spec.dir, 'machines', vm.name, 'disk.raw');
        await mkdir(path.dirname(disk), { recursive: true });
        await writeFile(disk, '');
        await truncate(disk, 64 << 20);
      }
      const m = await startLabMachine({
        dir: path.join(spec.dir, 'machines', vm.name),
        name: vm.name,
        firmware: vm.firmware,
        mac: vm.mac,
        tap,
        vmTimeoutS: vm.firmware === 'arm64-uefi' ? ARM64_VM_TIMEOUT_S : 240,
        ...(disk !== undefined ? { disk } : {}),
      });
      machines.push(m);
      await notePid(`ipmi_sim-${vm.name}`, m.bmc.pid);
      extras.set(vm.name, { kind: vm.bmc ?? 'ipmi', dir: path.join(spec.dir, 'machines', vm.name) });
      if (vm.bmc === 'container')
        await mkdir(path.join(spec.dir, 'machines', vm.name, 'bmc-container'), { recursive: true });
    }
    const kinds = spec.vms.map((vm) => vm.bmc ?? 'ipmi');
    const withTasks = Object.values(spec.bootTasks ?? {}).some(
      (t) => (t.before_shutdown?.length ?? 0) + (t.validate?.length ?? 0) > 0,
    );
    let bmcImage: string | undefined;
    if (kinds.includes('container') || withTasks) {
      if (!spec.containersConf)
        throw new Error('a container BMC or a boot with tasks needs containersConf (cli/setup/podman.ts)');
      podman = await startLabPodman({
        dir: path.join(spec.dir, 'podman'),
        containersConf: spec.containersConf,
      });
      await notePid('podman', podman.pid);
      report.podman = { endpoint: podman.endpoint };
      if (kinds.includes('container')) report.podman.bmcImage = bmcImage = await labBmcImage(podman.env);
      if (withTasks) report.podman.taskImage = await labTaskImage(podman.env);
      say(`podman service on ${podman.endpoint}; images ${JSON.stringify(report.podman)}`);
    }
    // ssh hosts: the sshd standing for the OS, the reboot script, and the VM powered on (network first) before
    // anything serves it: its netboot finds no answer, as a host's does while its gate is closed.
    for (const m of machines) {
      const x = extras.get(m.name)!;
      if (x.kind !== 'ssh') continue;
      const sshd = await startLabSshd(path.join(x.dir, 'ssh'));
      await notePid(`sshd-${m.name}`, sshd.pid);
      x.sshd = sshd;
      x.rebootScript = path.join(x.dir, 'ssh', 'reboot.sh');
      x.rebootLog = path.join(x.dir, 'ssh', 'reboot.log');
      await writeRebootScript(x.rebootScript, {
        bmcPort: m.bmc.port,
        username: m.bmc.username,
        password: m.bmc.password,
        sshdPid: sshd.pid,
        log: x.rebootLog,
      });
      for (const args of [
        ['chassis', 'bootdev', 'pxe', 'options=persistent'],
        ['chassis', 'power', 'on'],
      ]) {
        const r = await m.bmc.ipmitool(args);
        if (r.code !== 0) throw new Error(`${m.name}: ipmitool ${args.join(' ')} failed: ${r.stderr}`);
      }
      say(`${m.name}: sshd on ${sshd.address} stands for its OS; VM powered on before the rollout`);
    }
    const secretsFile = path.join(spec.dir, 'secrets.yaml');
    await writeFile(
      secretsFile,
      stringify(
        Object.fromEntries(
          machines.map((m) => {
            const sshd = extras.get(m.name)?.sshd;
            return sshd
              ? [`${m.name}-ssh`, { username: sshd.username, private_key: sshd.privateKey }]
              : [m.credentials.ref, { username: m.credentials.username, password: m.credentials.password }];
          }),
        ),
      ),
      { mode: 0o600 },
    );

    checkAbort();
    const t1 = Date.now();
    stack = await startLabStack({
      dir: path.join(spec.dir, 'stack'),
      site,
      agentId,
      bridge: spec.network.bridge,
      address: spec.network.address,
      addressCidr: spec.network.addressCidr,
      dhcpMode: spec.dhcpMode,
      assetsDir: assets.dir,
      secretsFile,
      ...(arm64Assets
        ? { tftpRoot: await arm64TftpRoot(path.join(spec.dir, 'tftp'), arm64Assets.arm64) }
        : spec.vms.some((vm) => vm.firmware === 'uefi-secure')
          ? { tftpRoot: await signedChainTftpRoot(path.join(spec.dir, 'tftp')) }
          : {}),
      // Task containers need no network here; images are made locally, so a missing one is an error, not a pull.
      ...(podman ? { tasks: { engine: podman.endpoint, network: 'none', pull: 'never' as const } } : {}),
      ...(spec.temporalUi !== undefined ? { temporalUi: spec.temporalUi } : {}),
      server: {
        sotDir: path.join(spec.dir, 'sot', 'lab'),
        socket: labSockets(spec.dir).api,
        ...(spec.forwardedUiUrl !== undefined ? { temporalUiUrl: spec.forwardedUiUrl } : {}),
      },
    });
    report.server = {
      url: stack.server.url,
      operateTokenFile: stack.server.operateTokenFile,
      readTokenFile: stack.server.readTokenFile,
    };
    if (stack.temporal.uiUrl !== undefined) report.temporalUiUrl = stack.temporal.uiUrl;
    report.timings.stackS = secs(t1);
    say(
      `stack ready: Temporal ${stack.temporal.address}, agent ${stack.agentUrl}, API and dashboard ${stack.server.url}`,
    );
    if (stack.temporal.server) {
      await notePid('temporal', stack.temporal.server.pid);
      await notePid('temporal-supervisor', stack.temporal.server.supervisorPid);
    }
    if (spec.secondAgent) {
      agent2 = await startSecondAgent({
        dir: path.join(spec.dir, 'agent-2'),
        pidDir,
        site,
        agentId: `${site}-agent-2`,
        bridge: spec.network.bridge,
        address: spec.network.address.replace(/\.\d+$/, '.3'),
        prefixLength: Number(spec.network.cidr.split('/')[1]),
        temporal: {
          address: stack.temporal.address,
          namespace: stack.temporal.namespace,
          codec: stack.temporal.codec.settings,
        },
        assetsDir: assets.dir,
        secretsFile,
        ...(spec.secondAgent.dhcp !== undefined ? { dhcp: spec.secondAgent.dhcp } : {}),
      });
      report.pids[agent2.id] = agent2.pid()!;
      report.secondAgent = { id: agent2.id, url: agent2.url, pids: agent2.pids };
      say(`second agent ${agent2.id} (pid ${agent2.pid()}) at ${agent2.url}`);
    }
    if (spec.vms.some((vm) => vm.disk)) {
      diskReports = await startDiskReports(spec.network.address);
      say(`installed systems report to ${diskReports.url}`);
    }
    const agent = stack.agent;
    // Snapshot each host's gate while it is open: the reservation it carries is what DHCP answers from.
    watch = setInterval(() => {
      for (const m of machines) {
        const g = agent.cache.lookup(m.mac);
        if (g?.open && !openGates.has(m.mac)) openGates.set(m.mac, g);
      }
    }, 100);

    const sotDir = await writeLabSot(path.join(spec.dir, 'sot'), {
      sot: 'lab',
      site,
      agentId,
      agentUrl: stack.agentUrl,
      ...(agent2 ? { moreAgents: [{ id: agent2.id, httpUrl: agent2.url }] } : {}),
      dhcpMode: spec.dhcpMode,
      cidr: spec.network.relay?.cidr ?? spec.network.cidr,
      gateway: spec.network.relay?.gateway ?? spec.network.address,
      ...(spec.bmcFailure ? { maxFail: spec.bmcFailure.maxFail } : {}),
      ...(spec.bootTasks ? { bootTasks: spec.bootTasks } : {}),
      ...(spec.timeouts ? { timeouts: spec.timeouts } : {}),
      ...(spec.powerRetries !== undefined ? { powerRetries: spec.powerRetries } : {}),
      hosts: spec.vms.map((vm, i) => ({
        name: vm.name,
        mac: vm.mac,
        ipv4: vm.ipv4,
        bmc: sotBmc(machines[i]!, extras.get(vm.name)!, bmcImage),
        metadata: { firmware: vm.firmware },
        ...((vm.secureBoot ?? vm.firmware === 'uefi-secure') ? { secureBoot: true } : {}),
        ...(vm.firmware === 'arm64-uefi' ? { loader: 'grub' as const } : {}),
      })),
      ...(arm64 ? { timeouts: ARM64_TIMEOUTS } : {}),
    });
    if (arm64) {
      for (const os of LAB_OSES) await appendOsCmdline(sotDir, os, [ARM64_CONSOLE]);
      commitAll(sotDir, `arm64: ${ARM64_CONSOLE}, the virt board's serial console`);
    }
    // An ssh host's VM is up before the rollout, and its netboot found nothing to boot: only then is its
    // reboot (and the netboot after it) the rollout's doing.
    for (const m of machines) {
      const x = extras.get(m.name)!;
      if (x.kind !== 'ssh') continue;
      await waitUntil(`${m.name}: the VM's netboot before the rollout ended`, 90_000, async () =>
        NO_NETBOOT.test((await m.report()).serial),
      );
      x.serialBeforeRollout = (await m.report()).serial.slice(-1500);
      say(`${m.name}: running with nothing netbooted; rolling out`);
    }
    const client = stack.temporal.client;
    const uiUrl = stack.temporal.uiUrl;
    const limit = (spec.rolloutTimeoutS ?? 180) * 1000;
    let commit = await gitHead(sotDir);
    /** Rolls out the SoT folder as committed, waits for the result and reports what each BMC and host saw. */
    const phase = async (
      name: string,
      planned?: string[],
      during?: () => Promise<void>,
    ): Promise<PhaseReport> => {
      checkAbort();
      const t = Date.now();
      const before = await Promise.all(machines.map(async (m) => (await m.report()).powerOns.length));
      const started = await startDirRollout(client, { dir: sotDir, sot: 'lab' });
      rolloutId = started.workflowId;
      const link = uiUrl
        ? `${uiUrl}/namespaces/${stack!.temporal.namespace}/workflows/${encodeURIComponent(started.workflowId)}`
        : undefined;
      say(`${name}: rollout ${rolloutId} started${link ? ` (${link})` : ''}`);
      await during?.();
      let timer: NodeJS.Timeout | undefined;
      let result: RolloutResult;
      try {
        result = await Promise.race([
          client.workflow.getHandle(started.workflowId).result() as Promise<RolloutResult>,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${name}: the rollout did not finish within ${limit / 1000} s`)),
              limit,
            );
            if (signal?.aborted) reject(new Error('stopped by a signal'));
            signal?.addEventListener('abort', () => reject(new Error('stopped by a signal')), { once: true });
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
      const p: PhaseReport = {
        name,
        commit,
        rolloutId,
        ...(link !== undefined ? { link } : {}),
        ...(planned !== undefined ? { planned } : {}),
        rollout: result,
        seconds: secs(t),
        powerOns: {},
        hosts: {},
      };
      for (const [i, m] of machines.entries()) {
        p.powerOns[m.name] = (await m.report()).powerOns.length - before[i]!;
        const st = await bounded(
          client.workflow.getHandle(hostWorkflowId(site, m.name)).query(hostStatusQuery),
        );
        const booted = st?.timeline
          .filter((e) => e.kind === 'event' && e.message.includes('; cmdline='))
          .at(-1)
          ?.message.replace(/^.*?; cmdline=/, '');
        p.hosts[m.name] = st
          ? {
              state: st.state,
              ...(st.lastError !== undefined ? { error: st.lastError } : {}),
              ...(booted !== undefined ? { bootedCmdline: booted } : {}),
              validated: st.timeline.some((e) => e.message === 'booted kernel command line matches the SoT'),
              powerCycles: st.powerCycles,
              bootStages: st.bootStages,
              events: st.timeline
                .filter((e) => e.kind === 'event')
                .map((e) => ({ at: e.at, message: e.message })),
            }
          : {};
      }
      report.phases.push(p);
      say(
        `${name}: rollout ${result.state} in ${p.seconds}s: ${result.provisioned} provisioned, ${result.failed} failed; power-ons ${JSON.stringify(p.powerOns)}`,
      );
      return p;
    };

    const t2 = Date.now();
    const initial = await phase(
      'initial',
      undefined,
      spec.temporalOutage
        ? () => outage(stack!, machines[0])
        : agent2 && spec.secondAgent?.killDuringNetboot
          ? () => killInNetboot(agent2!)
          : undefined,
    );
    if (initial.rollout !== undefined) report.rollout = initial.rollout;
    report.timings.rolloutS = secs(t2);
    if (report.outage?.restartedAtS !== undefined) {
      report.outage.restartToResultS = Math.round((secs(t0) - report.outage.restartedAtS) * 10) / 10;
      report.outage.outboxAfter = { ...stack.agent.outbox.stats() };
    }
    report.ok = report.rollout?.state === 'completed';
    if (!report.ok) report.error = `rollout ${report.rollout?.state}`;
    if (report.ok && spec.demo) {
      const from = commit;
      await appendOsCmdline(sotDir, 'tiny-b', ['vaquero.demo=2']);
      commit = commitAll(sotDir, 'tiny-b: vaquero.demo=2 on the kernel command line');
      const planned = await planCommits(sotDir, from, commit);
      say(
        `demo: commit ${commit.slice(0, 12)} changes os/tiny-b.yml; plan ${from.slice(0, 12)}..${commit.slice(0, 12)} reprovisions: ${planned.join(', ') || 'nothing'}`,
      );
      const t3 = Date.now();
      const p = await phase('demo', planned);
      report.timings.demoRolloutS = secs(t3);
      if (p.rollout?.state !== 'completed') {
        report.ok = false;
        report.error = `demo rollout ${p.rollout?.state}`;
      }
    }
    if (report.ok && spec.bmcFailure) {
      const victim = machines.find((m) => m.name === spec.bmcFailure!.host);
      if (!victim) throw new Error(`bmcFailure: no VM named ${spec.bmcFailure.host}`);
      const from = commit;
      for (const os of LAB_OSES) await appendOsCmdline(sotDir, os, ['vaquero.bmc-test=1']);
      commit = commitAll(sotDir, 'every profile: vaquero.bmc-test=1');
      const planned = await planCommits(sotDir, from, commit);
      // ipmi_sim is killed by pid (the VM is off after the tiny OS powered it down): the BMC just stops answering.
      await phase('bmc-failure', planned, async () => {
        process.kill(victim.bmc.pid, 'SIGKILL');
        say(`bmc-failure: killed ${victim.name}'s BMC (ipmi_sim pid ${victim.bmc.pid})`);
      });
    }
    if (report.ok && agent2 && spec.secondAgent) {
      const a2 = agent2;
      const r2 = report.secondAgent!;
      if (!a2.pid()) {
        r2.gatesAtRestart = await a2.gates();
        const t = Date.now();
        await a2.start();
        report.pids[`${a2.id}-restarted`] = a2.pid()!;
        say(`${a2.id} restarted (pid ${a2.pid()}); waiting for its cache to close every gate`);
        const macs = new Set(machines.map((m) => m.mac));
        await waitUntil(`${a2.id}: every gate of its cache closed`, 60_000, async () => {
          const gates = (await a2.gates()).filter((g) => macs.has(g.mac));
          return gates.length > 0 && gates.every((g) => !g.open);
        });
        r2.catchUpS = secs(t);
        r2.gatesAfterCatchUp = await a2.gates();
        say(`${a2.id} caught up in ${r2.catchUpS}s`);
      }
      if (spec.secondAgent.strayPowerOn) await strayPowerOn(a2, r2);
      if (spec.secondAgent.secondRollout) {
        const from = commit;
        for (const os of LAB_OSES) await appendOsCmdline(sotDir, os, ['vaquero.rev=2']);
        commit = commitAll(sotDir, 'every profile: vaquero.rev=2');
        const planned = await planCommits(sotDir, from, commit);
        const p = await phase('revision-2', planned);
        if (p.rollout?.state !== 'completed') {
          report.ok = false;
          report.error = `revision-2 rollout ${p.rollout?.state}`;
        }
      }
      r2.metrics = await a2.metrics();
      r2.health = await a2.health();
      r2.powerCalls = (await a2.messages()).filter((m) => m.startsWith(`power ${site}/`));
      r2.outboxLog = (await a2.messages(true)).filter((m) => m.startsWith('outbox:'));
    }
    if (report.ok && spec.bootFromDisk) {
      if (!diskReports) throw new Error('bootFromDisk needs a VM with a disk');
      await bootFromDisk(stack, diskReports);
    }
    if (spec.hold) {
      // The API's socket is the stack's (lab/lab-server.ts); the Temporal UI's, when served, is made here.
      const sockets: LabReady['sockets'] = { api: stack.server.socket };
      if (uiUrl) {
        sockets.ui = labSockets(spec.dir).ui;
        const server = await serveUnixToTcp(sockets.ui, Number(new URL(uiUrl).port));
        stopUiSocket = async () => {
          server.close();
        };
      }
      // Written whole, then renamed: `vaquero lab up` polls for this file and must never read half of it.
      const readyFile = path.join(spec.dir, 'ready.json');
      const ready: LabReady = {
        ok: report.ok,
        ...(report.error !== undefined ? { error: report.error } : {}),
        apiUrl: stack.server.url,
        apiTokenFile: stack.server.operateTokenFile,
        readTokenFile: stack.server.readTokenFile,
        sockets,
        agentUrl: stack.agentUrl,
        temporal: stack.temporal.address,
        ...(uiUrl !== undefined ? { temporalUiUrl: uiUrl } : {}),
        sot: sotDir,
        phases: report.phases,
        pids: report.pids,
      };
      await writeFile(`${readyFile}.tmp`, JSON.stringify(ready, null, 2));
      await rename(`${readyFile}.tmp`, readyFile);
      say('lab is up; waiting for a signal or the release file');
      await holdUntilReleased(path.join(spec.dir, 'release'), signal);
    }
  } catch (err) {
    report.error = describeError(err);
  } finally {
    clearInterval(watch);
    say(report.error ? `stopping after: ${report.error.split('\n')[0]}` : 'rollout done; stopping');
    await collect(report, site, machines, extras, stack, kea, openGates, rolloutId).catch((err: unknown) => {
      report.error = `${report.error ?? ''}\ncollecting the report failed: ${String(err)}`.trim();
    });
    say('report collected');
    for (const m of machines) await m.stop().catch(() => undefined);
    for (const x of extras.values()) await x.sshd?.stop().catch(() => undefined);
    say('machines stopped');
    await stopUiSocket?.().catch(() => undefined);
    await diskReports?.stop().catch(() => undefined);
    if (agent2 && report.secondAgent) {
      report.secondAgent.logTail = (await readFile(agent2.log, 'utf8').catch(() => '')).slice(-4000);
    }
    await agent2?.stop().catch(() => undefined);
    await stack?.stop();
    say('stack stopped');
    await podman
      ?.stop(
        site,
        spec.vms.map((vm) => vm.name),
      )
      .catch(() => undefined);
    await kea?.stop();
    if (relay && report.relay) report.relay.log = relay.daemon.output().slice(-3000);
    await relay?.stop();
    await ra?.stop();
    say('done');
    report.timings.totalS = secs(t0);
  }
  return report;
}

/** What the lab made for one host besides its VM and ipmi_sim. */
interface HostExtras {
  kind: LabBmcKind;
  /** The machine's directory. */
  dir: string;
  sshd?: LabSshd;
  rebootScript?: string;
  rebootLog?: string;
  serialBeforeRollout?: string;
}

/**
 * A VM whose netboot found nothing to boot: iPXE gave up (SeaBIOS then waits to retry), or the UEFI firmware
 * moved on past its network boot options.
 */
const NO_NETBOOT = /No bootable device|No more network devices|Nothing to boot|BdsDxe: failed to load Boot/;

/** The host's BMC interface in the SoT, by kind. */
function sotBmc(m: LabMachine, x: HostExtras, bmcImage: string | undefined): LabSotHost['bmc'] {
  if (x.kind === 'container') {
    if (!bmcImage) throw new Error(`${m.name}: no BMC image was made`);
    return {
      driver: 'container',
      address: m.bmc.address,
      credentials: m.credentials.ref,
      // The image's script logs each call to /log; the network is the agent's (the namespace's loopback).
      options: { image: bmcImage, binds: [`${path.join(x.dir, 'bmc-container')}:/log`], timeout_s: 30 },
    };
  }
  if (x.kind === 'ssh') {
    if (!x.sshd || !x.rebootScript) throw new Error(`${m.name}: no sshd was started`);
    return {
      driver: 'ssh',
      address: x.sshd.address,
      credentials: `${m.name}-ssh`,
      options: {
        reboot_command: x.rebootScript,
        host_key_sha256: x.sshd.hostKeySha256,
        soft_timeout_s: 30,
        connect_timeout_s: 5,
      },
    };
  }
  // ipmi_sim answers in milliseconds: a short ipmitool timeout makes a lost BMC fail its host quickly.
  return { address: m.bmc.address, credentials: m.credentials.ref, options: { timeout_s: 6 } };
}

async function readLines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** Until a signal, or until `releaseFile` exists (polled every 200 ms). */
async function holdUntilReleased(releaseFile: string, signal: AbortSignal | undefined): Promise<void> {
  while (!signal?.aborted) {
    if (
      await access(releaseFile).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function gitHead(dir: string): Promise<string> {
  return Promise.resolve(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim());
}

/** The hosts `vaquero plan --repo DIR FROM TO` would reprovision (added included), by name. */
async function planCommits(repo: string, from: string, to: string): Promise<string[]> {
  const sides = [await checkoutRevision(repo, from), await checkoutRevision(repo, to)];
  try {
    const states = [];
    for (const side of sides) states.push(hostStates((await validateSot(side.dir)).model));
    return planStates(states[0]!, states[1]!)
      .hosts.filter((h) => h.action === 'reprovision' || h.action === 'added')
      .map((h) => h.host);
  } finally {
    await Promise.all(sides.map((c) => c.cleanup()));
  }
}

/** A query that cannot hold up the cleanup: undefined after `ms`. */
function bounded<T>(p: Promise<T>, ms = 10_000): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.catch(() => undefined),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function collect(
  report: ScenarioReport,
  site: string,
  machines: LabMachine[],
  extras: Map<string, HostExtras>,
  stack: LabStack | undefined,
  kea: Kea | undefined,
  openGates: Map<string, GateEntry>,
  rolloutId: string | undefined,
): Promise<void> {
  if (stack && rolloutId) {
    const st = await bounded(stack.temporal.client.workflow.getHandle(rolloutId).query(rolloutStatusQuery));
    if (st !== undefined) report.rolloutTimeline = st.timeline;
  }
  for (const m of machines) {
    const machine = await m.report();
    const status = stack
      ? await bounded(
          stack.temporal.client.workflow.getHandle(hostWorkflowId(site, m.name)).query(hostStatusQuery),
        )
      : undefined;
    const openGate = openGates.get(m.mac);
    const gate = stack?.agent.cache.lookup(m.mac);
    const installerLog =
      stack && status
        ? await bounded(
            readHostInstallerLogs(
              stack.temporal.client,
              site,
              m.name,
              agentsOfTimeline(status.timeline),
              MAX_LOG_LINES_PER_QUERY,
            ),
            20_000,
          )
        : undefined;
    const x = extras.get(m.name);
    const calls =
      x?.kind === 'container' ? await readLines(path.join(x.dir, 'bmc-container', 'calls.log')) : [];
    const sshdExit = x?.sshd?.exit();
    report.hosts.push({
      name: m.name,
      machine,
      ...(status !== undefined ? { status, boot: summarizeBoot(status, machine.powerLog) } : {}),
      ...(openGate !== undefined ? { openGate } : {}),
      ...(gate !== undefined ? { gate } : {}),
      ...(installerLog !== undefined ? { installerLog } : {}),
      bmcKind: x?.kind ?? 'ipmi',
      ...(x?.kind === 'container' ? { bmcContainerCalls: calls } : {}),
      ...(x?.sshd
        ? {
            ssh: {
              address: x.sshd.address,
              rebootLog: x.rebootLog ? await rebootLog(x.rebootLog) : [],
              ...(sshdExit ? { sshdExit } : {}),
              ...(x.serialBeforeRollout !== undefined ? { serialBeforeRollout: x.serialBeforeRollout } : {}),
            },
          }
        : {}),
    });
  }
  if (stack) {
    const siteModel = stack.agent.cache.siteModel();
    if (siteModel !== undefined) report.siteModel = siteModel;
    report.agent = {
      url: stack.agentUrl,
      services: stack.serviceStats(),
      recorder: { ...stack.agent.recorder.stats() },
      drivers: stack.agent.drivers,
      ...(stack.tasksEngine !== undefined ? { tasksEngine: stack.tasksEngine } : {}),
    };
  }
  if (kea) report.kea = { leases: await kea.leases() };
}

/** An error with its causes (a failed workflow's message is in its cause chain). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = err;
    e !== undefined && parts.length < 5;
    e = e instanceof Error ? e.cause : undefined
  ) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(': ');
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error("usage: lab/scenario.ts '<ScenarioSpec JSON>'");
  const spec = JSON.parse(arg) as ScenarioSpec;
  // A caller's SIGTERM abandons the rollout wait, so every VM, BMC and server this run started is still ended
  // (and the report printed); a cleanup that hangs is cut short.
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
    setTimeout(() => process.exit(143), 20_000).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const report = await runScenario(spec, stop.signal);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
