// Immutable snapshots of SoT revisions under the data directory, so every activity of a rollout (and every
// retry of one) sees exactly the revision the rollout was started for, even if the folder or branch moved on.
// Sources: a folder (content-addressed), a local git repository, a git remote (mirrored under the data
// directory, fetched at the exact commit) or GitHub (the commit's tarball through the REST API).
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkoutRevision } from '../../sot/git-revision.ts';
import type { SotSource } from '../../domain/rollout.ts';
import type { ArchiveLimits } from './github-archive.ts';
import { fetchGithubArchive } from './github-archive.ts';
import { createGithubAccess, githubAuthFromEnv } from './github-access.ts';
import type { GithubAccess } from './github-access.ts';
import { isRemoteLocation, mirrorCommit } from './git-remote.ts';

const DIR_REVISION = /^dir-[0-9a-f]{12}$/;

/** A content address for a plain folder SoT: `dir-` and 12 hex digits of a digest over paths and contents. */
export async function dirRevision(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const rel of await listFiles(dir)) {
    h.update(rel)
      .update('\0')
      .update(await readFile(path.join(dir, rel)))
      .update('\0');
  }
  return `dir-${h.digest('hex').slice(0, 12)}`;
}

async function listFiles(root: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(root, sub), { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

export interface RevisionStoreOptions {
  /** GitHub credentials for `github` sources; default: from the environment (see githubAuthFromEnv). */
  github?: GithubAccess;
  archiveLimits?: Partial<ArchiveLimits>;
}

export class RevisionStore {
  private readonly github: GithubAccess;

  constructor(
    private readonly dataDir: string,
    private readonly opts: RevisionStoreOptions = {},
  ) {
    this.github = opts.github ?? createGithubAccess(() => githubAuthFromEnv());
  }

  dirFor(sot: string, revision: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(sot) || !/^[A-Za-z0-9._-]+$/.test(revision)) {
      throw new Error(`invalid SoT name or revision: ${sot}/${revision}`);
    }
    return path.join(this.dataDir, 'revisions', sot, revision);
  }

  async has(sot: string, revision: string): Promise<boolean> {
    return stat(path.join(this.dirFor(sot, revision), '.complete')).then(
      () => true,
      () => false,
    );
  }

  /** The source a kept revision was snapshotted from (recorded in its `.complete` marker). */
  async sourceOf(sot: string, revision: string): Promise<SotSource | undefined> {
    try {
      const marker = JSON.parse(
        await readFile(path.join(this.dirFor(sot, revision), '.complete'), 'utf8'),
      ) as {
        source?: SotSource;
      };
      return marker.source;
    } catch {
      return undefined;
    }
  }

  /** Where remote repositories are mirrored (configuration repositories of Advanced SoTs too). */
  get cacheDir(): string {
    return this.dataDir;
  }

  /** Snapshot `source` as `revision`, verifying that it really is that revision. Idempotent. */
  async snapshot(sot: string, revision: string, source: SotSource): Promise<string> {
    const dest = this.dirFor(sot, revision);
    if (await this.has(sot, revision)) return dest;
    const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(dest), { recursive: true });
    try {
      if (source.kind === 'dir') {
        if (!DIR_REVISION.test(revision))
          throw new Error(`a folder SoT revision looks like dir-<12 hex>, got ${revision}`);
        await cp(source.location, tmp, {
          recursive: true,
          filter: (src) => !path.basename(src).startsWith('.') || src === source.location,
        });
        const actual = await dirRevision(tmp);
        if (actual !== revision) {
          throw new Error(
            `the SoT folder ${source.location} changed since ${revision} was applied (it is now ${actual}); apply again`,
          );
        }
      } else if (source.kind === 'github') {
        await mkdir(tmp);
        await fetchGithubArchive(this.github, {
          repo: source.location,
          commit: source.ref ?? revision,
          ...(source.apiUrl !== undefined ? { apiUrl: source.apiUrl } : {}),
          dest: tmp,
          ...(this.opts.archiveLimits !== undefined ? { limits: this.opts.archiveLimits } : {}),
        });
        if ((source.ref ?? revision) !== revision)
          throw new Error(`ref ${source.ref} of ${source.location} is not ${revision}`);
      } else {
        // A remote is mirrored first; a local repository (bare or not) is read in place.
        const repo = isRemoteLocation(source.location)
          ? await mirrorCommit({
              url: source.location,
              commit: source.ref ?? revision,
              ...(source.branch !== undefined ? { branch: source.branch } : {}),
              cacheDir: this.dataDir,
            })
          : source.location;
        const co = await checkoutRevision(repo, source.ref ?? revision);
        try {
          if (!co.commit.startsWith(revision) && co.commit !== revision) {
            throw new Error(
              `ref ${source.ref ?? revision} of ${source.location} is ${co.commit}, not ${revision}`,
            );
          }
          await cp(co.dir, tmp, { recursive: true });
        } finally {
          await co.cleanup();
        }
      }
      await writeFile(path.join(tmp, '.complete'), JSON.stringify({ sot, revision, source }) + '\n');
      await rename(tmp, dest).catch(async (err: NodeJS.ErrnoException) => {
        // Another activity won the race with an identical snapshot.
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST')
          await rm(tmp, { recursive: true, force: true });
        else throw err;
      });
      return dest;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
