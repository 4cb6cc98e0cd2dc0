// Real git repositories for SoT tests: a work tree made from a fixture folder, commits, tags, and a bare copy
// reached over file:// (the way test/server/git-remote.test.ts serves a remote).
import { execFileSync } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    [
      '-C',
      cwd,
      '-c',
      'user.name=Ops',
      '-c',
      'user.email=ops@example.test',
      '-c',
      'tag.gpgSign=false',
      ...args,
    ],
    { encoding: 'utf8' },
  ).trim();
}

/** A git work tree at `dir` holding `fixture`'s files, committed on main; returns the commit. */
export async function repoFrom(fixture: string | undefined, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (fixture) await cp(fixture, dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  return commitAll(dir, 'initial');
}

export function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Writes files (path relative to `dir` -> text). */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
}

/** A bare clone of `dir` (all branches and tags) at `bare`; returns its file:// URL. */
export function bareCopy(dir: string, bare: string): string {
  execFileSync('git', ['clone', '-q', '--bare', dir, bare]);
  return `file://${bare}`;
}
