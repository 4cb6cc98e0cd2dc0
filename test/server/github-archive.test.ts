// GitHub SoT archives: extraction limits (size, entries, single file, download), paths that would escape the
// snapshot, links, archives of another commit; and the download itself through octokit against a local stand-in
// for the REST API (the tarball endpoint redirects to codeload, as GitHub's does).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createGithubAccess } from '../../activities/control/github-access.ts';
import { ArchiveError, extractTarball, fetchGithubArchive } from '../../activities/control/github-archive.ts';
import { RevisionStore } from '../../activities/control/revision-store.ts';
import { FakeGithub } from './support/fake-github.ts';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const TOP = `Codertocat-Hello-World-${SHA.slice(0, 7)}`;

/** One ustar header + data, written by hand so that an archive can hold what no well-behaved tool writes. */
function entry(
  name: string,
  opts: { type?: string; data?: string; size?: number; link?: string } = {},
): Buffer {
  const data = Buffer.from(opts.data ?? '');
  const h = Buffer.alloc(512);
  const put = (s: string, at: number, len: number) => h.write(s.slice(0, len), at, 'utf8');
  const type = opts.type ?? (name.endsWith('/') ? '5' : '0');
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put((opts.size ?? data.length).toString(8).padStart(11, '0') + '\0', 124, 12);
  put('14000000000\0', 136, 12);
  h.fill(' ', 148, 156);
  put(type, 156, 1);
  if (opts.link) put(opts.link, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

function archive(...entries: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
}

async function freshDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'vaq-extract-'));
}

async function files(dir: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${rel}/`, ...(await files(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

const good = () =>
  archive(
    entry(`${TOP}/`),
    entry(`${TOP}/sites/`),
    entry(`${TOP}/sites/lab/`),
    entry(`${TOP}/sites/lab/env.yml`, { data: 'description: lab\n' }),
    entry(`${TOP}/os/`),
    entry(`${TOP}/os/debian.yml`, { data: 'kernel: "http://x/linux"\n' }),
  );

test('a well-formed archive of the commit is extracted without its top folder', async () => {
  const dest = await freshDir();
  const r = await extractTarball(Readable.from([good()]), dest, { commit: SHA });
  assert.deepEqual(await files(dest), ['os/', 'os/debian.yml', 'sites/', 'sites/lab/', 'sites/lab/env.yml']);
  assert.equal(await readFile(path.join(dest, 'sites/lab/env.yml'), 'utf8'), 'description: lab\n');
  assert.equal(r.entries, 5);
});

test('hostile or oversized archives are refused whole, and nothing lands outside the destination', async () => {
  const parent = await freshDir();
  const cases: [string, Buffer, RegExp, Parameters<typeof extractTarball>[2]?][] = [
    ['traversal', archive(entry(`${TOP}/`), entry(`${TOP}/../../escaped.txt`, { data: 'x' })), /climbs out/],
    ['absolute path', archive(entry(`${TOP}/`), entry('/tmp/absolute.txt', { data: 'x' })), /absolute/],
    [
      'symlink',
      archive(entry(`${TOP}/`), entry(`${TOP}/link`, { type: '2', link: '/etc/passwd' })),
      /SymbolicLink/,
    ],
    ['hard link', archive(entry(`${TOP}/`), entry(`${TOP}/hard`, { type: '1', link: `${TOP}/x` })), /Link/],
    ['device', archive(entry(`${TOP}/`), entry(`${TOP}/dev`, { type: '3' })), /CharacterDevice/],
    [
      'second top folder',
      archive(entry(`${TOP}/`), entry('other/file', { data: 'x' })),
      /outside the archive's top folder/,
    ],
    ['file at the top', archive(entry('README', { data: 'x' })), /(not commit|file at the top)/],
    [
      'other commit',
      archive(
        entry('Codertocat-Hello-World-0000000/'),
        entry('Codertocat-Hello-World-0000000/a', { data: 'x' }),
      ),
      /not commit/,
    ],
    [
      'too many entries',
      archive(entry(`${TOP}/`), ...Array.from({ length: 6 }, (_, i) => entry(`${TOP}/f${i}`, { data: 'x' }))),
      /more than 5 entries/,
      { commit: SHA, limits: { maxEntries: 5 } },
    ],
    [
      'file too large',
      archive(entry(`${TOP}/`), entry(`${TOP}/big`, { data: 'x'.repeat(2000) })),
      /larger than 1000 bytes/,
      { commit: SHA, limits: { maxFileBytes: 1000 } },
    ],
    [
      'too large in total',
      archive(
        entry(`${TOP}/`),
        entry(`${TOP}/a`, { data: 'x'.repeat(600) }),
        entry(`${TOP}/b`, { data: 'x'.repeat(600) }),
      ),
      /more than 1000 bytes/,
      { commit: SHA, limits: { maxBytes: 1000 } },
    ],
    [
      'download too large',
      archive(
        entry(`${TOP}/`),
        entry(`${TOP}/a`, { data: Array.from({ length: 4000 }, (_, i) => String(i * 7919)).join(',') }),
      ),
      /archive larger than 2000 bytes/,
      { commit: SHA, limits: { maxDownloadBytes: 2000 } },
    ],
    ['not a tarball', gzipSync(Buffer.from('<html>rate limited</html>'.repeat(30))), /./],
    ['empty', archive(), /empty|Unrecognized/],
  ];
  for (const [name, buf, re, opts] of cases) {
    const dest = path.join(parent, name.replace(/ /g, '-'), 'snapshot');
    await mkdir(dest, { recursive: true });
    await assert.rejects(
      extractTarball(Readable.from([buf]), dest, opts ?? { commit: SHA }),
      (err: unknown) => {
        assert.ok(err instanceof ArchiveError, `${name}: ${String(err)}`);
        assert.match(err.message, re, name);
        return true;
      },
    );
  }
  for (const stray of ['escaped.txt', 'x/escaped.txt']) {
    await assert.rejects(stat(path.join(parent, stray)));
  }
  await assert.rejects(stat('/tmp/absolute.txt'));
});

test('git archive output: its pax header names the commit, and another commit with the same prefix is refused', async () => {
  const repo = await freshDir();
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
      encoding: 'utf8',
    }).trim();
  git('init', '-q', '-b', 'main');
  await writeFile(path.join(repo, 'a.yml'), 'a: 1\n');
  git('add', '.');
  git('commit', '-q', '-m', 'one');
  const commit = git('rev-parse', 'HEAD');
  const tgz = execFileSync('git', [
    '-C',
    repo,
    'archive',
    '--format=tar.gz',
    `--prefix=o-r-${commit.slice(0, 7)}/`,
    commit,
  ]);
  const dest = await freshDir();
  await extractTarball(Readable.from([tgz]), dest, { commit });
  assert.deepEqual(await files(dest), ['a.yml']);
  // Same short id, different full id: the pax comment (the real commit) gives it away.
  const forged = commit.slice(0, 7) + (commit[7] === '0' ? '1' : '0') + commit.slice(8);
  await assert.rejects(
    extractTarball(Readable.from([tgz]), await freshDir(), { commit: forged }),
    /is commit/,
  );
});

let gh: FakeGithub;
before(async () => {
  gh = new FakeGithub();
  await gh.start();
});
after(() => gh?.close());

test('download through octokit: tarball at the exact commit, redirect followed, token sent, snapshot stored', async () => {
  const src = await freshDir();
  await mkdir(path.join(src, 'os'));
  await writeFile(path.join(src, 'os', 'tiny.yml'), 'kernel: "http://x/k"\n');
  await gh.setArchiveFromDir('Codertocat/Hello-World', SHA, src);
  const access = createGithubAccess({ token: 'ghp_testtoken0123456789' });
  const dest = await freshDir();
  await fetchGithubArchive(access, { repo: 'Codertocat/Hello-World', commit: SHA, apiUrl: gh.url, dest });
  assert.deepEqual(await files(dest), ['os/', 'os/tiny.yml']);
  const [api] = gh.requestsTo('GET', /\/tarball\//);
  assert.equal(api!.path, `/repos/Codertocat/Hello-World/tarball/${SHA}`);
  assert.match(api!.authorization ?? '', /ghp_testtoken0123456789/);
  assert.equal(gh.requestsTo('GET', /^\/_codeload\//).length, 1);

  // Through the revision store, as the control worker fetches it.
  const data = await freshDir();
  const store = new RevisionStore(data, { github: access });
  const dir = await store.snapshot('hello', SHA, {
    kind: 'github',
    location: 'Codertocat/Hello-World',
    ref: SHA,
    apiUrl: gh.url,
  });
  assert.equal(await readFile(path.join(dir, 'os', 'tiny.yml'), 'utf8'), 'kernel: "http://x/k"\n');
  assert.equal(await store.has('hello', SHA), true);

  // Refusals: not a full commit id, an unknown commit, a failing codeload; nothing is stored for them.
  await assert.rejects(
    fetchGithubArchive(access, {
      repo: 'Codertocat/Hello-World',
      commit: 'main',
      apiUrl: gh.url,
      dest: await freshDir(),
    }),
    /full commit id/,
  );
  const other = 'a'.repeat(40);
  await assert.rejects(
    store.snapshot('hello', other, {
      kind: 'github',
      location: 'Codertocat/Hello-World',
      ref: other,
      apiUrl: gh.url,
    }),
  );
  assert.equal(await store.has('hello', other), false);
  gh.archiveStatus = 500;
  try {
    await assert.rejects(
      fetchGithubArchive(access, {
        repo: 'Codertocat/Hello-World',
        commit: SHA,
        apiUrl: gh.url,
        dest: await freshDir(),
      }),
    );
  } finally {
    gh.archiveStatus = undefined;
  }
  await assert.rejects(
    fetchGithubArchive(access, { repo: '../etc', commit: SHA, apiUrl: gh.url, dest: await freshDir() }),
    /not a GitHub repository/,
  );
  assert.throws(() => createGithubAccess({}).client('http://example.com'), /must use https/);
});
