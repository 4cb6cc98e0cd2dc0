// A rollout's progress on its commit in GitHub: a check run (in progress with counts, then success or failure
// listing the failed hosts) or, for tokens that cannot write check runs, a commit status. Called by the rollout
// workflow through an activity, so exactly one writer exists per rollout however many servers run, and a retried
// call finds the check run it created before (by external_id) instead of making a second one.
import type { RolloutReportInput, RolloutReportSummary, RolloutState } from '../../domain/rollout.ts';
import type { GithubAccess } from './github-access.ts';
import { splitRepo } from './github-access.ts';

const FINAL_STATES: ReadonlySet<RolloutState> = new Set(['completed', 'failed', 'aborted', 'superseded']);

type Conclusion = 'success' | 'failure' | 'cancelled' | 'neutral';

function conclusionOf(state: RolloutState): Conclusion | undefined {
  switch (state) {
    case 'completed':
      return 'success';
    case 'failed':
      return 'failure';
    case 'aborted':
      return 'cancelled';
    case 'superseded':
      return 'neutral';
    default:
      return undefined;
  }
}

export function reportTitle(s: RolloutReportSummary): string {
  const c = s.counts;
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  const done = c.provisioned;
  const parts = [`${done}/${total} provisioned`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.running) parts.push(`${c.running} running`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.pending + c.blocked) parts.push(`${c.pending + c.blocked} not started`);
  return `${s.state}: ${parts.join(', ')}`;
}

export function reportMarkdown(rolloutId: string, s: RolloutReportSummary): string {
  const c = s.counts;
  const lines = [
    `Rollout \`${rolloutId}\` is **${s.state}**${s.reason ? `: ${s.reason}` : ''}.`,
    '',
    '| provisioned | failed | running | pending | blocked | cancelled | unchanged | skipped |',
    '|---|---|---|---|---|---|---|---|',
    `| ${c.provisioned} | ${c.failed} | ${c.running} | ${c.pending} | ${c.blocked} | ${c.cancelled} | ${s.unchanged} | ${s.skipped} |`,
  ];
  if (s.failedTotal > 0) {
    lines.push('', `Failed hosts (${s.failedTotal}):`, '');
    for (const f of s.failed)
      lines.push(`- \`${f.host}\`${f.error ? `: ${f.error.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`);
    if (s.failedTotal > s.failed.length) lines.push(`- … and ${s.failedTotal - s.failed.length} more`);
  }
  return lines.join('\n');
}

export async function reportRollout(
  github: GithubAccess,
  input: RolloutReportInput,
): Promise<{ checkRunId?: number }> {
  const t = input.target.github;
  const { owner, repo } = splitRepo(t.repo);
  const octokit = await github.client(t.apiUrl);
  const s = input.summary;
  const final = FINAL_STATES.has(s.state);
  const title = reportTitle(s);

  if (t.mode === 'status') {
    const state = !final
      ? 'pending'
      : s.state === 'completed'
        ? 'success'
        : s.state === 'failed'
          ? 'failure'
          : 'error';
    await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
      owner,
      repo,
      sha: t.sha,
      state,
      context: t.name,
      // GitHub cuts descriptions at 140 characters.
      description: title.slice(0, 140),
      ...(t.detailsUrl ? { target_url: t.detailsUrl } : {}),
    });
    return {};
  }

  const output = { title, summary: reportMarkdown(input.rolloutId, s) };
  const conclusion = conclusionOf(s.state);
  const fields = {
    status: final ? ('completed' as const) : ('in_progress' as const),
    ...(final && conclusion ? { conclusion, completed_at: new Date().toISOString() } : {}),
    output,
    ...(t.detailsUrl ? { details_url: t.detailsUrl } : {}),
  };
  let id =
    input.checkRunId ??
    (await findCheckRun(octokit, { owner, repo, sha: t.sha, name: t.name, externalId: input.rolloutId }));
  if (id === undefined) {
    const created = await octokit.request('POST /repos/{owner}/{repo}/check-runs', {
      owner,
      repo,
      name: t.name,
      head_sha: t.sha,
      external_id: input.rolloutId,
      started_at: new Date().toISOString(),
      ...fields,
    });
    id = Number(created.data.id);
  } else {
    await octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
      owner,
      repo,
      check_run_id: id,
      ...fields,
    });
  }
  return { checkRunId: id };
}

/** The check run of this name on this commit that carries `externalId`, if one was created already. */
export async function findCheckRun(
  octokit: Awaited<ReturnType<GithubAccess['client']>>,
  q: { owner: string; repo: string; sha: string; name: string; externalId: string },
): Promise<number | undefined> {
  const res = await octokit.request('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', {
    owner: q.owner,
    repo: q.repo,
    ref: q.sha,
    check_name: q.name,
    filter: 'all',
    per_page: 100,
  });
  const found = res.data.check_runs.find((r) => r.external_id === q.externalId);
  return found ? Number(found.id) : undefined;
}
