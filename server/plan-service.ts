// Plans between two revisions of a configured SoT (or from what the fleet last reached to a revision). Both
// sides are snapshotted into the server's revision store, validated and rendered once, and kept in a small
// cache: a pull request's plan and the API's plan of the same commits cost one render.
import type { Client } from '@temporalio/client';
import { lastReached } from '../activities/control/last-reached.ts';
import { formatDiagnostic, formatWarning, sortDiagnostics } from '../sot/diagnostics.ts';
import { countActions, hostStates, planAgainst, planStates } from '../sot/plan.ts';
import type { HostState, PlanAction, PlanEntry } from '../sot/plan.ts';
import type { SotModel } from '../sot/model.ts';
import { validateSot } from '../sot/validate.ts';
import type { SotConfig } from './config.ts';
import type { SotSources } from './sot-sources.ts';

export interface RevisionCheck {
  revision: string;
  model: SotModel;
  states: Map<string, HostState>;
  problems: string[];
  /** A release_tag not found, and the like: the revision is valid, but an operator should know. */
  warnings: string[];
}

export type PlanResult =
  | {
      valid: true;
      sot: string;
      from: string | null;
      to: string;
      counts: Record<PlanAction, number>;
      hosts: PlanEntry[];
      warnings: { revision: string; messages: string[] }[];
    }
  | {
      valid: false;
      sot: string;
      from: string | null;
      to: string;
      problems: { revision: string; messages: string[] }[];
    };

const KEEP = 8;

export class PlanService {
  private readonly cache = new Map<string, Promise<RevisionCheck>>();

  constructor(
    private readonly sources: SotSources,
    private readonly client: Client,
  ) {}

  check(sot: SotConfig, revision: string): Promise<RevisionCheck> {
    const key = `${sot.name}/${revision}`;
    let p = this.cache.get(key);
    if (!p) {
      p = (async () => {
        const dir = await this.sources.snapshot(sot, revision);
        const { model, diagnostics, warnings } = await validateSot(dir, {
          externals: await this.sources.externals(sot, revision),
          sotName: sot.name,
        });
        const states = hostStates(model);
        // Hosts that do not render are problems too: a plan must not silently leave them out.
        for (const s of states.values()) diagnostics.push(...s.diagnostics);
        return {
          revision,
          model,
          states,
          problems: sortDiagnostics(diagnostics).map(formatDiagnostic),
          warnings: warnings.map(formatWarning),
        };
      })();
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
      while (this.cache.size > KEEP) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }

  /** `from` null: against the fingerprints each host last reached (what a rollout of `to` would do now). */
  async plan(sot: SotConfig, from: string | null, to: string): Promise<PlanResult> {
    const [a, b] = await Promise.all([
      from === null ? Promise.resolve(undefined) : this.check(sot, from),
      this.check(sot, to),
    ]);
    const problems = [a, b]
      .filter((c): c is RevisionCheck => !!c && c.problems.length > 0)
      .map((c) => ({ revision: c.revision, messages: c.problems }));
    if (problems.length > 0) return { valid: false, sot: sot.name, from, to, problems };
    let plan;
    if (a) {
      plan = planStates(a.states, b.states);
    } else {
      const reached = await lastReached(this.client);
      const last = new Map<string, string>();
      // Hosts with a run of their own (a failed or running one too), as the rollout's plan sees them:
      // policy.force_provision holds only hosts that have none.
      const ran = new Set<string>();
      for (const [k, r] of reached) {
        ran.add(k);
        if (r.fingerprint && (r.sot === undefined || r.sot === sot.name)) last.set(k, r.fingerprint);
      }
      plan = planAgainst(b.model, last, ran);
    }
    const warnings = [a, b]
      .filter((c): c is RevisionCheck => !!c && c.warnings.length > 0)
      .map((c) => ({ revision: c.revision, messages: c.warnings }));
    return { valid: true, sot: sot.name, from, to, counts: countActions(plan), hosts: plan.hosts, warnings };
  }
}
