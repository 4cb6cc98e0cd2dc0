// A simulated site: the site activities backed by the sim fleet (power driver, tasks) and an in-memory
// netboot gate, with boot events reported to Temporal exactly as an agent reports them.
import type { Client } from '@temporalio/client';
import path from 'node:path';
import { releaseBmcPermit } from '../activities/control/bmc-permits.ts';
import { TemporalBootEventReporter } from '../agent/boot-event-reporter.ts';
import { MemoryNetbootGate } from './memory-netboot-gate.ts';
import type { NetbootGate } from '../domain/netboot-gate.ts';
import { createSiteActivities } from '../activities/site/create-site-activities.ts';
import type { SiteActivities } from '../domain/activity-contracts.ts';
import { PowerOpLog } from '../activities/power/power-op-log.ts';
import type { PowerDriver } from '../activities/power/driver.ts';
import { createPowerDrivers } from '../activities/power/power-drivers.ts';
import { createSecretStore } from '../agent/secrets/create-secret-store.ts';
import type { TaskRunner } from '../activities/tasks/task-runner.ts';
import type { SecretStore } from '../domain/secret.ts';
import { SimFleet } from './sim-fleet.ts';
import type { SimDelays } from './sim-delays.ts';

export interface SimSite {
  site: string;
  fleet: SimFleet;
  /** What the site's boot services would answer each host (tests check it is closed after a run). */
  gate: NetbootGate;
  powerLog: PowerOpLog;
  activities: SiteActivities;
}

/** What a simulated site can have besides sim hosts: real BMCs and task containers, with their secrets. */
export interface SimSiteExtras {
  /** BMC drivers for hosts with a real BMC (default: ipmi, redfish, ssh); `sim` is always there. */
  drivers?: Partial<Record<PowerDriver['name'], PowerDriver>>;
  /** Resolves the hosts' BMC credentials references (default: VAQUERO_SECRETS_DIR, VAQUERO_SECRETS_FILE, VAQUERO_SECRET_*). */
  secrets?: SecretStore;
  /** Runs the tasks of hosts whose boots have any; sim hosts without tasks keep their simulated validation. */
  containers?: TaskRunner;
}

export function createSimSite(
  opts: {
    site: string;
    client: Client;
    dataDir: string;
    delays: SimDelays;
    log?: (msg: string) => void;
  } & SimSiteExtras,
): SimSite {
  const gate = new MemoryNetbootGate();
  const fleet = new SimFleet({
    delays: opts.delays,
    gate,
    events: new TemporalBootEventReporter(opts.client, opts.log),
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  });
  // On disk, so a restarted worker still knows which power operations it already did.
  const powerLog = new PowerOpLog(path.join(opts.dataDir, 'sites', opts.site, 'power-ops.jsonl'));
  const activities = createSiteActivities({
    site: opts.site,
    gate,
    drivers: { ...(opts.drivers ?? createPowerDrivers()), sim: fleet.driver },
    powerLog,
    releaseBmcPermit: (site, release) => releaseBmcPermit(opts.client, { site, release }),
    secrets: opts.secrets ?? createSecretStore(),
    taskRunner: (driver, input) =>
      opts.containers && input.tasks.length > 0
        ? opts.containers
        : driver === 'sim'
          ? fleet.tasks
          : opts.containers,
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  });
  return { site: opts.site, fleet, gate, powerLog, activities };
}
