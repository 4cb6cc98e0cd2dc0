// Moving refs pinned per SoT revision (sot/pinned-refs.ts): an Advanced SoT whose cluster names a configuration
// repository at `ref: master`, served over file://. The server takes revision A of the sites repository (its plan
// loads it), then master moves: the server's plan, this worker's rollout preparation and a second worker sharing the
// data directory all still render A from the first commit, and the plan says which commit; a new revision B of the
// sites repository resolves master again and renders from the new commit.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { PreparedRevisions } from '../../activities/control/prepared-revisions.ts';
import { RevisionStore } from '../../activities/control/revision-store.ts';
import type { SotConfig } from '../../server/config.ts';
import { PlanService } from '../../server/plan-service.ts';
import { SotSources } from '../../server/sot-sources.ts';
import { createRenderer } from '../../sot/render.ts';
import type { SotModel } from '../../sot/model.ts';
import { bareCopy, commitAll, git, repoFrom } from '../sot/support/git-sot.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = path.join(REPO, 'test/fixtures/sot/base');

let root = '';
let configWork = '';
let configBare = '';
let sitesRepo = '';
let dataDir = '';
const savedRoots = process.env.VAQUERO_CONFIG_ROOTS;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'vaquero-pinned-refs-'));
  // The configuration repository on master: flatcar's command line carries a marker of its commit.
  configWork = path.join(root, 'k8s-config');
  await mkdir(configWork, { recursive: true });
  for (const d of ['os', 'boot', 'workflows', 'assets'])
    await cp(path.join(BASE, d), path.join(configWork, d), { recursive: true });
  await setMarker('first');
  await repoFrom(undefined, configWork);
  git(configWork, 'branch', '-m', 'main', 'master');
  configBare = path.join(root, 'k8s-config.git');
  const url = bareCopy(configWork, configBare);
  // The sites repository: rack-a's hosts render against master of that repository.
  sitesRepo = path.join(root, 'sites-repo');
  await mkdir(path.join(sitesRepo, 'sites/lab'), { recursive: true });
  await cp(path.join(BASE, 'sites/lab/env.yml'), path.join(sitesRepo, 'sites/lab/env.yml'));
  const hosts = await readFile(path.join(BASE, 'sites/lab/rack-a.yml'), 'utf8');
  await writeFile(
    path.join(sitesRepo, 'sites/lab/cluster-k8s.yml'),
    `config:\n  type: git\n  url: ${url}\n  ref: master\n---\n${hosts}`,
  );
  await repoFrom(undefined, sitesRepo);
  dataDir = path.join(root, 'data');
  // file:// repositories are read only inside the roots the operator allows.
  process.env.VAQUERO_CONFIG_ROOTS = root;
});
after(async () => {
  if (savedRoots === undefined) delete process.env.VAQUERO_CONFIG_ROOTS;
  else process.env.VAQUERO_CONFIG_ROOTS = savedRoots;
  if (root) await rm(root, { recursive: true, force: true });
});

async function setMarker(marker: string): Promise<void> {
  const file = path.join(configWork, 'os/flatcar.yml');
  const text = await readFile(file, 'utf8');
  const next = text.includes('vaquero.marker=')
    ? text.replace(/vaquero\.marker=\w+/, `vaquero.marker=${marker}`)
    : text.replace('flatcar.first_boot=1', `flatcar.first_boot=1\n  - vaquero.marker=${marker}`);
  assert.notEqual(next, text, 'the flatcar os has a command line to mark');
  await writeFile(file, next);
}

/** A commit on master of the configuration repository, pushed to the repository the SoT names. */
async function moveMaster(marker: string): Promise<string> {
  await setMarker(marker);
  const commit = commitAll(configWork, `marker ${marker}`);
  git(configWork, 'push', '-q', configBare, 'master');
  return commit;
}

/** The marker node-01's flatcar stage boots with. */
function markerOf(model: SotModel): string {
  const host = model.hosts.find((h) => h.id === 'node-01')!;
  const stages = createRenderer(model).renderHost(host).rendered!.stages;
  const m = stages.map((s) => /vaquero\.marker=(\w+)/.exec(s.cmdline)?.[1]).find((x) => x !== undefined);
  assert.ok(m, 'node-01 boots flatcar with a marker');
  return m;
}

const sot: SotConfig = {
  name: 'lab',
  kind: 'git',
  url: '',
  branch: 'main',
  pollSeconds: 60,
  autoRollout: false,
};

test('a moving ref renders from the commit it had when the revision was taken; a new revision resolves it again', async (t) => {
  const s: SotConfig = { ...sot, url: sitesRepo };
  const first = git(configWork, 'rev-parse', 'master');
  // Nothing here talks to Temporal: a plan between two revisions needs no host history.
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  t.after(() => client.connection.close());

  // The server takes revision A and plans it: master is resolved and pinned.
  const sources = new SotSources([s], new RevisionStore(dataDir), dataDir);
  const revA = await sources.currentRevision(s);
  const plans = new PlanService(sources, client);
  const checkA = await plans.check(s, revA);
  assert.deepEqual(checkA.problems, []);
  assert.equal(markerOf(checkA.model), 'first');
  assert.equal(checkA.model.hosts.find((h) => h.id === 'node-01')!.config?.origin.commit, first);

  // master moves on.
  const second = await moveMaster('second');
  assert.notEqual(second, first);

  // This worker prepares A for its rollout, and so does another worker on the same data directory (fresh caches,
  // fresh processes' view): both render from the first commit.
  const workerA = new PreparedRevisions(new RevisionStore(dataDir), (_sot, rev) =>
    Promise.resolve(sources.sourceFor(s, rev)),
  );
  const preparedA = await workerA.get('lab', revA);
  assert.equal(markerOf(preparedA.model), 'first');
  const otherWorker = new PreparedRevisions(new RevisionStore(dataDir));
  assert.equal(markerOf((await otherWorker.get('lab', revA)).model), 'first');
  // The rollout's notes say which commit master stands for.
  assert.ok(
    preparedA.warnings.some((w) => w.includes(`config ref "master"`) && w.includes(`pinned to ${first}`)),
    preparedA.warnings.join('\n'),
  );
  // A second server replica (its own plan cache) loading A again: still the first commit.
  const replica = new PlanService(new SotSources([s], new RevisionStore(dataDir), dataDir), client);
  assert.equal(markerOf((await replica.check(s, revA)).model), 'first');

  // Revision B of the sites repository: master is resolved again, to the second commit.
  await writeFile(path.join(sitesRepo, 'sites/lab/README'), 'revision B\n');
  const revB = commitAll(sitesRepo, 'revision B');
  assert.equal(await sources.currentRevision(s), revB);
  const planned = await plans.plan(s, revA, revB);
  assert.equal(planned.valid, true);
  if (!planned.valid) return;
  // The plan's output names the commit each revision pins master to.
  const notes = Object.fromEntries(planned.warnings.map((w) => [w.revision, w.messages.join('\n')]));
  assert.match(
    notes[revA] ?? '',
    new RegExp(`cluster-k8s\\.yml:4:\\d+: warning: config ref "master" of .* is pinned to ${first}`),
  );
  assert.match(notes[revB] ?? '', new RegExp(`is pinned to ${second}`));
  const node01 = planned.hosts.find((h) => h.host === 'node-01')!;
  assert.equal(node01.action, 'reprovision');
  assert.equal(markerOf((await plans.check(s, revB)).model), 'second');
  assert.equal(markerOf((await workerA.get('lab', revB)).model), 'second');
  // And A is still A.
  assert.equal(markerOf((await otherWorker.get('lab', revA)).model), 'first');
});

test('a release tag missing when the revision is taken stays missing for it; a new revision finds it', async (t) => {
  // A whole SoT (the base fixture) in a repository of its own, whose site names a tag that does not exist yet.
  const repo = path.join(root, 'tagged-sot');
  await cp(BASE, repo, { recursive: true });
  const env = path.join(repo, 'sites/lab/env.yml');
  await writeFile(env, `release_tag: v5\n${await readFile(env, 'utf8')}`);
  await repoFrom(undefined, repo);
  const s: SotConfig = { ...sot, name: 'tagged', url: repo };
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  t.after(() => client.connection.close());
  const plans = new PlanService(new SotSources([s], new RevisionStore(dataDir), dataDir), client);
  const revA = git(repo, 'rev-parse', 'HEAD');
  const a = await plans.check(s, revA);
  assert.deepEqual(a.problems, []);
  assert.match(a.warnings.join('\n'), /release_tag "v5" not found/);

  // The tag appears (on revision A itself); a worker preparing A still takes the site from A, as the plan did.
  git(repo, 'tag', 'v5');
  const worker = new PreparedRevisions(new RevisionStore(dataDir));
  const prepared = await worker.get('tagged', revA);
  assert.ok(
    prepared.warnings.some((w) => /release_tag "v5" not found .*when this revision was first loaded/.test(w)),
    prepared.warnings.join('\n'),
  );
  assert.equal(prepared.model.hosts.find((h) => h.site === 'lab')?.config, undefined);

  // Revision B resolves the tag: the site comes from v5, pinned to its commit.
  await writeFile(path.join(repo, 'README'), 'revision B\n');
  const revB = commitAll(repo, 'revision B');
  const b = await plans.check(s, revB);
  assert.deepEqual(b.problems, []);
  assert.match(b.warnings.join('\n'), new RegExp(`release_tag "v5" is pinned to ${revA}`));
});
