// The Advanced SoT: a sites repository whose cluster files begin with a `config:` document naming where their
// hosts' configuration (os, boot, workflows, assets) comes from — a git repository served over file:// (as the
// git-remote tests serve one) and a local folder that is a git repository, each at its own ref, in one site.
// Checked through validateSot with the externals `vaquero validate`/`plan` build, and `vaquero validate` itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSotExternals } from '../../activities/control/sot-externals.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import type { SotModel } from '../../sot/model.ts';
import { hostStates, planStates } from '../../sot/plan.ts';
import { createRenderer } from '../../sot/render.ts';
import { validateSot } from '../../sot/validate.ts';
import { bareCopy, commitAll, git, repoFrom } from './support/git-sot.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = path.join(REPO, 'test/fixtures/sot/base');

let root = '';
let gitUrl = '';
let localDir = '';
let sites = '';

/**
 * A configuration repository: the base fixture's os, boot, workflows and assets (no sites), whose flatcar boot puts
 * where its configuration came from (config.type, config.ref) on the kernel command line.
 */
async function configRepo(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const d of ['os', 'boot', 'workflows', 'assets'])
    await cp(path.join(BASE, d), path.join(dir, d), { recursive: true });
  await edit(
    path.join(dir, 'boot/flatcar-install.yml'),
    'template: worker.ign',
    'template: worker.ign\ncmdline: ["vaquero.config={{ config.type }}-{{ config.ref }}"]',
  );
  await repoFrom(undefined, dir);
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.includes(from), `${file} holds ${from}`);
  await writeFile(file, text.replace(from, to));
}

/** The body of a cluster file: its hosts, from the base fixture's rack file. */
const hostsOf = (rack: string) => readFile(path.join(BASE, 'sites/lab', rack), 'utf8');

async function writeCluster(name: string, config: string, rack: string): Promise<void> {
  await writeFile(path.join(sites, 'sites/lab', name), `${config}---\n${await hostsOf(rack)}`);
}

const gitConfig = (ref: string) => `config:\n  type: git\n  url: ${gitUrl}\n  ref: ${ref}\n`;
const localConfig = (ref: string) => `config:\n  type: local\n  url: ${localDir}\n  ref: ${ref}\n`;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'vaquero-advanced-sot-'));
  // The git configuration: v1, then v2 with another flatcar command line; its boot reads config.ref.
  const work = path.join(root, 'k8s-config');
  await configRepo(work);
  git(work, 'tag', 'v1');
  await edit(path.join(work, 'os/flatcar.yml'), 'flatcar.first_boot=1', 'flatcar.first_boot=1\n  - quiet');
  commitAll(work, 'quiet flatcar');
  git(work, 'tag', 'v2');
  gitUrl = bareCopy(work, path.join(root, 'k8s-config.git'));
  // The local configuration: a folder that is a repository, r1 then r2 (flatcar with autologin).
  localDir = path.join(root, 'local', 'storage-config');
  await configRepo(localDir);
  git(localDir, 'tag', 'r1');
  await edit(
    path.join(localDir, 'os/flatcar.yml'),
    'flatcar.first_boot=1',
    'flatcar.first_boot=1\n  - flatcar.autologin',
  );
  commitAll(localDir, 'flatcar autologin');
  git(localDir, 'tag', 'r2');
  // The sites repository: only sites/.
  sites = path.join(root, 'sites-repo');
  await mkdir(path.join(sites, 'sites/lab'), { recursive: true });
  await cp(path.join(BASE, 'sites/lab/env.yml'), path.join(sites, 'sites/lab/env.yml'));
  await writeCluster('cluster-k8s.yml', gitConfig('v1'), 'rack-a.yml');
  await writeCluster('cluster-storage.yml', localConfig('r2'), 'rack-b.yml');
});
after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const externals = (roots = [root]) =>
  createSotExternals({ cacheDir: path.join(root, 'data'), localRoots: roots });

async function validateSites(roots?: string[]) {
  return validateSot(sites, { externals: externals(roots) });
}

test('each cluster renders against its own configuration at its own ref', async () => {
  const { model, diagnostics, warnings } = await validateSites();
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(warnings, []);
  const node01 = model.hosts.find((h) => h.id === 'node-01')!;
  const node03 = model.hosts.find((h) => h.id === 'node-03')!;
  assert.deepEqual(node01.config?.origin, {
    type: 'git',
    url: gitUrl,
    ref: 'v1',
    commit: git(path.join(root, 'k8s-config'), 'rev-parse', 'v1'),
  });
  assert.equal(node03.config?.origin.type, 'local');
  assert.equal(node03.config?.origin.ref, 'r2');
  // Stage 2 of two-stage is the flatcar boot, whose command line reads config.type and config.ref.
  assert.match(cmdlineOf(model, 'node-01', 2), /vaquero\.config=git-v1/);
  assert.match(cmdlineOf(model, 'node-03', 1), /flatcar\.autologin.*vaquero\.config=local-r2/);
  // Each configuration's own os: the git one at v1 has neither quiet nor autologin.
  assert.doesNotMatch(cmdlineOf(model, 'node-01', 2), /quiet|autologin/);
});

function cmdlineOf(model: SotModel, host: string, stage: number): string {
  const h = model.hosts.find((x) => x.id === host)!;
  return createRenderer(model).renderHost(h).rendered!.stages[stage - 1]!.cmdline;
}

test('moving one cluster to another ref reprovisions its hosts only', async () => {
  const before = await validateSites();
  const original = await readFile(path.join(sites, 'sites/lab/cluster-k8s.yml'), 'utf8');
  try {
    await writeCluster('cluster-k8s.yml', gitConfig('v2'), 'rack-a.yml');
    const afterMove = await validateSites();
    assert.deepEqual(afterMove.diagnostics.map(formatDiagnostic), []);
    const plan = planStates(hostStates(before.model), hostStates(afterMove.model));
    const entry = (host: string) => plan.hosts.find((h) => h.host === host)!;
    assert.equal(entry('node-01').action, 'reprovision');
    assert.ok(entry('node-01').reasons.some((r) => r.includes('kernel command line changed')));
    assert.equal(entry('node-03').action, 'unchanged');
    assert.match(cmdlineOf(afterMove.model, 'node-01', 2), /quiet.*vaquero\.config=git-v2/);
    // The local cluster back at r1: the debian priority changes for its hosts.
    await writeCluster('cluster-storage.yml', localConfig('r1'), 'rack-b.yml');
    const r1 = await validateSites();
    assert.match(cmdlineOf(r1.model, 'node-03', 1), /vaquero\.config=local-r1/);
    assert.doesNotMatch(cmdlineOf(r1.model, 'node-03', 1), /autologin/);
    const back = planStates(hostStates(before.model), hostStates(r1.model));
    assert.equal(back.hosts.find((h) => h.host === 'node-03')!.action, 'reprovision');
  } finally {
    await writeFile(path.join(sites, 'sites/lab/cluster-k8s.yml'), original);
    await writeCluster('cluster-storage.yml', localConfig('r2'), 'rack-b.yml');
  }
});

/** Validates the sites repository with `cluster-k8s.yml` holding `config`; returns the diagnostics as text. */
async function problemsWith(config: string, roots?: string[]): Promise<string[]> {
  const file = path.join(sites, 'sites/lab/cluster-k8s.yml');
  const original = await readFile(file, 'utf8');
  try {
    await writeFile(file, `${config}---\n${await hostsOf('rack-a.yml')}`);
    return (await validateSites(roots)).diagnostics.map(formatDiagnostic);
  } finally {
    await writeFile(file, original);
  }
}

test('every mistake in a config: document is an error at its line in the cluster file', async () => {
  const at = 'sites/lab/cluster-k8s.yml';
  assert.deepEqual(await problemsWith(`config:\n  type: svn\n  url: ${gitUrl}\n  ref: v1\n`), [
    `${at}:2:9: "config.type" must be "git", "local"; got string "svn"`,
  ]);
  const missingUrl = await problemsWith('config:\n  type: git\n  ref: v1\n');
  assert.equal(missingUrl.length, 1);
  assert.match(missingUrl[0]!, new RegExp(`^${at}:2:3: .*url`));
  assert.deepEqual(await problemsWith(`config:\n  type: git\n  url: ${gitUrl}\n`), [
    `${at}:1:1: config: type git needs a ref (a tag, branch or commit)`,
  ]);
  assert.deepEqual(await problemsWith(gitConfig('v9')), [
    `${at}:3:8: config of cluster cluster-k8s.yml: cannot read git configuration ${gitUrl}@v9: the repository has no tag, branch or commit "v9"`,
  ]);
  const unreachable = await problemsWith(gitConfig('v1').replace(gitUrl, `file://${root}/nowhere.git`));
  assert.equal(unreachable.length, 1);
  assert.match(
    unreachable[0]!,
    new RegExp(
      `^${at}:3:8: config of cluster cluster-k8s.yml: cannot read git configuration file://.*nowhere\\.git@v1: `,
    ),
  );
  const token = await problemsWith(`${gitConfig('v1')}  token: abc\n`);
  assert.equal(token.length, 1);
  assert.match(token[0]!, new RegExp(`^${at}:5:3: `));
  const second = await problemsWith(`name: x\nworkflow: single\ninterfaces: []\n---\n${gitConfig('v1')}`);
  assert.ok(
    second.includes(`${at}:5:1: a config: document must be the first document of its cluster file`),
    second.join('\n'),
  );
});

test('a local folder or file:// repository outside the configuration roots is refused, links included', async () => {
  const at = 'sites/lab/cluster-k8s.yml';
  const elsewhere = [path.join(root, 'sites-repo')];
  assert.deepEqual((await problemsWith(localConfig('r2'), elsewhere)).slice(0, 1), [
    `${at}:3:8: config of cluster cluster-k8s.yml: cannot read local configuration ${localDir}@r2: folder ${localDir} is outside the allowed configuration roots (${elsewhere[0]}); an operator allows a folder with VAQUERO_CONFIG_ROOTS or --config-root`,
  ]);
  const viaGit = await problemsWith(gitConfig('v1'), elsewhere);
  assert.match(viaGit[0]!, /repository .*k8s-config\.git is outside the allowed configuration roots/);
  // A link inside an allowed root that leads outside it is judged by where it leads.
  const links = path.join(root, 'links');
  await mkdir(links);
  await symlink(localDir, path.join(links, 'storage'));
  const linked = await problemsWith(localConfig('r2').replace(localDir, path.join(links, 'storage')), [
    links,
  ]);
  assert.match(linked[0]!, new RegExp(`^${at}:3:8: .*outside the allowed configuration roots`));
  assert.match(
    (await problemsWith(localConfig('r2').replace(localDir, 'relative/dir')))[0]!,
    /must be an absolute path/,
  );
});

test('vaquero validate --config-root: the Advanced SoT is valid; without the root it is not', async () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/vaquero.js', ...args],
        { cwd: REPO, env: { ...process.env, VAQUERO_CONFIG_ROOTS: '' } },
        (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
        },
      );
    });
  const dataDir = path.join(root, 'data');
  const ok = await run('validate', '--config-root', root, '--data-dir', dataDir, sites);
  assert.deepEqual(ok, {
    code: 0,
    stdout:
      'ok: 4 hosts in 1 site, 4 workflows, 4 boots, 4 OSes, 6 templates, 2 snippets (with 2 other configurations)\n',
    stderr: '',
  });
  const refused = await run('validate', '--json', '--data-dir', dataDir, sites);
  assert.equal(refused.code, 1);
  const out = JSON.parse(refused.stdout) as {
    diagnostics: { file: string; line: number; message: string }[];
  };
  assert.deepEqual(
    out.diagnostics.map((d) => `${d.file}:${d.line}`),
    ['sites/lab/cluster-k8s.yml:3', 'sites/lab/cluster-storage.yml:3'],
  );
});
