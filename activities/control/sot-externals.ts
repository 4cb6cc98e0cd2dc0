// How the revisions a SoT names outside its folder are fetched (sot/externals.ts): the SoT's own repository at a
// site's release_tag, and Advanced SoT configurations (`type: git` repositories, `type: local` folders). Git runs
// only through git-revision.ts and git-remote.ts (argument arrays, no shell, no prompts, mirrors under the data
// directory). A folder, or a file:// repository, is read only inside the roots the operator allowed.
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExternalCheckout, MissingRevision, SotExternals } from '../../sot/externals.ts';
import { checkoutRevision, resolveCommit, workTreeTop } from '../../sot/git-revision.ts';
import type { SotSource } from '../../domain/rollout.ts';
import { isRemoteLocation, mirrorCommit, remoteRefCommit } from './git-remote.ts';

export interface SotExternalsOptions {
  /**
   * The git repository the SoT's files are a revision of: a local work tree or bare repository, or a remote URL.
   * Undefined: release tags are never found (the SoT is a plain folder or a GitHub snapshot).
   */
  sotRepo?: string;
  /** Where remote repositories are mirrored (the data directory). */
  cacheDir: string;
  /** Folders a `type: local` configuration (or a file:// repository) may be inside. None: no folder is allowed. */
  localRoots: readonly string[];
}

/** The roots an operator allows in the environment: `VAQUERO_CONFIG_ROOTS`, separated by ":". */
export function configRootsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.VAQUERO_CONFIG_ROOTS ?? '').split(':').filter((p) => p !== '');
}

const noCleanup = async (): Promise<void> => undefined;

export function createSotExternals(opts: SotExternalsOptions): SotExternals {
  /** `dir` resolved (links followed), refused unless it is one of the roots or inside one. */
  const allowed = async (dir: string, what: string): Promise<string> => {
    if (!path.isAbsolute(dir)) throw new Error(`${what} must be an absolute path, got ${dir}`);
    const real = await realpath(dir).catch(() => undefined);
    if (real === undefined) throw new Error(`${what} ${dir} does not exist`);
    for (const root of opts.localRoots) {
      const r = await realpath(root).catch(() => undefined);
      if (r !== undefined && (real === r || real.startsWith(r + path.sep))) return real;
    }
    throw new Error(
      `${what} ${dir} is outside the allowed configuration roots (${opts.localRoots.length ? opts.localRoots.join(', ') : 'none'}); an operator allows a folder with VAQUERO_CONFIG_ROOTS or --config-root`,
    );
  };

  /** A revision of a local repository; undefined when it has no such ref. */
  const localRevision = async (repo: string, ref: string): Promise<ExternalCheckout | undefined> => {
    let commit: string;
    try {
      commit = await resolveCommit(repo, ref);
    } catch {
      return undefined;
    }
    return checkoutRevision(repo, commit);
  };

  /** A revision of a remote repository, mirrored under the cache; undefined when it has no such ref. */
  const remoteRevision = async (url: string, ref: string): Promise<ExternalCheckout | undefined> => {
    if (url.startsWith('file:')) await allowed(fileURLToPath(url), 'repository');
    await mkdir(opts.cacheDir, { recursive: true });
    const commit = await remoteRefCommit(url, ref, opts.cacheDir);
    if (commit === undefined) return undefined;
    const mirror = await mirrorCommit({ url, commit, cacheDir: opts.cacheDir });
    return checkoutRevision(mirror, commit);
  };

  return {
    async sotRevision(ref: string): Promise<ExternalCheckout | MissingRevision> {
      const repo = opts.sotRepo;
      if (repo === undefined) return { missing: 'the SoT is not read from a git repository here' };
      const got = isRemoteLocation(repo) ? await remoteRevision(repo, ref) : await localRevision(repo, ref);
      return got ?? { missing: `the SoT repository has no tag or commit "${ref}"` };
    },

    async gitConfig(url: string, ref: string): Promise<ExternalCheckout> {
      if (!isRemoteLocation(url))
        throw new Error(
          `a git configuration's url is a repository URL (https://, ssh://, file://), got ${url}`,
        );
      const got = await remoteRevision(url, ref);
      if (!got) throw new Error(`the repository has no tag, branch or commit "${ref}"`);
      return got;
    },

    async localConfig(url: string, ref: string | undefined): Promise<ExternalCheckout> {
      const dir = await allowed(url, 'folder');
      if (ref === undefined) return { dir, commit: null, cleanup: noCleanup };
      const got = await localRevision(dir, ref);
      if (!got) throw new Error(`the folder is no git repository with a tag, branch or commit "${ref}"`);
      return got;
    },
  };
}

/**
 * The git repository a SoT folder is the work tree of, or undefined when it is none. Only the top of a work tree
 * counts: a revision of the repository must hold the SoT at its root, as the folder does.
 */
export async function sotRepoOf(dir: string): Promise<string | undefined> {
  const real = await realpath(dir).catch(() => undefined);
  if (real === undefined) return undefined;
  const top = await workTreeTop(real);
  return top !== undefined && (await realpath(top)) === real ? real : undefined;
}

/**
 * Externals for a revision fetched from `source` (a rollout's, or the server's plan): release tags come from the same
 * repository (a folder source only when the folder is a git work tree; GitHub sources have none yet, so their release
 * tags are reported missing). Configuration roots come from this process's VAQUERO_CONFIG_ROOTS.
 */
export async function externalsForSource(
  source: SotSource | undefined,
  cacheDir: string,
  localRoots: readonly string[] = configRootsFromEnv(),
): Promise<SotExternals> {
  let sotRepo: string | undefined;
  if (source?.kind === 'git') sotRepo = source.location;
  else if (source?.kind === 'dir') sotRepo = await sotRepoOf(source.location);
  return createSotExternals({ ...(sotRepo !== undefined ? { sotRepo } : {}), cacheDir, localRoots });
}
