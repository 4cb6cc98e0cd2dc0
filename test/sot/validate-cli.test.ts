// `vaquero validate` as an operator runs it: the real entry point in a child process, its stdout and exit code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = path.join(REPO, 'test/fixtures/sot/base');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function vaquero(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/vaquero.js', ...args], { cwd: REPO }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let broken = '';
before(async () => {
  // Two problems in two files: a misspelt workflow and a MAC used twice.
  broken = await mkdtemp(path.join(tmpdir(), 'vaquero-cli-'));
  await cp(BASE, broken, { recursive: true });
  const rackA = path.join(broken, 'sites/lab/rack-a.yml');
  await writeFile(
    rackA,
    (await readFile(rackA, 'utf8')).replace('workflow: two-stage', 'workflow: tw-stage'),
  );
  const rackB = path.join(broken, 'sites/lab/rack-b.yml');
  await writeFile(rackB, (await readFile(rackB, 'utf8')).replace('52:54:00:00:00:04', '52:54:00:00:00:02'));
});
after(async () => {
  if (broken) await rm(broken, { recursive: true, force: true });
});

const BROKEN_LINES = [
  'sites/lab/rack-a.yml:2:11: unknown workflow "tw-stage" (did you mean "two-stage"?)',
  'sites/lab/rack-b.yml:19:10: duplicate MAC 52:54:00:00:00:02 (first used by host node-02 at sites/lab/rack-a.yml:23:10)',
];

test('a valid SoT: exit 0 and a one-line summary', async () => {
  const r = await vaquero('validate', BASE);
  assert.deepEqual(r, {
    code: 0,
    stdout: 'ok: 4 hosts in 1 site, 2 workflows, 2 boots, 2 OSes, 3 templates, 1 snippet\n',
    stderr: '',
  });
});

test('an invalid SoT: exit 1 and one FILE:LINE:COL line per problem, in order', async () => {
  const r = await vaquero('validate', broken);
  assert.deepEqual(r, { code: 1, stdout: BROKEN_LINES.map((l) => l + '\n').join(''), stderr: '' });
});

test('--json on an invalid SoT', async () => {
  const r = await vaquero('validate', broken, '--json');
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout), {
    ok: false,
    diagnostics: [
      {
        file: 'sites/lab/rack-a.yml',
        line: 2,
        col: 11,
        message: 'unknown workflow "tw-stage" (did you mean "two-stage"?)',
      },
      {
        file: 'sites/lab/rack-b.yml',
        line: 19,
        col: 10,
        message: 'duplicate MAC 52:54:00:00:00:02 (first used by host node-02 at sites/lab/rack-a.yml:23:10)',
      },
    ],
    warnings: [],
  });
});

test('--json on a valid SoT', async () => {
  const r = await vaquero('validate', BASE, '--json');
  assert.deepEqual(r, { code: 0, stdout: '{"ok":true,"diagnostics":[],"warnings":[]}\n', stderr: '' });
});

test('a folder that does not exist, or holds no SoT, is a usage error (exit 2), not "ok"', async () => {
  const missing = await vaquero('validate', path.join(BASE, 'no-such-folder'));
  assert.equal(missing.code, 2);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /is not a folder/);
  const notSot = await vaquero('validate', path.join(BASE, 'assets'));
  assert.equal(notSot.code, 2);
  assert.equal(notSot.stdout, '');
  assert.match(notSot.stderr, /holds no SoT/);
});
