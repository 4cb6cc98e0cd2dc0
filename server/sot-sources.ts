// The SoTs this server knows, from its configuration only: API callers and webhooks name a SoT, never a path or
// URL, so nobody can point the control worker at a folder or remote of their choosing.
import { stat } from 'node:fs/promises';
import type { GithubAccess } from '../activities/control/github-access.ts';
import { splitRepo } from '../activities/control/github-access.ts';
import { isRemoteLocation, remoteBranchHead, RevisionNotFound } from '../activities/control/git-remote.ts';
import { dirRevision } from '../activities/control/revision-store.ts';
import type { RevisionStore } from '../activities/control/revision-store.ts';
import { externalsForSource } from '../activities/control/sot-externals.ts';
import type { SotExternals } from '../sot/externals.ts';
import { pinDirFor, pinRefs } from '../sot/pinned-refs.ts';
import { resolveCommit } from '../sot/git-revision.ts';
import type { SotSource } from '../domain/rollout.ts';
import type { GithubConfig, SotConfig } from './config.ts';
import { ApiError } from '../domain/api-error.ts';

const FULL_COMMIT = /^[0-9a-f]{40}$/;

export class SotSources {
  private readonly byName: Map<string, SotConfig>;

  constructor(
    sots: readonly SotConfig[],
    private readonly store: RevisionStore,
    private readonly dataDir: string,
    private readonly github?: { access: GithubAccess; config: GithubConfig },
  ) {
    this.byName = new Map(sots.map((s) => [s.name, s]));
  }

  list(): SotConfig[] {
    return [...this.byName.values()];
  }

  get(name: string): SotConfig {
    const s = this.byName.get(name);
    if (!s) throw new ApiError(404, 'not_found', `no SoT named ${name} is configured`);
    return s;
  }

  /** What the control worker fetches for `revision`. */
  sourceFor(s: SotConfig, revision: string): SotSource {
    switch (s.kind) {
      case 'dir':
        return { kind: 'dir', location: s.path };
      case 'git':
        return { kind: 'git', location: s.url, ref: revision, branch: s.branch };
      case 'github':
        return {
          kind: 'github',
          location: s.repo,
          ref: revision,
          ...(this.github ? { apiUrl: this.github.config.apiUrl } : {}),
        };
    }
  }

  /**
   * How revisions the SoT names outside its folder (release_tag, Advanced SoT configurations) are fetched: a moving
   * ref resolves once per revision, pinned beside the revision's snapshot, so this plan and the rollout's workers
   * (prepared-revisions.ts pins in the same folder) render the same commits.
   */
  async externals(s: SotConfig, revision: string): Promise<SotExternals> {
    const inner = await externalsForSource(this.sourceFor(s, revision), this.store.cacheDir);
    return pinRefs(inner, pinDirFor(this.store.dirFor(s.name, revision)));
  }

  /** The revision the SoT is at now: the folder's content address, or the branch head's commit. */
  async currentRevision(s: SotConfig): Promise<string> {
    switch (s.kind) {
      case 'dir':
        if (
          !(await stat(s.path).then(
            (st) => st.isDirectory(),
            () => false,
          ))
        )
          throw new ApiError(503, 'sot_unavailable', `SoT folder of ${s.name} is missing`);
        return dirRevision(s.path);
      case 'git':
        return isRemoteLocation(s.url)
          ? remoteBranchHead(s.url, s.branch, this.dataDir)
          : resolveCommit(s.url, `refs/heads/${s.branch}`);
      case 'github':
        return this.githubHead(s.repo, s.branch);
    }
  }

  async githubHead(full: string, branch: string): Promise<string> {
    if (!this.github)
      throw new ApiError(503, 'github_unconfigured', 'no github section in the server configuration');
    const { owner, repo } = splitRepo(full);
    const octokit = await this.github.access.client(this.github.config.apiUrl);
    const res = await octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
      owner,
      repo,
      ref: `heads/${branch}`,
    });
    return res.data.object.sha;
  }

  /** Checks a revision named by a caller before anything is started for it. */
  checkRevision(s: SotConfig, revision: string): void {
    const ok = s.kind === 'dir' ? /^dir-[0-9a-f]{12}$/.test(revision) : FULL_COMMIT.test(revision);
    if (!ok) {
      throw new ApiError(
        400,
        'bad_revision',
        s.kind === 'dir'
          ? `a folder SoT revision looks like dir-<12 hex>, got ${revision}`
          : `a revision of ${s.name} is a full commit id (40 hex), got ${revision}`,
      );
    }
  }

  /** A folder holding the SoT at `revision` (kept in the server's revision store). */
  async snapshot(s: SotConfig, revision: string): Promise<string> {
    this.checkRevision(s, revision);
    if (await this.store.has(s.name, revision)) return this.store.dirFor(s.name, revision);
    if (s.kind === 'dir' && (await dirRevision(s.path)) !== revision) {
      throw new ApiError(
        404,
        'revision_unknown',
        `revision ${revision} of ${s.name} is neither the folder's current content nor a snapshot this server kept`,
      );
    }
    try {
      return await this.store.snapshot(s.name, revision, this.sourceFor(s, revision));
    } catch (err) {
      // A commit the repository does not have is the caller's mistake; GitHub says so with a 404.
      if (err instanceof RevisionNotFound || (err as { status?: unknown }).status === 404)
        throw new ApiError(404, 'revision_unknown', `revision ${revision} is not a commit of ${s.name}`);
      // The server's paths and URLs stay in its log, not in the answer.
      const why = err instanceof Error ? err.message : String(err);
      throw new ApiError(502, 'sot_fetch_failed', `cannot fetch ${s.name} at ${revision}`, {
        cause: why.replace(/(?:file:\/\/)?\/[^\s'"]+/g, '<path>'),
      });
    }
  }
}
