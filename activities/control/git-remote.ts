// SoT revisions from git remotes other than GitHub's API (GitLab, Gitea, a bare repository over ssh or file):
// a bare mirror per remote under the data directory, fetched at the exact commit, then materialised like a
// local repository. git runs through execFile with argument arrays; only plain transports are allowed (never
// `ext::`), and nothing can prompt.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const FULL_COMMIT = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** A URL (file://, ssh://, https://, git://) or scp-like `user@host:path`, as opposed to a local folder. */
export function isRemoteLocation(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/\s]+@[^/\s:]+:/.test(location);
}

function gitEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'file:git:ssh:http:https',
    // Keys or an agent must already be set up: a password prompt would hang the activity.
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
    GIT_CONFIG_NOSYSTEM: '1',
  };
}

async function git(dir: string, args: string[], timeoutMs = 10 * 60_000): Promise<string> {
  try {
    const { stdout } = await execFileP('git', ['-C', dir, '-c', 'core.fsmonitor=false', ...args], {
      env: gitEnv(),
      maxBuffer: 16 * 1024 * 1024,
      timeout: timeoutMs,
    });
    return stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`git ${args[0]} failed${stderr ? `: ${stderr.split('\n').slice(-1)[0]}` : ''}`, {
      cause: err,
    });
  }
}

const locks = new Map<string, Promise<unknown>>();

/** One fetch at a time per mirror in this process; git's own lock files guard against other processes. */
function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  locks.set(key, next);
  // Cleanup on either outcome; the caller handles the rejection (a bare `finally` would re-raise it unhandled).
  const release = () => {
    if (locks.get(key) === next) locks.delete(key);
  };
  next.then(release, release);
  return next;
}

async function hasCommit(mirror: string, commit: string): Promise<boolean> {
  return git(mirror, ['cat-file', '-e', `${commit}^{commit}`]).then(
    () => true,
    () => false,
  );
}

/** The revision asked for does not exist where the SoT lives (a client's mistake, not a fetch failure). */
export class RevisionNotFound extends Error {
  override name = 'RevisionNotFound';
}

/**
 * Makes sure the mirror of `url` under `cacheDir` holds `commit` and returns the mirror's path (a bare
 * repository, usable wherever a local repository is). Asks the remote for the commit itself first; a server
 * that refuses unadvertised objects gets a fetch of `branch` (or all branches) instead.
 */
export async function mirrorCommit(opts: {
  url: string;
  commit: string;
  branch?: string;
  cacheDir: string;
}): Promise<string> {
  const { url, commit } = opts;
  if (!FULL_COMMIT.test(commit))
    throw new Error(`a git remote's revision is a full commit id, got "${commit}"`);
  if (url.startsWith('-') || /\s/.test(url)) throw new Error(`"${url}" is not a git remote`);
  if (opts.branch !== undefined && !/^[A-Za-z0-9._/-]+$/.test(opts.branch))
    throw new Error(`"${opts.branch}" is not a branch name`);
  const mirror = path.join(
    opts.cacheDir,
    'git',
    createHash('sha256').update(url).digest('hex').slice(0, 24) + '.git',
  );
  return serialized(mirror, async () => {
    const exists = await stat(path.join(mirror, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await mkdir(mirror, { recursive: true });
      await git(mirror, ['init', '--bare', '--quiet']);
    }
    if (await hasCommit(mirror, commit)) return mirror;
    try {
      await git(mirror, ['fetch', '--quiet', '--no-tags', '--depth=1', '--', url, commit]);
    } catch {
      const shallow = (await git(mirror, ['rev-parse', '--is-shallow-repository'])).trim() === 'true';
      const spec = opts.branch
        ? `+refs/heads/${opts.branch}:refs/heads/${opts.branch}`
        : '+refs/heads/*:refs/heads/*';
      await git(mirror, [
        'fetch',
        '--quiet',
        '--no-tags',
        ...(shallow ? ['--unshallow'] : []),
        '--',
        url,
        spec,
      ]);
    }
    if (!(await hasCommit(mirror, commit))) {
      throw new RevisionNotFound(
        `commit ${commit} is not in the repository${opts.branch ? ` (branch ${opts.branch})` : ''}`,
      );
    }
    return mirror;
  });
}

/** The commit a remote branch points at now (`git ls-remote`). */
export async function remoteBranchHead(url: string, branch: string, cwd: string): Promise<string> {
  if (url.startsWith('-')) throw new Error(`"${url}" is not a git remote`);
  if (!/^[A-Za-z0-9._/-]+$/.test(branch)) throw new Error(`"${branch}" is not a branch name`);
  const out = await git(cwd, ['ls-remote', '--', url, `refs/heads/${branch}`], 60_000);
  const sha = out.split(/\s+/)[0] ?? '';
  if (!FULL_COMMIT.test(sha)) throw new Error(`branch ${branch} not found in ${url}`);
  return sha;
}

/**
 * The commit a tag, branch or commit id names in a remote repository (`git ls-remote`; an annotated tag's commit),
 * or undefined when the remote has no such ref. A full commit id is taken as it is (mirrorCommit checks it exists).
 */
export async function remoteRefCommit(url: string, ref: string, cwd: string): Promise<string | undefined> {
  if (url.startsWith('-') || /\s/.test(url)) throw new Error(`"${url}" is not a git remote`);
  if (FULL_COMMIT.test(ref)) return ref;
  if (!/^[A-Za-z0-9._/-]+$/.test(ref) || ref.startsWith('-'))
    throw new Error(`"${ref}" is not a tag or branch name`);
  const wanted = [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`];
  const out = await git(cwd, ['ls-remote', '--', url, `refs/tags/${ref}`, `refs/heads/${ref}`], 60_000);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha && name && FULL_COMMIT.test(sha)) refs.set(name, sha);
  }
  for (const name of wanted) if (refs.has(name)) return refs.get(name);
  return undefined;
}
