// `vaquero plan` and `vaquero render` as an operator runs them (a real process), and git revisions.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkoutRevision } from '../../sot/git-revision.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaquero-plan-cli-'));
  dirs.push(dir);
  return dir;
}

async function copyWith(replace: string, withText: string, file: string): Promise<string> {
  const dir = await tempDir();
  await cp(BASE, dir, { recursive: true });
  const text = await readFile(path.join(dir, file), 'utf8');
  assert.equal(text.split(replace).length, 2);
  await writeFile(path.join(dir, file), text.replace(replace, withText));
  return dir;
}

async function vaquero(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['bin/vaquero.js', ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await execFileP('git', args, { cwd })).stdout.trim();
}

let newKernel: string;
before(async () => {
  newKernel = await copyWith('/debian/linux', '/debian/linux-6.1', 'os/debian.yml');
});

describe('vaquero plan', () => {
  test('--json prints exactly {"hosts":[{site,host,action,reasons}]} in order', async () => {
    const r = await vaquero('plan', BASE, newKernel, '--json');
    assert.equal(r.code, 0, r.stderr);
    const kernel = ['stage 1 (install): kernel URL changed'];
    assert.equal(
      r.stdout,
      JSON.stringify({
        hosts: [
          { site: 'alpha', host: 'h1', action: 'reprovision', reasons: kernel },
          { site: 'alpha', host: 'h2', action: 'reprovision', reasons: kernel },
          { site: 'alpha', host: 'h3', action: 'unchanged', reasons: [] },
          { site: 'alpha', host: 'h4', action: 'skipped', reasons: ['never_provision is set'] },
          { site: 'beta', host: 'h5', action: 'unchanged', reasons: [] },
        ],
      }) + '\n',
    );
  });

  test('human output: a summary, then one line per changed host', async () => {
    const r = await vaquero('plan', BASE, newKernel);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `plan ${BASE} -> ${newKernel}: 2 to reprovision, 1 skipped, 2 unchanged`,
        '  reprovision  alpha/h1  stage 1 (install): kernel URL changed',
        '  reprovision  alpha/h2  stage 1 (install): kernel URL changed',
        '  skipped      alpha/h4  never_provision is set',
        '',
      ].join('\n'),
    );
  });

  test('an invalid SoT is refused with its diagnostics (exit 1)', async () => {
    const broken = await copyWith(
      '{{ metadata.ssh_key }}',
      '{{ metadata.ssh_keys }}',
      'assets/preseed/base.cfg',
    );
    const r = await vaquero('plan', BASE, broken, '--json');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /is not a valid SoT/);
    assert.match(
      r.stderr,
      /assets\/preseed\/base\.cfg:4:\d+: does not render for host h1 \(stage 1, boot install\): undefined variable "metadata\.ssh_keys"/,
    );
  });

  test('usage errors exit 2', async () => {
    const missing = await vaquero('plan', BASE, path.join(BASE, 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /is not a folder/);
    assert.equal((await vaquero('plan', BASE)).code, 2);
  });
});

describe('vaquero plan --repo', () => {
  let repo: string;
  before(async () => {
    repo = await tempDir();
    await cp(BASE, repo, { recursive: true });
    await git(repo, 'init', '-q');
    await git(repo, 'config', 'user.name', 'Test');
    await git(repo, 'config', 'user.email', 'test@example.com');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-q', '-m', 'first');
    const file = path.join(repo, 'sites/alpha/cluster.yml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('ssh_key: key-two', 'ssh_key: key-2'));
    await git(repo, 'commit', '-q', '-a', '-m', 'second');
    await git(repo, 'tag', 'v2');
  });

  test('plans between two commits', async () => {
    const r = await vaquero('plan', '--repo', repo, 'HEAD~1', 'v2', '--json');
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { hosts: { host: string; action: string; reasons: string[] }[] };
    assert.deepEqual(
      plan.hosts
        .filter((h) => h.action !== 'unchanged')
        .map((h) => `${h.host} ${h.action}: ${h.reasons.join('; ')}`),
      ['h2 reprovision: stage 1 (install): unattended config changed', 'h4 skipped: never_provision is set'],
    );
    const human = await vaquero('plan', '--repo', repo, 'HEAD~1', 'HEAD');
    const commit = await git(repo, 'rev-parse', 'HEAD');
    assert.match(
      human.stdout,
      new RegExp(`^plan HEAD~1 \\([0-9a-f]{12}\\) -> HEAD \\(${commit.slice(0, 12)}\\): 1 to reprovision,`),
    );
  });

  test('a revision that is not a commit, or looks like an option, is a usage error', async () => {
    for (const rev of ['nope', '--upload-pack=touch /tmp/x', '-h']) {
      // After `--`, commander passes option-like words through: the revision check itself must stop them.
      const r = await vaquero('plan', '--repo', repo, '--', rev, 'HEAD');
      assert.equal(r.code, 2, rev);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, rev === 'nope' ? /"nope" is not a commit/ : /must not start with "-"/);
    }
  });

  test('checkoutRevision materialises a commit and cleans up', async () => {
    const co = await checkoutRevision(repo, 'HEAD~1');
    assert.equal(co.commit, await git(repo, 'rev-parse', 'HEAD~1'));
    assert.match(await readFile(path.join(co.dir, 'sites/alpha/cluster.yml'), 'utf8'), /ssh_key: key-two/);
    assert.deepEqual((await readdir(co.dir)).sort(), ['assets', 'boot', 'os', 'sites', 'workflows']);
    await co.cleanup();
    await assert.rejects(stat(co.dir));
    await assert.rejects(checkoutRevision(repo, '--output=/tmp/x'), /must not start with "-"/);
  });
});

describe('vaquero render', () => {
  test('--part ipxe of one stage prints the bare script', async () => {
    const r = await vaquero('render', BASE, '--host', 'h5', '--part', 'ipxe');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        '#!ipxe',
        '# vaquero: host h5, stage 1 (smoke)',
        'kernel http://mirror.example/tiny/vmlinuz initrd=initrd.img ' +
          'callback=http://10.2.0.1:8080/checkpoint/__VAQUERO_CHECKPOINT_TOKEN__ ' +
          'ignition.config.url=http://10.2.0.1:8080/config/52:54:00:00:02:05?stage=1 ignition.firstboot',
        'initrd http://mirror.example/tiny/initrd.img',
        'boot',
        '',
      ].join('\n'),
    );
  });

  test('--json and --stage', async () => {
    const r = await vaquero('render', BASE, '--host', 'h1', '--stage', '2', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      host: string;
      mac: string;
      stages: { index: number; boot: string; config: { type: string } }[];
    };
    assert.equal(out.host, 'h1');
    assert.equal(out.mac, '52:54:00:00:01:01');
    assert.deepEqual(
      out.stages.map((s) => [s.index, s.boot, s.config.type]),
      [[2, 'configure', 'cloud-config']],
    );
  });

  test('human output has a heading per stage and artifact', async () => {
    const r = await vaquero('render', BASE, '--host', 'h1');
    assert.equal(r.code, 0, r.stderr);
    for (const heading of [
      'host h1: site alpha, workflow two-stage, mac 52:54:00:00:01:01, ipv4 10.1.0.11',
      '=== stage 1 of 2: install (os debian) ===',
      '--- iPXE script ---',
      '--- kernel command line ---',
      '--- unattended config: preseed (text/plain) ---',
      '--- tasks ---',
      'before_shutdown drain: registry.example/drain:1 drain h1 (env SITE="alpha") (timeout 300s, retries 1)',
      '=== stage 2 of 2: configure (os tiny) ===',
    ]) {
      assert.ok(r.stdout.split('\n').includes(heading), heading);
    }
  });

  test('unknown host or stage: exit 2; a host that does not render: exit 1', async () => {
    const unknown = await vaquero('render', BASE, '--host', 'h9');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown host "h9"/);
    const stage = await vaquero('render', BASE, '--host', 'h3', '--stage', '2');
    assert.equal(stage.code, 2);
    assert.match(stage.stderr, /no stage 2/);
    const broken = await copyWith('{{ metadata.ssh_key }}', '{{ metadata.nope }}', 'assets/preseed/base.cfg');
    const bad = await vaquero('render', broken, '--host', 'h2');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^assets\/preseed\/base\.cfg:4:\d+: does not render for host h2/);
  });
});
