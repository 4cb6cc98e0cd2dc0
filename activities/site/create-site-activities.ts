// Site activities (task queue site-<site>): the netboot gate, BMC power and boot tasks, run by any worker of
// the site (an agent, or the sim site of `vaquero dev`).
//
// Power options every driver understands (the BMC interface's `options`): `boot_device` (network, the
// default, or uefi-http), `verify_attempts` (default 3: writes re-issued when the read-back disagrees) and
// `power_settle_s` (default 30: how long a power change may take to show in the status).
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NetbootGate } from '../../domain/netboot-gate.ts';
import type { SecretStore } from '../../domain/secret.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import type {
  HeldEventsInput,
  HeldEventsResult,
  NetbootGateInput,
  PowerInput,
  PowerResult,
  SiteActivities,
  TaskRunInput,
  TaskRunResult,
} from '../../domain/activity-contracts.ts';
import type { BmcPermitRelease } from '../../domain/bmc-semaphore-api.ts';
import { MAX_LOG_LINES_PER_QUERY } from '../../domain/installer-logs.ts';
import type { InstallerLogAnswer, InstallerLogLine, InstallerLogQuery } from '../../domain/installer-logs.ts';
import { optNumber, optString } from '../power/bmc-options.ts';
import { cycleToNetwork } from '../power/cycle-to-network.ts';
import { powerOffVerified } from '../power/power-off.ts';
import type { BmcTarget, PowerDriver } from '../power/driver.ts';
import { BmcError } from '../power/driver.ts';
import type { PowerOpLog } from '../power/power-op-log.ts';
import { runBmcOperation } from '../power/run-bmc-operation.ts';
import type { TaskRunner } from '../tasks/task-runner.ts';
import { noteGateTrace } from '../../temporal/telemetry/boot-traces.ts';

export interface SiteDeps {
  site: string;
  gate: NetbootGate;
  drivers: Partial<Record<PowerDriver['name'], PowerDriver>>;
  powerLog: PowerOpLog;
  /** Resolves the BMC credentials references of the SoT on this agent. */
  secrets?: SecretStore;
  /** Task runner for a host's tasks, by its BMC driver (sim hosts get simulated tasks, others task containers). */
  taskRunner: (driver: string | undefined, input: TaskRunInput) => TaskRunner | undefined;
  /**
   * The agent's event outbox. Sim sites have none: their hosts' events are signalled as they happen, so they
   * never hold any.
   */
  heldEvents?: { deliverFor(workflowId: string, timeoutMs: number): Promise<HeldEventsResult> };
  /** Where a published site model goes (the agent's model cache); sim sites keep none. */
  onSiteModel?: (model: SiteModel) => Promise<void>;
  /** Gives a BMC permit back to the site's semaphore (through Temporal) once a power cycle holding it is done. */
  releaseBmcPermit?: (site: string, release: BmcPermitRelease) => Promise<void>;
  log?: (msg: string) => void;
  /** This agent's id and its kept installer log lines (agent/installer-logs/log-store.ts); sim sites keep none. */
  installerLogs?: {
    agent: string;
    read(
      host: string,
      runId: string | undefined,
      limit: number,
    ): Promise<{ runId?: string; lines: InstallerLogLine[]; received: number }>;
  };
}

/** How long the agent waits for a host's held events to go out; within the workflow's limit for the call. */
const HELD_EVENTS_WAIT_MS = 20_000;

export function createSiteActivities(deps: SiteDeps): SiteActivities {
  const log = deps.log ?? (() => undefined);
  return {
    async publishSiteModel(model: SiteModel): Promise<void> {
      await deps.onSiteModel?.(model);
      log(`site model ${model.sot}@${model.revision}: ${model.reservations.length} reservations`);
    },

    setNetbootGate,

    async powerCycleToNetwork(input: PowerInput): Promise<PowerResult> {
      const { gate, permit, ...power } = input;
      if (gate) await setNetbootGate(gate);
      const r = await powerCycleToNetwork(power);
      if (!permit || !deps.releaseBmcPermit) return r;
      // Given back here, so the host's history needs no call for it; if it cannot be, the workflow does it.
      try {
        await deps.releaseBmcPermit(permit.site, permit.release);
        return { ...r, permitReleased: true };
      } catch (err) {
        log(
          `BMC permit ${permit.release.requestId}: not given back here (${err instanceof Error ? err.message : String(err)})`,
        );
        return r;
      }
    },

    async powerOffHost(input: Omit<PowerInput, 'permit'>): Promise<PowerResult> {
      const { gate, ...power } = input;
      if (gate) await setNetbootGate(gate);
      const o = power.bmc.options;
      // No BMC permit: bmc_concurrency spreads the inrush of hosts powering on; an off draws none.
      return loggedBmcOperation(power, 'power off', (driver, target, progress) =>
        powerOffVerified(driver, target, {
          attempts: optNumber(o, 'verify_attempts', 3),
          settleMs: optNumber(o, 'power_settle_s', 30) * 1000,
          progress,
        }),
      );
    },

    async runTasks(input: TaskRunInput): Promise<TaskRunResult> {
      const { closeGate, ...tasks } = input;
      if (closeGate) await setNetbootGate(closeGate);
      return runTasks(tasks);
    },

    async deliverHeldEvents(input: HeldEventsInput): Promise<HeldEventsResult> {
      if (!deps.heldEvents) return { held: 0, left: 0 };
      const r = await deps.heldEvents.deliverFor(input.workflowId, HELD_EVENTS_WAIT_MS);
      if (r.held > 0)
        log(`held events for ${input.workflowId}: ${r.held - r.left} of ${r.held} delivered on request`);
      return r;
    },

    async installerLogLines(input: InstallerLogQuery): Promise<InstallerLogAnswer> {
      const limit = Math.max(0, Math.min(MAX_LOG_LINES_PER_QUERY, Math.floor(input.limit)));
      if (!deps.installerLogs) return { agent: '(none)', lines: [], received: 0 };
      const r = await deps.installerLogs.read(input.host, input.runId, limit);
      return { agent: deps.installerLogs.agent, ...r };
    },
  };

  async function setNetbootGate(input: NetbootGateInput): Promise<void> {
    const outcome = await deps.gate.set(input);
    // The host's trace goes with its gate, so the agent's boot events join it (nothing when not tracing).
    if (outcome === 'applied') noteGateTrace(input);
    const what = input.open ? `open (stage ${input.bootStage})` : 'closed';
    log(
      outcome === 'applied'
        ? `gate ${what} for ${input.site}/${input.host}`
        : outcome === 'ignored-other-run'
          ? `gate update (${what}) for ${input.site}/${input.host} ignored: it is from run ${input.runId}, the gate belongs to a newer run`
          : `gate update (${what}) for ${input.site}/${input.host} ignored: the agent already has a newer one`,
    );
  }

  function powerCycleToNetwork(input: Omit<PowerInput, 'gate' | 'permit'>): Promise<PowerResult> {
    const o = input.bmc.options;
    return loggedBmcOperation(input, 'power', (driver, target, progress) => {
      const device = optString(o, 'boot_device', 'network');
      if (device !== 'network' && device !== 'uefi-http')
        throw new BmcError(`BMC option boot_device must be network or uefi-http, not ${device}`, false);
      return cycleToNetwork(driver, target, {
        device,
        attempts: optNumber(o, 'verify_attempts', 3),
        settleMs: optNumber(o, 'power_settle_s', 30) * 1000,
        progress,
      });
    });
  }

  /**
   * One BMC operation of a host, at most once per opId: a retried activity finds it in the site's power log and
   * does not touch the BMC again. Credentials, heartbeats, cancellation and the time cap come with runBmcOperation.
   */
  async function loggedBmcOperation(
    input: Omit<PowerInput, 'gate' | 'permit'>,
    what: string,
    op: (driver: PowerDriver, target: BmcTarget, progress: (step: string) => void) => Promise<string>,
  ): Promise<PowerResult> {
    const done = await deps.powerLog.get(input.opId);
    if (done) return { detail: `${done.detail} (already done for ${input.opId})` };
    const driver = driverFor(input.bmc.driver);
    const ctx = Context.current();
    const detail = await runBmcOperation(
      {
        driver,
        target: { site: input.site, host: input.host, mac: input.mac, bmc: input.bmc },
        ...(deps.secrets !== undefined ? { secrets: deps.secrets } : {}),
        cancelled: ctx.cancellationSignal,
        heartbeat: (d) => ctx.heartbeat(d),
      },
      (target, progress) => op(driver, target, progress),
    );
    await deps.powerLog.record({
      opId: input.opId,
      host: `${input.site}/${input.host}`,
      at: Date.now(),
      detail,
    });
    log(`${what} ${input.site}/${input.host}: ${detail}`);
    return { detail };
  }

  function driverFor(name: PowerDriver['name']): PowerDriver {
    const driver = deps.drivers[name];
    if (!driver)
      throw ApplicationFailure.nonRetryable(
        `no ${name} power driver on the workers of site ${deps.site}`,
        'DriverUnavailable',
      );
    return driver;
  }

  async function runTasks(input: TaskRunInput): Promise<TaskRunResult> {
    const runner = deps.taskRunner(input.bmc?.driver, input);
    if (!runner) {
      throw ApplicationFailure.nonRetryable(
        `no task runner for ${input.phase} tasks on the workers of site ${deps.site} (configure a container engine)`,
        'TaskRunnerUnavailable',
      );
    }
    const ctx = Context.current();
    return runner.run(input, (msg) => ctx.heartbeat(msg), ctx.cancellationSignal);
  }
}
