// A SoT on a git remote other than GitHub: a bare repository on disk reached over file://, a commit pushed to
// it, the rollout of exactly that commit (mirrored, fetched at the commit, snapshotted); then a branch poll that
// picks up the next pushed commit once, however often it polls.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startTriggers } from '../../server/triggers.ts';
import type { SotConfig } from '../../server/config.ts';
import { ROLLOUT_WORKFLOW_TYPE } from '../../domain/workflow-api.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, waitFor } from '../../testkit/workflows.ts';
import { call, errorCode, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

let stack: TestStack;
let api: StackApp;
let sot: WrittenSot;
let bare: string;
let sotConfig: Extract<SotConfig, { kind: 'git' }>;

function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-C', cwd, '-c', 'user.name=Ops', '-c', 'user.email=ops@example.test', ...args],
    { encoding: 'utf8' },
  ).trim();
}

async function commitAndPush(message: string): Promise<string> {
  git(sot.dir, 'add', '-A');
  git(sot.dir, 'commit', '-q', '-m', message);
  git(sot.dir, 'push', '-q', 'origin', 'main');
  return git(sot.dir, 'rev-parse', 'HEAD');
}

async function runsOf(sotName: string): Promise<string[]> {
  const out: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` })) {
    if (wf.workflowId.startsWith(`rollout/${sotName}/`)) out.push(wf.workflowId);
  }
  return out.sort();
}

before(async () => {
  stack = await startTestStack({ name: 'gitremote' });
  const root = await mkdtemp(path.join(tmpdir(), 'vaq-remote-'));
  bare = path.join(root, 'sot.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  sot = await writeSot(
    {
      sot: 'gitsot',
      site: 'gitsite',
      workflows: { quick: { boots: ['quick'], policy: { max_concurrent: 4 } } },
      hosts: [
        { name: 'r1', workflow: 'quick' },
        { name: 'r2', workflow: 'quick' },
      ],
    },
    path.join(root, 'work'),
  );
  git(sot.dir, 'init', '-q', '-b', 'main');
  git(sot.dir, 'remote', 'add', 'origin', `file://${bare}`);
  await stack.startSimSite(sot.site);
  sotConfig = {
    name: 'gitsot',
    kind: 'git',
    url: `file://${bare}`,
    branch: 'main',
    pollSeconds: 0,
    autoRollout: true,
  };
  api = await stackApp(stack, await testConfig({ dataDir: stack.dataDir, sots: [sotConfig] }));
});
after(async () => {
  await api?.close();
  await stack?.close();
});

test('a commit pushed to a bare repository is rolled out at exactly that commit', async () => {
  const commit = await commitAndPush('first SoT');
  const r = await call(api.app, 'POST', '/rollouts', { body: { sot: 'gitsot' } });
  assert.equal(r.status, 201, r.res.body);
  assert.equal(r.json.revision, commit);
  assert.equal(r.json.workflowId, `rollout/gitsot/${commit}`);
  const result = await rolloutResult(stack.client, `rollout/gitsot/${commit}`, 90_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 2);

  // The control worker's snapshot is that commit's tree, taken from its mirror of the remote.
  const snap = path.join(stack.dataDir, 'revisions', 'gitsot', commit);
  const marker = JSON.parse(await readFile(path.join(snap, '.complete'), 'utf8')) as {
    source: { kind: string; location: string; ref: string };
  };
  assert.deepEqual(marker.source, { kind: 'git', location: `file://${bare}`, ref: commit, branch: 'main' });
  assert.equal(
    await readFile(path.join(snap, 'os', 'tiny.yml'), 'utf8'),
    await readFile(path.join(sot.dir, 'os', 'tiny.yml'), 'utf8'),
  );
  const mirrors = await readdir(path.join(stack.dataDir, 'git'));
  assert.equal(mirrors.length, 1);
  assert.equal(git(path.join(stack.dataDir, 'git', mirrors[0]!), 'cat-file', '-t', commit), 'commit');

  // A revision that is not a full commit id is refused before anything starts.
  const bad = await call(api.app, 'POST', '/rollouts', { body: { sot: 'gitsot', revision: 'main' } });
  assert.equal(bad.status, 400);
});

test('the plan between two pushed commits, fetched from the remote', async () => {
  const from = git(sot.dir, 'rev-parse', 'HEAD');
  await changeKernel(sot.dir, 'tiny', 'v2');
  const to = await commitAndPush('new kernel');
  const plan = await call(api.app, 'GET', `/plan?sot=gitsot&from=${from}&to=${to}`);
  assert.equal(plan.status, 200, plan.res.body);
  assert.deepEqual(
    (plan.json.hosts as { host: string; action: string }[]).map((h) => `${h.host}:${h.action}`),
    ['r1:reprovision', 'r2:reprovision'],
  );
  // The head is the default `to`.
  const head = await call(api.app, 'GET', `/plan?sot=gitsot&from=${from}`);
  assert.equal(head.json.to, to);
  // A commit the repository does not have is the client's mistake: a 404 naming it, not a 502 with the server's
  // paths in it (hardening finding 5).
  const nowhere = 'e'.repeat(40);
  const missing = await call(api.app, 'GET', `/plan?sot=gitsot&from=${nowhere}`);
  assert.equal(missing.status, 404, missing.res.body);
  assert.equal(errorCode(missing), 'revision_unknown');
  assert.match(missing.res.body, new RegExp(nowhere));
  assert.doesNotMatch(missing.res.body, /\/(tmp|root|home|var)\//, 'no server path in the answer');
});

test('a branch poll rolls out a newly pushed commit once, however often it polls', async () => {
  const head = git(sot.dir, 'rev-parse', 'HEAD');
  const triggers = startTriggers({
    sots: [{ ...sotConfig, pollSeconds: 1 }],
    ops: api.app.vaquero.ops,
    debounceMs: 0,
    log: () => undefined,
  });
  try {
    await waitFor(
      'the poll to start the head',
      async () => (await runsOf('gitsot')).includes(`rollout/gitsot/${head}`),
      { timeoutMs: 30_000 },
    );
    const result = await rolloutResult(stack.client, `rollout/gitsot/${head}`, 90_000);
    assert.equal(result.state, 'completed');
    // Several more polls happen while the head stays put.
    await delay(3000);
    await triggers.idle();
  } finally {
    triggers.stop();
  }
  const runs = await runsOf('gitsot');
  assert.equal(runs.filter((r) => r === `rollout/gitsot/${head}`).length, 1, JSON.stringify(runs));
  assert.equal(runs.length, 2);
});
