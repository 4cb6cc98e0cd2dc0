// A SoT revision from GitHub: the commit's tarball (`GET /repos/{owner}/{repo}/tarball/{ref}`, which redirects to
// codeload) streamed through gunzip into a folder. The archive comes from the network, so extraction trusts
// nothing in it: sizes, entry count, entry types and every path are checked before anything is written.
import { Readable, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { x as untar } from 'tar';
import type { ReadEntry } from 'tar';
import type { GithubAccess } from './github-access.ts';
import { splitRepo } from './github-access.ts';

export interface ArchiveLimits {
  /** Bytes downloaded (compressed). */
  maxDownloadBytes: number;
  /** Bytes of all files together (uncompressed). */
  maxBytes: number;
  /** Files and folders. */
  maxEntries: number;
  maxFileBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxDownloadBytes: 64 * 1024 * 1024,
  maxBytes: 256 * 1024 * 1024,
  maxEntries: 20_000,
  maxFileBytes: 32 * 1024 * 1024,
};

const FULL_COMMIT = /^[0-9a-f]{40}$/;
/** Regular files and folders only: a link could make the loader read outside the snapshot. */
const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

/** Why `p` (an entry path inside the archive) may not be written, or undefined when it is safe. */
export function unsafeEntryPath(p: string): string | undefined {
  if (p === '' || p.includes('\0')) return 'is empty or holds a NUL byte';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.includes('\\')) return 'is absolute or uses backslashes';
  if (p.split('/').some((seg) => seg === '..')) return 'climbs out of the archive (..)';
  return undefined;
}

/**
 * Extracts a gzipped tarball whose entries all sit under one top folder (as GitHub's do) into `dest` (an empty
 * folder), without that top folder. With `commit`, the archive must say it is that commit: GitHub names the top
 * folder `<owner>-<repo>-<short sha>` and `git archive` records the full id in a pax global header.
 */
export async function extractTarball(
  body: Readable,
  dest: string,
  opts: { commit?: string; limits?: Partial<ArchiveLimits> } = {},
): Promise<{ entries: number; bytes: number }> {
  const limits = { ...DEFAULT_ARCHIVE_LIMITS, ...opts.limits };
  let top: string | undefined;
  let entries = 0;
  let bytes = 0;
  let downloaded = 0;
  let failure: ArchiveError | undefined;
  const fail = (msg: string): false => {
    failure ??= new ArchiveError(msg);
    // Stops the download too: a hostile archive must not be read to its end.
    body.destroy(failure);
    return false;
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      downloaded += chunk.length;
      if (downloaded > limits.maxDownloadBytes) {
        fail(`archive larger than ${limits.maxDownloadBytes} bytes`);
        cb(failure);
        return;
      }
      cb(null, chunk);
    },
  });
  const filter = (p: string, entry: ReadEntry | unknown): boolean => {
    if (failure) return false;
    const e = entry as ReadEntry;
    const problem = unsafeEntryPath(p);
    if (problem) return fail(`archive entry "${p}" ${problem}`);
    if (!ALLOWED_TYPES.has(e.type))
      return fail(`archive entry "${p}" is a ${e.type}: only files and folders are allowed`);
    const [first, ...rest] = p.replace(/\/$/, '').split('/');
    if (top === undefined) {
      top = first!;
      if (opts.commit) checkTop(top, opts.commit, e.globalExtended?.comment);
      if (failure) return false;
    } else if (first !== top) {
      return fail(`archive entry "${p}" is outside the archive's top folder ${top}/`);
    }
    if (rest.length === 0) return e.type === 'Directory' || fail(`archive entry "${p}" is a file at the top`);
    if (++entries > limits.maxEntries) return fail(`archive has more than ${limits.maxEntries} entries`);
    if (e.size > limits.maxFileBytes)
      return fail(`archive entry "${p}" is larger than ${limits.maxFileBytes} bytes`);
    bytes += e.size;
    if (bytes > limits.maxBytes) return fail(`archive unpacks to more than ${limits.maxBytes} bytes`);
    return true;
  };
  const checkTop = (dir: string, commit: string, comment: string | undefined) => {
    const short = /-([0-9a-f]{7,40})$/.exec(dir)?.[1];
    if (!short || !commit.startsWith(short)) fail(`archive folder ${dir} is not commit ${commit}`);
    else if (comment && FULL_COMMIT.test(comment) && comment !== commit)
      fail(`archive is commit ${comment}, not ${commit}`);
  };
  try {
    await pipeline(
      body,
      counter,
      untar({
        cwd: dest,
        strip: 1,
        strict: true,
        filter,
        // Never trust modes or owners from the network; files are data to read.
        preserveOwner: false,
        noChmod: true,
        // node-tar defends against traversal itself; ours above fails the whole archive instead of skipping.
        preservePaths: false,
      }),
    );
  } catch (err) {
    throw (
      failure ?? (err instanceof Error ? new ArchiveError(`cannot extract archive: ${err.message}`) : err)
    );
  }
  if (failure) throw failure;
  if (top === undefined) throw new ArchiveError('archive is empty');
  return { entries, bytes };
}

/** Downloads `owner/repo` at `commit` through the REST API and extracts it into `dest`. */
export async function fetchGithubArchive(
  github: GithubAccess,
  opts: { repo: string; commit: string; apiUrl?: string; dest: string; limits?: Partial<ArchiveLimits> },
): Promise<{ entries: number; bytes: number }> {
  if (!FULL_COMMIT.test(opts.commit))
    throw new ArchiveError(`a GitHub SoT revision is a full commit id, got "${opts.commit}"`);
  const { owner, repo } = splitRepo(opts.repo);
  const octokit = await github.client(opts.apiUrl);
  const res = await octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', {
    owner,
    repo,
    ref: opts.commit,
    // The body is streamed to the extractor, never held in memory whole.
    request: { parseSuccessResponseBody: false },
  });
  const stream = res.data as unknown as ReadableStream<Uint8Array> | null;
  if (!stream) throw new ArchiveError(`GitHub sent no archive for ${opts.repo}@${opts.commit}`);
  const length = Number((res.headers as Record<string, unknown>)['content-length']);
  const limits = { ...DEFAULT_ARCHIVE_LIMITS, ...opts.limits };
  if (Number.isFinite(length) && length > limits.maxDownloadBytes) {
    await stream.cancel();
    throw new ArchiveError(
      `archive of ${opts.repo}@${opts.commit} is ${length} bytes, more than ${limits.maxDownloadBytes}`,
    );
  }
  return extractTarball(Readable.fromWeb(stream as NodeReadableStream<Uint8Array>), opts.dest, {
    commit: opts.commit,
    limits,
  });
}
