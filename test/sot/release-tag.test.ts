// `release_tag` in a site's env.yml: the site (env, hosts, and the os/boot/workflows/templates they render against)
// is taken from that tag of the SoT repository; a tag the repository lacks is a warning and the current revision
// is used. Checked through validateSot with the externals `vaquero validate`/`plan` build, the rollout's
// PreparedRevisions (what planRollout plans from), and `vaquero plan --repo` itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PreparedRevisions } from '../../activities/control/prepared-revisions.ts';
import { RevisionStore } from '../../activities/control/revision-store.ts';
import { createSotExternals } from '../../activities/control/sot-externals.ts';
import { formatDiagnostic, formatWarning } from '../../sot/diagnostics.ts';
import { checkoutRevision } from '../../sot/git-revision.ts';
import { hostStates, planStates } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { commitAll, git, repoFrom, writeFiles } from './support/git-sot.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = path.join(REPO, 'test/fixtures/sot/base');

const EDGE_ENV = `description: Edge rack
subnets:
  - id: edge-net
    cidr: 10.20.0.0/24
agents:
  - id: edge-agent
    http_url: http://10.20.0.2:8080
    dhcp_mode: proxy
`;
const EDGE_HOSTS = `name: edge-01
workflow: single
interfaces:
  - type: physical
    mac: 52:54:00:00:20:01
    subnet: edge-net
    ipv4: 10.20.0.11
  - type: bmc
    driver: sim
    address: sim://edge-01
`;

let root = '';
let repo = '';
/** Commits: the tagged one (v1), the one pinning edge to v1, and the one changing flatcar after it. */
let tagged = '';
let pinned = '';
let changed = '';
const cacheDir = () => path.join(root, 'data');

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'vaquero-release-tag-'));
  repo = path.join(root, 'sot');
  await repoFrom(BASE, repo);
  await writeFiles(repo, { 'sites/edge/env.yml': EDGE_ENV, 'sites/edge/rack.yml': EDGE_HOSTS });
  tagged = commitAll(repo, 'edge site');
  git(repo, 'tag', '-a', 'v1', '-m', 'release v1');
  await writeFile(path.join(repo, 'sites/edge/env.yml'), `release_tag: v1\n${EDGE_ENV}`);
  pinned = commitAll(repo, 'pin edge to v1');
  const flatcar = path.join(repo, 'os/flatcar.yml');
  await writeFile(flatcar, (await readFile(flatcar, 'utf8')) + '  - flatcar.autologin\n');
  // The edge host as main has it now: another IP. Pinned, it keeps the tag's.
  const rack = path.join(repo, 'sites/edge/rack.yml');
  await writeFile(rack, (await readFile(rack, 'utf8')).replace('10.20.0.11', '10.20.0.99'));
  changed = commitAll(repo, 'flatcar autologin');
});
after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const externals = () => createSotExternals({ sotRepo: repo, cacheDir: cacheDir(), localRoots: [] });

async function validateAt(rev: string) {
  const co = await checkoutRevision(repo, rev);
  try {
    return await validateSot(co.dir, { externals: externals() });
  } finally {
    await co.cleanup();
  }
}

test('a pinned site is the tag: its env, its hosts and the configuration they render against', async () => {
  const { model, diagnostics, warnings } = await validateAt(changed);
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(warnings, []);
  const edge = model.hosts.find((h) => h.id === 'edge-01')!;
  assert.equal(edge.config?.origin.type, 'release_tag');
  assert.equal(edge.config?.origin.ref, 'v1');
  assert.equal(edge.config?.origin.commit, git(repo, 'rev-parse', 'v1^{commit}'));
  assert.equal(edge.file, 'v1:sites/edge/rack.yml');
  // The tag's host (its IP), not main's.
  assert.equal(edge.spec.interfaces[0]!.type === 'physical' && edge.spec.interfaces[0]!.ipv4, '10.20.0.11');
  // The tag's env has no release_tag of its own; main's site says it is pinned.
  assert.equal(model.sites.get('edge')!.file, 'v1:sites/edge/env.yml');
  const lab = model.hosts.find((h) => h.id === 'node-03')!;
  assert.equal(lab.config, undefined);
  const states = hostStates(model);
  assert.ok(!states.get('edge-01')!.fingerprint!.stages[0]!.parts.cmdline.includes('autologin'));
});

test('fingerprints follow the tag: a change on main reprovisions the other sites, never the pinned one', async () => {
  const [a, b] = await Promise.all([validateAt(pinned), validateAt(changed)]);
  const plan = planStates(hostStates(a.model), hostStates(b.model));
  const action = (host: string) => plan.hosts.find((h) => h.host === host)?.action;
  assert.equal(action('node-03'), 'reprovision');
  assert.equal(action('node-01'), 'reprovision');
  assert.equal(action('edge-01'), 'unchanged');
  // Control: without the pin, the same change does reach edge-01.
  const co = await checkoutRevision(repo, changed);
  try {
    await writeFile(path.join(co.dir, 'sites/edge/env.yml'), EDGE_ENV);
    const main = await validateSot(co.dir, { externals: externals() });
    const moved = planStates(hostStates(a.model), hostStates(main.model));
    assert.equal(moved.hosts.find((h) => h.host === 'edge-01')?.action, 'reprovision');
  } finally {
    await co.cleanup();
  }
});

test('a tag the repository lacks: a warning at release_tag, and the current revision of the site', async () => {
  const co = await checkoutRevision(repo, changed);
  try {
    await writeFile(path.join(co.dir, 'sites/edge/env.yml'), `release_tag: v9\n${EDGE_ENV}`);
    const r = await validateSot(co.dir, { externals: externals() });
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
    assert.deepEqual(r.warnings.map(formatWarning), [
      'sites/edge/env.yml:1:14: warning: release_tag "v9" not found (the SoT repository has no tag or commit "v9"): site edge uses this revision instead',
    ]);
    const edge = r.model.hosts.find((h) => h.id === 'edge-01')!;
    assert.equal(edge.config, undefined);
    assert.equal(edge.spec.interfaces[0]!.type === 'physical' && edge.spec.interfaces[0]!.ipv4, '10.20.0.99');
  } finally {
    await co.cleanup();
  }
});

test('a SoT that is no git repository: release_tag is a warning saying so', async () => {
  const co = await checkoutRevision(repo, pinned);
  try {
    // A plain folder (an export of the commit) handed in as `vaquero validate` would: no repository to read tags from.
    const { cliExternals } = await import('../../cli/sot-externals.ts');
    const r = await validateSot(co.dir, { externals: await cliExternals(co.dir, { dataDir: cacheDir() }) });
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.warnings.map(formatWarning), [
      'sites/edge/env.yml:1:14: warning: release_tag "v1" not found (the SoT is not read from a git repository here): site edge uses this revision instead',
    ]);
  } finally {
    await co.cleanup();
  }
});

test('a tag without the site, and a release_tag that is no ref: errors at the field', async () => {
  const co = await checkoutRevision(repo, changed);
  try {
    git(repo, 'tag', 'before-edge', `${tagged}~1`);
    await writeFile(path.join(co.dir, 'sites/edge/env.yml'), `release_tag: before-edge\n${EDGE_ENV}`);
    const r = await validateSot(co.dir, { externals: externals() });
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      'sites/edge/env.yml:1:14: release_tag "before-edge": site edge does not exist at that revision',
    ]);
    await writeFile(path.join(co.dir, 'sites/edge/env.yml'), `release_tag: "--upload-pack=x"\n${EDGE_ENV}`);
    const bad = await validateSot(co.dir, { externals: externals() });
    assert.equal(bad.diagnostics.length, 1);
    assert.match(
      formatDiagnostic(bad.diagnostics[0]!),
      /^sites\/edge\/env\.yml:1:14: .*not starting with "-"/,
    );
  } finally {
    await co.cleanup();
  }
});

test("the rollout's prepared revision renders the pinned site from its tag", async () => {
  const store = new RevisionStore(cacheDir());
  await store.snapshot('sot', changed, { kind: 'git', location: repo, ref: changed });
  const rev = await new PreparedRevisions(store).get('sot', changed);
  const fromTag = hostStates((await validateAt(tagged)).model).get('edge-01')!.fingerprint!.digest;
  assert.equal(rev.hosts.get('edge/edge-01')!.fingerprint, fromTag);
  const fromMain = hostStates((await validateAt(changed)).model).get('node-03')!.fingerprint!.digest;
  assert.equal(rev.hosts.get('lab/node-03')!.fingerprint, fromMain);
});

test('vaquero plan --repo: the pinned site stays unchanged, and a missing tag is a warning on stderr', async () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/vaquero.js', ...args], { cwd: REPO }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  const r = await run('plan', '--json', '--data-dir', cacheDir(), '--repo', repo, pinned, changed);
  assert.equal(r.code, 0, r.stderr);
  const hosts = (JSON.parse(r.stdout) as { hosts: { host: string; action: string }[] }).hosts;
  assert.equal(hosts.find((h) => h.host === 'edge-01')?.action, 'unchanged');
  assert.equal(hosts.find((h) => h.host === 'node-03')?.action, 'reprovision');
  // The same folder as a plain copy (no repository): valid, and the warning names the field.
  const plainDir = path.join(root, 'plain');
  await cp(path.join(repo, 'sites'), path.join(plainDir, 'sites'), { recursive: true });
  for (const d of ['os', 'boot', 'workflows', 'assets'])
    await cp(path.join(repo, d), path.join(plainDir, d), { recursive: true });
  const v = await run('validate', '--data-dir', cacheDir(), plainDir);
  assert.equal(v.code, 0);
  assert.match(v.stderr, /^sites\/edge\/env\.yml:1:14: warning: release_tag "v1" not found/);
});
