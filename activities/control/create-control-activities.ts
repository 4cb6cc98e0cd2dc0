// Control-plane activities (task queue vaquero-control): fetch, validate, render and plan revisions.
import { heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { SELF_VALIDATING_DRIVERS } from '../../sot/schema.ts';
import type { BmcInterfaceSpec, PhysicalInterfaceSpec, TimeoutKey } from '../../sot/schema.ts';
import { ROLLOUT_WORKFLOW_TYPE, supersedeUpdate } from '../../domain/workflow-api.ts';
import type { HostPlan, StageTimeouts } from '../../domain/host.ts';
import type { PreparedRollout, RolloutHostPlan, RolloutInput, WorkflowPolicy } from '../../domain/rollout.ts';
import type { ControlActivities } from '../../domain/activity-contracts.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import { buildSiteModel } from './site-model.ts';
import { lastReached } from './last-reached.ts';
import type { Reached } from './last-reached.ts';
import { PreparedRevisions } from './prepared-revisions.ts';
import { RevisionStore } from './revision-store.ts';
import { createGithubAccess, githubAuthFromEnv } from './github-access.ts';
import type { GithubAccess } from './github-access.ts';
import { reportRollout } from './rollout-report.ts';
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
export const DEFAULT_SITE_MAX_CONCURRENT = 20;

export function createControlActivities(deps: ControlDeps): ControlActivities {
  const github = deps.github ?? createGithubAccess(() => githubAuthFromEnv());
  const store = new RevisionStore(deps.dataDir, { github });
  const revisions = new PreparedRevisions(store, (sot, revision) =>
    rolloutSource(deps.client, sot, revision),
  );
  const log = deps.log ?? (() => undefined);

  return {
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
      const totals = new Map<string, number>();
      for (const [key, h] of [...rev.hosts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (h.entity.spec.never_provision) {
          counts.skipped++;
          continue;
        }
        totals.set(h.entity.spec.workflow, (totals.get(h.entity.spec.workflow) ?? 0) + 1);
        if (only && !only.has(key)) continue;
        const last = reached.get(key);
        if (!input.force && last?.fingerprint === h.fingerprint) {
          counts.unchanged++;
          continue;
        }
        hosts.push({
          site: h.entity.site,
          host: h.entity.id,
          workflow: h.entity.spec.workflow,
          fingerprint: h.fingerprint,
          action: last ? 'reprovision' : 'added',
          reasons: reasonsFor(last, input.force === true),
        });
      }
      for (const [key, r] of reached) {
        if (r.sot === input.sot && r.fingerprint && !rev.hosts.has(key)) counts.removed++;
      }
      const policies: Record<string, WorkflowPolicy> = {};
      for (const [id, wf] of rev.model.workflows) {
        const p = wf.spec.policy ?? {};
        policies[id] = {
          max_concurrent: p.max_concurrent ?? 1,
          min_standing: p.min_standing ?? 0,
          max_fail: p.max_fail ?? 0,
          block_deps: p.block_deps ?? [],
          total_hosts: totals.get(id) ?? 0,
        };
      }
      const sitePolicies: Record<string, { max_concurrent: number }> = {};
      for (const [id, site] of rev.model.sites) {
        sitePolicies[id] = {
          max_concurrent: site.spec.policy?.max_concurrent ?? DEFAULT_SITE_MAX_CONCURRENT,
        };
      }
      log(
        `${input.rolloutId}: ${hosts.length} to reprovision, ${counts.unchanged} unchanged, ${counts.skipped} skipped`,
      );
      return { sot: input.sot, revision: input.revision, hosts, policies, sitePolicies, counts };
    },

    async loadHostPlan({ sot, revision, site, host }): Promise<HostPlan> {
      const rev = await revisions.get(sot, revision);
      const h = rev.hosts.get(`${site}/${host}`);
      if (!h) throw new Error(`host ${site}/${host} is not in SoT ${sot} at ${revision}`);
      const wf = rev.model.workflows.get(h.entity.spec.workflow)!;
      const boot = h.entity.spec.interfaces.find((i): i is PhysicalInterfaceSpec => i.type === 'physical')!;
      const bmc = h.entity.spec.interfaces.find((i): i is BmcInterfaceSpec => i.type === 'bmc');
      const siteSpec = rev.model.sites.get(site)!.spec;
      const bmcConcurrency = siteSpec.policy?.bmc_concurrency;
      const timeouts = { ...DEFAULT_TIMEOUTS };
      for (const [k, v] of Object.entries(wf.spec.timeouts ?? {})) {
        if (typeof v === 'number') timeouts[k as TimeoutKey] = v;
      }
      return {
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
          },
          beforeShutdown: s.beforeShutdown,
          validate: s.validate,
          ...(bmc && SELF_VALIDATING_DRIVERS.has(bmc.driver) ? { validateWithoutTasks: true } : {}),
        })),
        timeouts,
        powerRetries: wf.spec.power_retries ?? DEFAULT_POWER_RETRIES,
        ...(bmcConcurrency !== undefined ? { bmcConcurrency } : {}),
        // The agents that serve the host's subnet: each of them may answer its DHCP and HTTP.
        agents: siteSpec.agents.filter((a) => !a.subnets || a.subnets.includes(boot.subnet)).map((a) => a.id),
      };
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

function reasonsFor(last: Reached | undefined, force: boolean): string[] {
  if (force) return ['forced by operator'];
  if (!last) return ['never provisioned by vaquero'];
  if (last.running) return ['a reprovision is running at another revision'];
  if (!last.fingerprint) return [`last run ended ${last.status.toLowerCase()}`];
  return [`boot changed since revision ${last.revision ?? '?'}`];
}
