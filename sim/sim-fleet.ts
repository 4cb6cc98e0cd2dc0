// Simulated hosts — a feature for demos and scale runs, not a test double. A sim host has a BMC (the `sim`
// power driver) and, once power-cycled into a network boot while its netboot gate is open, reports the boot
// events a real host causes (DHCP, TFTP, iPXE script, kernel, initrd, config, checkpoint) through the same
// BootEventSink an agent uses, after configurable delays. Knobs per host (the BMC interface's `options`):
// never_dhcp, stall_at: <event>, fail_validation, flaky_bmc: <probability 0..1>.
import { createHash, randomBytes } from 'node:crypto';
import type { BootEventSink } from '../agent/boot-event-reporter.ts';
import type { NetbootGate } from '../domain/netboot-gate.ts';
import type { BmcTarget, BootDevice, PowerDriver, PowerState } from '../activities/power/driver.ts';
import { BmcError } from '../activities/power/driver.ts';
import type { TaskRunner } from '../activities/tasks/task-runner.ts';
import type { TaskRunInput, TaskRunResult } from '../domain/activity-contracts.ts';
import type { BootEventKind } from '../domain/boot-events.ts';
import type { SimDelays } from './sim-delays.ts';
import { simulateNetworkBoot } from './sim-network-boot.ts';
import type { AgentEndpoints, SimBootStep } from './sim-network-boot.ts';

interface SimHostState {
  power: PowerState;
  bootDevice: BootDevice;
  persistent: boolean;
  /** Incremented on every power-on, so a stale boot's timers can tell they are stale. */
  boots: number;
  timers: NodeJS.Timeout[];
  bmcCalls: number;
}

interface SimKnobs {
  never_dhcp: boolean;
  stall_at?: SimEventKind;
  fail_validation: boolean;
  flaky_bmc: number;
}

type SimEventKind = Exclude<BootEventKind, 'log' | 'refused'>;
const BOOT_SEQUENCE: SimEventKind[] = ['dhcp', 'tftp', 'ipxe', 'kernel', 'initrd', 'config', 'checkpoint'];

export interface SimFleetOptions {
  delays: SimDelays;
  /** The gate a sim site keeps in place of an agent; unused when booting through a real agent (`network`). */
  gate?: NetbootGate;
  events: BootEventSink;
  /**
   * Boot through a real agent: the host speaks DHCP, TFTP and HTTP to it and the agent reports the events.
   * Without it, the host reports its events itself through `events` (the agent-less `vaquero dev`).
   */
  network?: AgentEndpoints;
  log?: (msg: string) => void;
}

export class SimFleet {
  private readonly hosts = new Map<string, SimHostState>();
  private readonly log: (msg: string) => void;
  /** Network boots that reached the boot loader, per host: what a scale run or a test can count. */
  readonly netboots = new Map<string, number>();
  /** Power-ons (a cycle or an on), per host, whatever the host then boots from. */
  readonly powerOns = new Map<string, number>();
  /** BMC calls in flight now, and the most ever in flight at once (what a BMC concurrency limit bounds). */
  bmcInFlight = 0;
  bmcMaxInFlight = 0;
  /** Boot counters restart with the process: this keeps event ids unique across a worker restart. */
  private readonly instance = randomBytes(4).toString('hex');

  constructor(private readonly opts: SimFleetOptions) {
    this.log = opts.log ?? (() => undefined);
  }

  /** A sim host's power as its BMC would read it; undefined for one no BMC call has touched yet. */
  powerOf(site: string, host: string): PowerState | undefined {
    return this.hosts.get(`${site}/${host}`)?.power;
  }

  private state(t: BmcTarget): SimHostState {
    const key = `${t.site}/${t.host}`;
    let s = this.hosts.get(key);
    if (!s) {
      // A sim host starts powered on, running its installed OS, like a machine in service.
      s = { power: 'on', bootDevice: 'disk', persistent: true, boots: 0, timers: [], bmcCalls: 0 };
      this.hosts.set(key, s);
    }
    return s;
  }

  /** The `sim` power driver. */
  readonly driver: PowerDriver = {
    name: 'sim',
    credentialless: true,
    powerStatus: async (t) => {
      await this.bmcCall(t);
      return this.state(t).power;
    },
    powerOn: async (t) => {
      await this.bmcCall(t);
      const s = this.state(t);
      if (s.power === 'off') this.boot(t, s);
    },
    powerOff: async (t) => {
      await this.bmcCall(t);
      this.halt(this.state(t));
    },
    powerCycle: async (t) => {
      await this.bmcCall(t);
      const s = this.state(t);
      this.halt(s);
      this.boot(t, s);
    },
    // A sim host has no warm reset of its own: it reboots, which is all a reset means to it.
    powerReset: async (t) => {
      await this.bmcCall(t);
      const s = this.state(t);
      this.halt(s);
      this.boot(t, s);
    },
    setBootDevice: async (t, device, { persistent }) => {
      await this.bmcCall(t);
      const s = this.state(t);
      s.bootDevice = device;
      s.persistent = persistent;
    },
    getBootDevice: async (t) => {
      await this.bmcCall(t);
      const s = this.state(t);
      return { device: s.bootDevice, persistent: s.persistent, raw: s.bootDevice };
    },
  };

  /** Tasks of sim hosts are simulated too: before_shutdown succeeds, validate fails with `fail_validation`. */
  readonly tasks: TaskRunner = {
    run: async (input: TaskRunInput): Promise<TaskRunResult> => {
      await delay(this.opts.delays.task);
      const knobs = input.bmc ? knobsOf(input.bmc.options) : undefined;
      const names = input.tasks.length > 0 ? input.tasks.map((t) => t.name) : [`sim-${input.phase}`];
      const fail = input.phase === 'validate' && knobs?.fail_validation === true;
      return {
        ok: !fail,
        results: names.map((name) => ({
          name,
          ok: !fail,
          exitCode: fail ? 1 : 0,
          attempts: 1,
          log: fail ? 'sim: validation failed (fail_validation knob)' : `sim: ${input.phase} ok`,
        })),
      };
    },
  };

  private async bmcCall(t: BmcTarget): Promise<void> {
    const s = this.state(t);
    s.bmcCalls++;
    this.bmcInFlight++;
    this.bmcMaxInFlight = Math.max(this.bmcMaxInFlight, this.bmcInFlight);
    try {
      await delay(this.opts.delays.bmc);
    } finally {
      this.bmcInFlight--;
    }
    const { flaky_bmc } = knobsOf(t.bmc.options);
    // Deterministic per host and call, so a flaky run can be reproduced.
    if (flaky_bmc > 0 && unitHash(`${t.site}/${t.host}#${s.bmcCalls}`) < flaky_bmc) {
      throw new BmcError(`sim BMC ${t.bmc.address}: no response (flaky_bmc ${flaky_bmc})`);
    }
  }

  private halt(s: SimHostState): void {
    s.power = 'off';
    for (const timer of s.timers) clearTimeout(timer);
    s.timers = [];
  }

  private boot(t: BmcTarget, s: SimHostState): void {
    s.power = 'on';
    s.boots++;
    const hostKey = `${t.site}/${t.host}`;
    this.powerOns.set(hostKey, (this.powerOns.get(hostKey) ?? 0) + 1);
    const fromNetwork = s.bootDevice === 'network';
    if (!s.persistent) s.bootDevice = 'disk';
    if (!fromNetwork) return;
    if (this.opts.network) {
      this.bootThroughAgent(t, s, this.opts.network);
      return;
    }
    const gate = this.opts.gate?.lookup(t.mac);
    // Like a real agent, a closed gate means no boot file: the host falls through to its disk.
    if (!gate?.open) {
      this.log(`sim ${t.host}: network boot found the gate closed; booting from disk`);
      return;
    }
    const knobs = knobsOf(t.bmc.options);
    if (knobs.never_dhcp) {
      this.log(`sim ${t.host}: never_dhcp — staying silent`);
      return;
    }
    const key = `${t.site}/${t.host}`;
    this.netboots.set(key, (this.netboots.get(key) ?? 0) + 1);
    const bootNo = s.boots;
    let at = 0;
    for (const kind of BOOT_SEQUENCE) {
      if (kind === 'config' && !gate.hasConfig) continue;
      if (knobs.stall_at === kind) break;
      at += this.opts.delays[kind];
      const timer = setTimeout(() => {
        if (s.boots !== bootNo) return;
        const event = {
          id: `sim-${t.mac}-${this.instance}-${bootNo}-${kind}-${gate.runId.slice(0, 8)}`,
          kind,
          mac: t.mac,
          at: Date.now(),
          source: 'sim',
          detail: detailFor(kind, gate.bootStage),
        };
        this.opts.events
          .report(t.site, t.host, event, { batch: gate.eventBatches === true })
          .catch((err: unknown) => {
            this.log(
              `sim ${t.host}: could not report ${kind}: ${err instanceof Error ? err.message : String(err)}`,
            );
          });
      }, at);
      s.timers.push(timer);
    }
  }

  private bootThroughAgent(t: BmcTarget, s: SimHostState, agent: AgentEndpoints): void {
    const knobs = knobsOf(t.bmc.options);
    if (knobs.never_dhcp) {
      this.log(`sim ${t.host}: never_dhcp — staying silent`);
      return;
    }
    const key = `${t.site}/${t.host}`;
    this.netboots.set(key, (this.netboots.get(key) ?? 0) + 1);
    const bootNo = s.boots;
    const delays = this.opts.delays;
    const stallAt = knobs.stall_at === 'initrd' ? 'kernel' : (knobs.stall_at as SimBootStep | undefined);
    void simulateNetworkBoot(agent, {
      mac: t.mac,
      ...(stallAt !== undefined ? { stallAt } : {}),
      wait: (step) => delay(step === 'kernel' ? delays.kernel + delays.initrd : delays[step]),
      cancelled: () => s.boots !== bootNo || s.power === 'off',
    }).then(
      (steps) => this.log(`sim ${t.host}: network boot did ${steps.join(', ') || 'nothing'}`),
      (err: unknown) =>
        this.log(`sim ${t.host}: network boot failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /**
   * A host without a BMC netboots by itself (an operator pressed its power button, or its OS rebooted into the
   * network): it restarts and boots from the network once, exactly as a power cycle into a network boot makes a sim
   * host boot, but with no BMC call. Its netboot gate decides, as ever, whether it gets a boot file.
   */
  netbootBySelf(site: string, host: string, mac: string): void {
    const t: BmcTarget = { site, host, mac, bmc: { driver: 'sim', address: `self://${host}`, options: {} } };
    const s = this.state(t);
    this.halt(s);
    s.bootDevice = 'network';
    s.persistent = false;
    this.boot(t, s);
  }

  /** Stop all pending simulated boots (shutdown). */
  stop(): void {
    for (const s of this.hosts.values()) this.halt(s);
  }
}

function detailFor(kind: BootEventKind, stage: number): string {
  switch (kind) {
    case 'dhcp':
      return 'DHCPACK (sim)';
    case 'tftp':
      return 'undionly.kpxe (sim)';
    case 'ipxe':
      return `iPXE script for boot stage ${stage} (sim)`;
    default:
      return `${kind} (sim)`;
  }
}

function knobsOf(options: Record<string, unknown>): SimKnobs {
  const stall = options.stall_at;
  const flaky = Number(options.flaky_bmc ?? 0);
  return {
    never_dhcp: options.never_dhcp === true,
    ...(typeof stall === 'string' ? { stall_at: stall as SimEventKind } : {}),
    fail_validation: options.fail_validation === true,
    flaky_bmc: Number.isFinite(flaky) ? Math.min(Math.max(flaky, 0), 1) : 0,
  };
}

function unitHash(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
