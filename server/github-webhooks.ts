// GitHub webhook deliveries. The signature (X-Hub-Signature-256, HMAC-SHA256 of the raw body) is verified with
// @octokit/webhooks before the body is even parsed; a forged, missing or stale signature (one made for another
// body, or with a secret no longer configured) is rejected and starts nothing.
//   push          to a configured SoT's branch: the rollout of exactly that commit (`after`), if it is still the
//                 branch head (a late or replayed delivery of an older push must not roll the fleet back) and
//                 not already the SoT's newest rollout, and its delivery id never started a rollout before (a
//                 redelivery starts nothing, even after an operator rolled back; see fleet-ops.ts)
//   pull_request  opened/synchronize/reopened against a SoT's branch: the plan base..head as a check run and/or
//                 PR comment, computed after the response (GitHub waits 10 s for an answer)
//   ping          answered
import { Webhooks } from '@octokit/webhooks';
import type { GithubAccess } from '../activities/control/github-access.ts';
import type { GithubConfig, SotConfig } from './config.ts';
import type { FleetOps } from './fleet-ops.ts';
import type { ServerMetrics } from './metrics.ts';
import type { PlanService } from './plan-service.ts';
import { reportPullRequestPlan } from './pr-plan.ts';
import type { SotSources } from './sot-sources.ts';

const ZERO_SHA = /^0{40}$/;
const PR_ACTIONS = new Set(['opened', 'synchronize', 'reopened', 'ready_for_review']);

export interface DeliveryResult {
  sot: string;
  action: 'started' | 'ignored' | 'planning';
  workflowId?: string;
  revision?: string;
  reason?: string;
}

export interface DeliveryResponse {
  status: 200 | 202;
  body: { event: string; delivery: string; results: DeliveryResult[]; zen?: string };
}

interface RepoPayload {
  full_name?: string;
  clone_url?: string;
  ssh_url?: string;
  git_url?: string;
  html_url?: string;
}

export class GithubWebhookHandler {
  private readonly verifiers: Webhooks[];

  constructor(
    private readonly deps: {
      config: GithubConfig;
      access: GithubAccess;
      sources: SotSources;
      ops: FleetOps;
      plans: PlanService;
      metrics?: ServerMetrics;
      log: (msg: string) => void;
      /** Work that outlives the response (pull request plans); the app waits for it on close. */
      background: (what: string, p: Promise<unknown>) => void;
    },
  ) {
    this.verifiers = deps.config.webhookSecrets.map((secret) => new Webhooks({ secret }));
  }

  get configured(): boolean {
    return this.verifiers.length > 0;
  }

  /** True when `signature` is `sha256=<hex>` of `body` under a configured secret (constant-time compare). */
  async verify(body: string, signature: string | undefined): Promise<boolean> {
    if (!signature || !signature.startsWith('sha256=') || body.length === 0) return false;
    let ok = false;
    for (const v of this.verifiers) {
      // Every secret is tried, so timing does not tell which one matched.
      if (await v.verify(body, signature).catch(() => false)) ok = true;
    }
    return ok;
  }

  private sotsFor(repo: RepoPayload | undefined): SotConfig[] {
    if (!repo?.full_name) return [];
    const full = repo.full_name.toLowerCase();
    const urls = new Set(
      [repo.clone_url, repo.ssh_url, repo.git_url, repo.html_url].filter((u): u is string => !!u),
    );
    return this.deps.sources
      .list()
      .filter(
        (s) =>
          (s.kind === 'github' && s.repo.toLowerCase() === full) || (s.kind === 'git' && urls.has(s.url)),
      );
  }

  async handle(event: string, delivery: string, payload: Record<string, unknown>): Promise<DeliveryResponse> {
    const body = { event, delivery, results: [] as DeliveryResult[] };
    const count = (outcome: string) => this.deps.metrics?.webhookDeliveries.inc({ event, outcome });
    if (event === 'ping') {
      count('pong');
      return { status: 200, body: { ...body, zen: typeof payload.zen === 'string' ? payload.zen : 'pong' } };
    }
    if (event === 'push') {
      const r = await this.push(payload, delivery);
      body.results = r;
      const started = r.some((x) => x.action === 'started');
      count(started ? 'started' : 'ignored');
      return { status: started ? 202 : 200, body };
    }
    if (event === 'pull_request') {
      body.results = this.pullRequest(payload);
      const planning = body.results.some((x) => x.action === 'planning');
      count(planning ? 'planning' : 'ignored');
      return { status: planning ? 202 : 200, body };
    }
    count('ignored');
    body.results = [{ sot: '', action: 'ignored', reason: `event ${event} is not handled` }];
    return { status: 200, body };
  }

  private async push(p: Record<string, unknown>, delivery: string): Promise<DeliveryResult[]> {
    const ref = typeof p.ref === 'string' ? p.ref : '';
    const after = typeof p.after === 'string' ? p.after : '';
    const sots = this.sotsFor(p.repository as RepoPayload | undefined);
    if (sots.length === 0)
      return [{ sot: '', action: 'ignored', reason: 'no configured SoT is this repository' }];
    const out: DeliveryResult[] = [];
    for (const sot of sots) {
      const branch = sot.kind === 'dir' ? '' : sot.branch;
      const ignore = (reason: string) =>
        out.push({ sot: sot.name, action: 'ignored', ...(after ? { revision: after } : {}), reason });
      if (ref !== `refs/heads/${branch}`) ignore(`${ref} is not branch ${branch}`);
      else if (p.deleted === true || ZERO_SHA.test(after)) ignore('the branch was deleted');
      else if (!/^[0-9a-f]{40}$/.test(after)) ignore('the push names no commit');
      else if (!sot.autoRollout) ignore(`auto_rollout is off for ${sot.name}`);
      else {
        if (this.deps.config.requireHead) {
          const head = await this.deps.sources.currentRevision(sot);
          if (head !== after) {
            ignore(`stale push: ${branch} is now at ${head}, not ${after}`);
            continue;
          }
        }
        const r = await this.deps.ops.startRollout({
          sot,
          revision: after,
          trigger: 'push',
          ...(delivery ? { delivery } : {}),
        });
        out.push(
          r.started
            ? { sot: sot.name, action: 'started', workflowId: r.workflowId, revision: after }
            : {
                sot: sot.name,
                action: 'ignored',
                workflowId: r.workflowId,
                revision: after,
                ...(r.reason !== undefined ? { reason: r.reason } : {}),
              },
        );
      }
    }
    return out;
  }

  private pullRequest(p: Record<string, unknown>): DeliveryResult[] {
    const action = typeof p.action === 'string' ? p.action : '';
    const pr = p.pull_request as
      { number?: number; base?: { ref?: string; sha?: string }; head?: { sha?: string } } | undefined;
    const sots = this.sotsFor(p.repository as RepoPayload | undefined).filter((s) => s.kind === 'github');
    if (sots.length === 0)
      return [{ sot: '', action: 'ignored', reason: 'no configured GitHub SoT is this repository' }];
    const cfg = this.deps.config;
    const out: DeliveryResult[] = [];
    for (const sot of sots) {
      if (sot.kind !== 'github') continue;
      const ignore = (reason: string) => out.push({ sot: sot.name, action: 'ignored', reason });
      if (!PR_ACTIONS.has(action)) ignore(`pull_request ${action} needs no plan`);
      else if (!cfg.prCheckRun && !cfg.prComment) ignore('pull request plans are off');
      else if (pr?.base?.ref !== sot.branch)
        ignore(`the pull request targets ${pr?.base?.ref}, not ${sot.branch}`);
      else if (!pr.base.sha || !pr.head?.sha || typeof pr.number !== 'number')
        ignore('the pull request names no commits');
      else {
        const ref = { repo: sot.repo, number: pr.number, baseSha: pr.base.sha, headSha: pr.head.sha };
        this.deps.background(
          `plan of ${sot.repo}#${pr.number}`,
          reportPullRequestPlan({ access: this.deps.access, config: cfg, plans: this.deps.plans }, sot, ref),
        );
        out.push({ sot: sot.name, action: 'planning', revision: pr.head.sha });
      }
    }
    return out;
  }
}
