// Control-plane activities (task queue vaquero-control): fetch, validate, render and plan revisions.
import { configOf } from '../../sot/model.ts';
import { heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { SELF_VALIDATING_DRIVERS } from '../../sot/schema.ts';
import type { BmcInterfaceSpec, TimeoutKey } from '../../sot/schema.ts';
import { bootInterface } from '../../sot/boot-interface.ts';
import { ROLLOUT_WORKFLOW_TYPE, supersedeUpdate } from '../../domain/workflow-api.ts';
import type { HostPlan, StageTimeouts } from '../../domain/host.ts';
import type {
  PreparedRollout,
  RolloutHostPlan,
  RolloutInput,
  RolloutPlanPage,
  RolloutPlanPageInput,
  RolloutPlanSummary,
} from '../../domain/rollout.ts';
import type { ControlActivities } from '../../domain/activity-contracts.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import { buildSiteModel } from './site-model.ts';
import { closedRuns, lastReached } from './last-reached.ts';
import {
  heldNewHost,
  planHost,
  planRollout,
  policiesOf,
  rolloutPlanPage,
  sitePoliciesOf,
} from './rollout-plan.ts';
import { PreparedRevisions } from './prepared-revisions.ts';
import { RevisionStore } from './revision-store.ts';
import { createGithubAccess, githubAuthFromEnv } from './github-access.ts';
import type { GithubAccess } from './github-access.ts';
import { reportRollout } from './rollout-report.ts';
import { acquireBmcPermit } from './bmc-permits.ts';
import { bmcPermitLeaseMs, DEFAULT_BMC_CONCURRENCY } from '../../domain/bmc-semaphore-api.ts';
import { rolloutSource } from './rollout-source.ts';

export interface ControlDeps {
  dataDir: string;
  client: Client;
  log?: (msg: string) => void;
  /** GitHub credentials (SoT archives, check runs); default: from the environment. */
  github?: GithubAccess;
}

/** Seconds; generous for real hardware. SoT workflows override them per stage. */
export const DEFAULT_TIMEOUTS: StageTimeouts = {
  pre_shutdown: 1800,
  power: 300,
  dhcp: 300,
  tftp: 120,
  ipxe: 120,
  kernel: 300,
  config: 1800,
  checkpoint: 3600,
  validate: 1800,
};
export const DEFAULT_POWER_RETRIES = 2;

export function createControlActivities(deps: ControlDeps): ControlActivities {
  const github = deps.github ?? createGithubAccess(() => githubAuthFromEnv());
  const store = new RevisionStore(deps.dataDir, { github });
  const revisions = new PreparedRevisions(store, (sot, revision) =>
    rolloutSource(deps.client, sot, revision),
  );
  const log = deps.log ?? (() => undefined);

  return {
    async planRollout(input: RolloutInput & { rolloutId: string }): Promise<RolloutPlanSummary> {
      log(`planning ${input.rolloutId}`);
      await store.snapshot(input.sot, input.revision, input.source);
      heartbeat('snapshot');
      const rev = await revisions.get(input.sot, input.revision);
      heartbeat('rendered');
      // A release_tag not found: the rollout goes on with the current revision of that site, and says so.
      for (const w of rev.warnings) log(`${input.rolloutId}: ${w}`);
      const plan = await planRollout(deps.client, rev, input);
      log(
        `${input.rolloutId}: ${plan.total} to reprovision in ${plan.groups.length} group(s), ${plan.counts.unchanged} unchanged, ${plan.counts.skipped} skipped`,
      );
      return plan;
    },

    async rolloutPlanPage(input: RolloutPlanPageInput): Promise<RolloutPlanPage> {
      const rev = await revisions.get(input.sot, input.revision);
      return rolloutPlanPage(deps.client, rev, input);
    },

    closedHostRuns({ hosts }) {
      return closedRuns(deps.client, hosts);
    },

    async prepareRollout(input: RolloutInput & { rolloutId: string }): Promise<PreparedRollout> {
      log(`preparing ${input.rolloutId}`);
      await store.snapshot(input.sot, input.revision, input.source);
      heartbeat('snapshot');
      const rev = await revisions.get(input.sot, input.revision);
      heartbeat('rendered');
      const reached = await lastReached(deps.client);
      const only = input.only ? new Set(input.only) : undefined;
      const hosts: RolloutHostPlan[] = [];
      const counts = { unchanged: 0, skipped: 0, removed: 0 };
      for (const [key, h] of [...rev.hosts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (h.entity.spec.never_provision) {
          counts.skipped++;
          continue;
        }
        if (only && !only.has(key)) continue;
        if (heldNewHost(rev, h, reached.get(key), input.force === true)) {
          counts.skipped++;
          continue;
        }
        const p = planHost(h, reached.get(key), input.force === true);
        if (p) hosts.push(p);
        else counts.unchanged++;
      }
      for (const [key, r] of reached) {
        if (r.sot === input.sot && r.fingerprint && !rev.hosts.has(key)) counts.removed++;
      }
      const policies = policiesOf(rev);
      const sitePolicies = sitePoliciesOf(rev);
      log(
        `${input.rolloutId}: ${hosts.length} to reprovision, ${counts.unchanged} unchanged, ${counts.skipped} skipped`,
      );
      return { sot: input.sot, revision: input.revision, hosts, policies, sitePolicies, counts };
    },

    acquireBmcPermit: (input) => acquireBmcPermit(deps.client, input),

    async loadHostPlan({ sot, revision, site, host, firstPermit }): Promise<HostPlan> {
      const rev = await revisions.get(sot, revision);
      const h = rev.hosts.get(`${site}/${host}`);
      if (!h) throw new Error(`host ${site}/${host} is not in SoT ${sot} at ${revision}`);
      const wf = configOf(rev.model, h.entity).workflows.get(h.entity.spec.workflow)!;
      const boot = bootInterface(h.entity.spec)!;
      const bmc = h.entity.spec.interfaces.find((i): i is BmcInterfaceSpec => i.type === 'bmc');
      const siteSpec = rev.model.sites.get(site)!.spec;
      const bmcConcurrency = siteSpec.policy?.bmc_concurrency;
      const timeouts = { ...DEFAULT_TIMEOUTS };
      for (const [k, v] of Object.entries(wf.spec.timeouts ?? {})) {
        if (typeof v === 'number') timeouts[k as TimeoutKey] = v;
      }
      const plan: HostPlan = {
        sot,
        revision,
        site,
        host,
        workflow: h.entity.spec.workflow,
        fingerprint: h.fingerprint,
        mac: h.rendered.mac,
        ...(boot.ipv4 !== undefined ? { ipv4: boot.ipv4 } : {}),
        ...(bmc
          ? {
              bmc: {
                driver: bmc.driver,
                address: bmc.address,
                ...(bmc.credentials !== undefined ? { credentials: bmc.credentials } : {}),
                options: bmc.options ?? {},
              },
            }
          : {}),
        subnet: boot.subnet,
        ...(boot.hostname !== undefined ? { hostname: boot.hostname } : {}),
        stages: h.rendered.stages.map((s) => ({
          index: s.index,
          boot: s.boot,
          os: s.os,
          hasConfig: s.config !== undefined,
          artifacts: {
            bootStage: s.index,
            ipxe: s.ipxe,
            kernel: s.kernel,
            initrds: s.initrds,
            cmdline: s.cmdline,
            ...(s.config !== undefined ? { config: s.config } : {}),
            ...(s.grub !== undefined ? { loader: 'grub' as const, grub: s.grub } : {}),
          },
          beforeShutdown: s.beforeShutdown,
          validate: s.validate,
          ...(bmc && SELF_VALIDATING_DRIVERS.has(bmc.driver) ? { validateWithoutTasks: true } : {}),
        })),
        timeouts,
        powerRetries: wf.spec.power_retries ?? DEFAULT_POWER_RETRIES,
        onFailure: wf.spec.on_failure ?? 'power_off',
        ...(bmcConcurrency !== undefined ? { bmcConcurrency } : {}),
        // The agents that serve the host's subnet: each of them may answer its DHCP and HTTP.
        agents: siteSpec.agents.filter((a) => !a.subnets || a.subnets.includes(boot.subnet)).map((a) => a.id),
      };
      // The first power cycle's permit, asked for now: nothing comes between the plan and that cycle unless the
      // stage runs tasks before shutdown (then it is asked for after them, not held while they run).
      const stage = plan.stages.find((x) => x.index === firstPermit?.bootStage);
      if (firstPermit && plan.bmc && stage && stage.beforeShutdown.length === 0) {
        const r = await acquireBmcPermit(deps.client, {
          site,
          request: {
            holder: firstPermit.holder,
            requestId: firstPermit.requestId,
            limit: bmcConcurrency ?? DEFAULT_BMC_CONCURRENCY,
            leaseMs: bmcPermitLeaseMs(timeouts.power),
          },
        });
        plan.firstPermit = { requestId: firstPermit.requestId, granted: r.granted };
      }
      return plan;
    },

    async siteModel({ sot, revision, site }): Promise<SiteModel> {
      const rev = await revisions.get(sot, revision);
      return buildSiteModel(rev.model, sot, revision, site);
    },

    reportRollout(input) {
      return reportRollout(github, input);
    },

    async supersedeOlderRollouts({ sot, rolloutId }): Promise<string[]> {
      const prefix = `rollout/${sot}/`;
      const older: string[] = [];
      for await (const wf of deps.client.workflow.list({
        query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`,
      })) {
        if (wf.workflowId.startsWith(prefix) && wf.workflowId !== rolloutId) older.push(wf.workflowId);
      }
      for (const id of older) {
        await deps.client.workflow.getHandle(id).executeUpdate(supersedeUpdate, { args: [rolloutId] });
        log(`${rolloutId} superseded ${id}`);
      }
      return older;
    },
  };
}
