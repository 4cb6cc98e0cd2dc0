// A pull request's plan on GitHub: what merging it would reprovision, as a check run on the head commit and/or
// a comment on the pull request. Both are updated in place when the same plan is reported again (a redelivered
// webhook, a second replica): the check run is found by its external_id, the comment by a hidden marker.
import type { GithubAccess } from '../activities/control/github-access.ts';
import { splitRepo } from '../activities/control/github-access.ts';
import { findCheckRun } from '../activities/control/rollout-report.ts';
import type { GithubConfig, SotConfig } from './config.ts';
import type { PlanResult, PlanService } from './plan-service.ts';

/** GitHub's limit for a check run's summary and text. */
const MAX_TEXT = 65_000;

export interface PullRequestRef {
  repo: string;
  number: number;
  baseSha: string;
  headSha: string;
}

export function planMarkdown(
  sot: string,
  pr: PullRequestRef,
  plan: PlanResult,
): { title: string; summary: string } {
  const range = `${pr.baseSha.slice(0, 12)}..${pr.headSha.slice(0, 12)}`;
  if (!plan.valid) {
    const lines = [`SoT **${sot}** at ${range} is invalid; a rollout of it would fail.`, ''];
    for (const p of plan.problems) {
      lines.push(
        `Revision \`${p.revision}\` (${p.messages.length} problem(s)):`,
        '',
        '```',
        ...p.messages,
        '```',
        '',
      );
    }
    return { title: `${sot}: invalid SoT`, summary: lines.join('\n').slice(0, MAX_TEXT) };
  }
  const c = plan.counts;
  const title = `${sot}: ${c.reprovision} to reprovision, ${c.added} added, ${c.removed} removed, ${c.unchanged} unchanged`;
  const changed = plan.hosts.filter((h) => h.action !== 'unchanged');
  const lines = [
    `Plan for SoT **${sot}**, ${range}: ${title.slice(sot.length + 2)}${c.skipped ? `, ${c.skipped} skipped` : ''}.`,
    '',
  ];
  if (changed.length > 0) {
    lines.push('| action | host | why |', '|---|---|---|');
    for (const h of changed)
      lines.push(`| ${h.action} | \`${h.site}/${h.host}\` | ${h.reasons.join('; ').replace(/\|/g, '\\|')} |`);
  } else {
    lines.push('Merging this changes what no host boots.');
  }
  let summary = lines.join('\n');
  if (summary.length > MAX_TEXT) summary = summary.slice(0, MAX_TEXT) + '\n… (cut)';
  return { title, summary };
}

export async function reportPullRequestPlan(
  deps: { access: GithubAccess; config: GithubConfig; plans: PlanService },
  sot: SotConfig,
  pr: PullRequestRef,
): Promise<{ checkRunId?: number; commentId?: number; valid: boolean }> {
  const plan = await deps.plans.plan(sot, pr.baseSha, pr.headSha);
  const { title, summary } = planMarkdown(sot.name, pr, plan);
  const { owner, repo } = splitRepo(pr.repo);
  const octokit = await deps.access.client(deps.config.apiUrl);
  const out: { checkRunId?: number; commentId?: number; valid: boolean } = { valid: plan.valid };
  if (deps.config.prCheckRun) {
    const name = `${deps.config.checkName} plan (${sot.name})`;
    const externalId = `plan/${sot.name}/${pr.baseSha}..${pr.headSha}`;
    const fields = {
      status: 'completed' as const,
      conclusion: plan.valid ? ('success' as const) : ('failure' as const),
      completed_at: new Date().toISOString(),
      output: { title: title.slice(0, 255), summary },
    };
    const existing = await findCheckRun(octokit, { owner, repo, sha: pr.headSha, name, externalId });
    if (existing === undefined) {
      const res = await octokit.request('POST /repos/{owner}/{repo}/check-runs', {
        owner,
        repo,
        name,
        head_sha: pr.headSha,
        external_id: externalId,
        ...fields,
      });
      out.checkRunId = Number(res.data.id);
    } else {
      await octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
        owner,
        repo,
        check_run_id: existing,
        ...fields,
      });
      out.checkRunId = existing;
    }
  }
  if (deps.config.prComment) {
    const marker = `<!-- vaquero-plan:${sot.name} -->`;
    const body = `${marker}\n${summary}`;
    const comments = await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      owner,
      repo,
      issue_number: pr.number,
      per_page: 100,
    });
    const mine = comments.data.find((c) => c.body?.startsWith(marker));
    if (mine) {
      await octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
        owner,
        repo,
        comment_id: mine.id,
        body,
      });
      out.commentId = Number(mine.id);
    } else {
      const res = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner,
        repo,
        issue_number: pr.number,
        body,
      });
      out.commentId = Number(res.data.id);
    }
  }
  return out;
}
