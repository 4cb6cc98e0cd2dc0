// Site activities (task queue site-<site>): the netboot gate, BMC power and boot tasks, run by any worker of
// the site (an agent, or the sim site of `vaquero dev`).
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NetbootGate } from '../../agent/netboot-gate.ts';
import type { SiteModel } from '../../agent/site-model.ts';
import type { NetbootGateInput, PowerInput, PowerResult, SiteActivities, TaskRunInput, TaskRunResult } from '../contracts.ts';
import { cycleToNetwork } from '../power/cycle-to-network.ts';
import type { PowerDriver } from '../power/driver.ts';
import { BmcError } from '../power/driver.ts';
import type { PowerOpLog } from '../power/power-op-log.ts';
import type { TaskRunner } from '../tasks/task-runner.ts';

export interface SiteDeps {
  site: string;
  gate: NetbootGate;
  drivers: Partial<Record<PowerDriver['name'], PowerDriver>>;
  powerLog: PowerOpLog;
  /** Task runner for a host, by its BMC driver (sim hosts get simulated tasks). */
  taskRunner: (driver: string | undefined) => TaskRunner | undefined;
  /** Where a published site model goes (the agent's model cache); sim sites keep none. */
  onSiteModel?: (model: SiteModel) => Promise<void>;
  log?: (msg: string) => void;
}

export function createSiteActivities(deps: SiteDeps): SiteActivities {
  const log = deps.log ?? (() => undefined);
  return {
    async publishSiteModel(model: SiteModel): Promise<void> {
      await deps.onSiteModel?.(model);
      log(`site model ${model.sot}@${model.revision}: ${model.reservations.length} reservations`);
    },

    async setNetbootGate(input: NetbootGateInput): Promise<void> {
      await deps.gate.set(input);
      log(`gate ${input.open ? `open (stage ${input.bootStage})` : 'closed'} for ${input.site}/${input.host}`);
    },

    async powerCycleToNetwork(input: PowerInput): Promise<PowerResult> {
      const done = await deps.powerLog.get(input.opId);
      if (done) return { detail: `${done.detail} (already done for ${input.opId})` };
      const driver = deps.drivers[input.bmc.driver];
      if (!driver) {
        throw ApplicationFailure.nonRetryable(
          `no ${input.bmc.driver} power driver on the workers of site ${deps.site}`,
          'DriverUnavailable',
        );
      }
      const ctx = Context.current();
      try {
        const detail = await cycleToNetwork(
          driver,
          { site: input.site, host: input.host, mac: input.mac, bmc: input.bmc },
          {
            progress: (step) => {
              ctx.heartbeat(step);
              if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
            },
          },
        );
        await deps.powerLog.record({ opId: input.opId, host: `${input.site}/${input.host}`, at: Date.now(), detail });
        log(`power ${input.site}/${input.host}: ${detail}`);
        return { detail };
      } catch (err) {
        if (err instanceof BmcError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'BmcNotApplied');
        throw err;
      }
    },

    async runTasks(input: TaskRunInput): Promise<TaskRunResult> {
      const runner = deps.taskRunner(input.bmc?.driver);
      if (!runner) {
        throw ApplicationFailure.nonRetryable(
          `no task runner for ${input.phase} tasks on the workers of site ${deps.site} (configure a container engine)`,
          'TaskRunnerUnavailable',
        );
      }
      const ctx = Context.current();
      return runner.run(input, (msg) => ctx.heartbeat(msg));
    },
  };
}
