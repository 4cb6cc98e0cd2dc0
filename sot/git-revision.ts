// Materialises one commit of a local git repository as a plain folder, so that loading a past revision is the
// same as loading a folder. git runs with argument arrays only (no shell), and a revision can never be taken
// for an option.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface CheckedOutRevision {
  /** A temporary folder holding the commit's files. */
  dir: string;
  /** The full commit id the revision resolved to. */
  commit: string;
  cleanup(): Promise<void>;
}

/** A revision name git would read as an option, or that holds characters no ref or commit id has. */
export function revisionProblem(rev: string): string | undefined {
  if (rev === '') return 'is empty';
  if (rev.startsWith('-')) return 'must not start with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(rev)) return 'must not contain whitespace or control characters';
  if (rev.length > 256) return 'is too long';
  return undefined;
}

/** Runs git without a pager or prompts, and without an fsmonitor hook (a repo's config could name a program). */
async function git(repoDir: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP('git', ['-C', repoDir, '-c', 'core.fsmonitor=false', ...args], {
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat' },
  });
  return stdout;
}

export async function resolveCommit(repoDir: string, rev: string): Promise<string> {
  const problem = revisionProblem(rev);
  if (problem) throw new Error(`revision "${rev}" ${problem}`);
  let out: string;
  try {
    out = await git(repoDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`${repoDir}: "${rev}" is not a commit${stderr ? ` (${stderr.split('\n')[0]})` : ''}`, {
      cause: err,
    });
  }
  const commit = out.trim();
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(commit))
    throw new Error(`${repoDir}: "${rev}" is not a commit`);
  return commit;
}

/** The top folder of the git work tree `dir` is in, or undefined when it is in none. */
export async function workTreeTop(dir: string): Promise<string | undefined> {
  try {
    const top = (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
    return top === '' ? undefined : top;
  } catch {
    return undefined;
  }
}

/** `git archive <commit> | tar -x -C <dir>`, with the two processes piped directly. */
function extract(repoDir: string, commit: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['-C', repoDir, 'archive', '--format=tar', commit], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tar = spawn('tar', ['-x', '-f', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    archive.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    archive.stdout.pipe(tar.stdin);
    let pending = 2;
    let failed = false;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true;
        reject(new Error(`${what} failed for ${commit}: ${stderr.trim().split('\n')[0] ?? ''}`));
      }
      if (--pending === 0 && !failed) resolve();
    };
    archive.on('error', reject);
    tar.on('error', reject);
    archive.on('close', done('git archive'));
    tar.on('close', done('tar'));
  });
}

export async function checkoutRevision(repoDir: string, rev: string): Promise<CheckedOutRevision> {
  const commit = await resolveCommit(repoDir, rev);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vaquero-rev-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await extract(repoDir, commit, dir);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { dir, commit, cleanup };
}
