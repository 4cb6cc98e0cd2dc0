// GitOps end to end: a real server process part (startServer: API, control worker in process, index) on a real
// Temporal, GitHub's REST API stood in for by a local server, and real webhook payloads from
// @octokit/webhooks-examples signed with real HMACs. A push starts exactly one rollout of exactly its commit,
// fetched as GitHub's archive; the commit's check run follows it to its end. Redeliveries, forgeries, stale
// and replayed deliveries start nothing. A pull request gets its plan as a check run and a comment.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { createGithubAccess } from '../../activities/control/github-access.ts';
import { reportRollout } from '../../activities/control/rollout-report.ts';
import { startServer } from '../../server/main.ts';
import type { RunningServer } from '../../server/main.ts';
import { ROLLOUT_WORKFLOW_TYPE } from '../../domain/workflow-api.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import type { HostFixture } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult } from '../../testkit/workflows.ts';
import { FakeGithub } from './support/fake-github.ts';
import { OPERATE_TOKEN, testConfig } from './support/harness.ts';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];
const example = (name: string, pick: (p: Record<string, unknown>) => boolean) => {
  const found = examples
    .find((d) => d.name === name)!
    .examples.find((p) => pick(p as unknown as Record<string, unknown>));
  assert.ok(found, `no ${name} example`);
  return structuredClone(found) as unknown as Record<string, unknown>;
};

const SECRET = 'webhook-secret-for-tests-0123456789';
const REPO = 'Codertocat/Hello-World';
const PUSH = example('push', (p) => p.ref === 'refs/heads/master' && p.deleted === false);
const PUSH_SHA = PUSH.after as string;
const PR = example(
  'pull_request',
  (p) => p.action === 'opened' && (p.pull_request as { base: { ref: string } }).base.ref === 'master',
);
const PR_BASE = (PR.pull_request as { base: { sha: string } }).base.sha;
const PR_HEAD = (PR.pull_request as { head: { sha: string } }).head.sha;
const SHA2 = '2222222222222222222222222222222222222222';

let stack: TestStack;
let gh: FakeGithub;
let server: RunningServer;

const HOSTS: HostFixture[] = [
  { name: 'g1', workflow: 'quick' },
  { name: 'g2', workflow: 'quick' },
];

before(async () => {
  stack = await startTestStack({ name: 'hooks', control: false });
  gh = new FakeGithub();
  await gh.start();
  const parent = await mkdtemp(path.join(tmpdir(), 'vaq-hooks-'));
  const fixture = {
    sot: 'hello',
    site: 'ghsite',
    workflows: { quick: { boots: ['quick'], policy: { max_concurrent: 4, max_fail: 4 } } },
  };
  const a = await writeSot({ ...fixture, hosts: HOSTS }, path.join(parent, 'a'));
  await gh.setArchiveFromDir(REPO, PUSH_SHA, a.dir);
  await gh.setArchiveFromDir(REPO, PR_BASE, a.dir);
  const c = await writeSot({ ...fixture, hosts: HOSTS }, path.join(parent, 'c'));
  await changeKernel(c.dir, 'tiny', 'pr');
  await gh.setArchiveFromDir(REPO, PR_HEAD, c.dir);
  // The second commit breaks validation on g2.
  const b = await writeSot(
    { ...fixture, hosts: [HOSTS[0]!, { name: 'g2', workflow: 'quick', options: { fail_validation: true } }] },
    path.join(parent, 'b'),
  );
  await changeKernel(b.dir, 'tiny', 'b');
  await gh.setArchiveFromDir(REPO, SHA2, b.dir);
  gh.setBranch(REPO, 'master', PUSH_SHA);
  await stack.startSimSite('ghsite');
  const config = await testConfig({
    temporal: { address: stack.address, namespace: stack.namespace, codec: stack.temporal.codec.settings },
    controlWorker: true,
    publicUrl: 'https://vaquero.test',
    sots: [{ name: 'hello', kind: 'github', repo: REPO, branch: 'master', autoRollout: true }],
    github: {
      apiUrl: gh.url,
      webhookSecrets: [SECRET],
      auth: { token: 'ghs_servertoken0123456789' },
      report: 'check-run',
      checkName: 'vaquero',
      prCheckRun: true,
      prComment: true,
      requireHead: true,
    },
  });
  server = await startServer(config, { log: () => undefined });
});
after(async () => {
  await server?.close();
  await gh?.close();
  await stack?.close();
});

const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

async function deliver(event: string, body: string, headers: Record<string, string | undefined> = {}) {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': headers.delivery ?? crypto.randomUUID(),
  };
  const sig = 'signature' in headers ? headers.signature : sign(body);
  if (sig !== undefined) h['x-hub-signature-256'] = sig;
  if (headers.sha1) h['x-hub-signature'] = headers.sha1;
  const res = await server.app.inject({ method: 'POST', url: '/webhooks/github', headers: h, payload: body });
  return { status: res.statusCode, json: JSON.parse(res.body) as Record<string, unknown> };
}

/** Every run of every rollout of SoT `hello`, from visibility. */
async function rolloutRuns(): Promise<string[]> {
  const out: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` })) {
    if (wf.workflowId.startsWith('rollout/hello/')) out.push(wf.workflowId);
  }
  return out.sort();
}

test('ping is answered', async () => {
  const ping = example('ping', () => true);
  const r = await deliver('ping', JSON.stringify(ping));
  assert.equal(r.status, 200);
  assert.equal(r.json.zen, ping.zen);
});

test('a push to the branch starts one rollout of exactly its commit; the check run follows it to success', async () => {
  const body = JSON.stringify(PUSH);
  const delivery = crypto.randomUUID();
  const r = await deliver('push', body, { delivery });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const results = r.json.results as { sot: string; action: string; workflowId: string; revision: string }[];
  assert.deepEqual(results, [
    { sot: 'hello', action: 'started', workflowId: `rollout/hello/${PUSH_SHA}`, revision: PUSH_SHA },
  ]);

  // GitHub redelivers the same delivery (same id, body and signature) while the rollout runs: nothing new.
  const re1 = await deliver('push', body, { delivery });
  assert.equal(re1.status, 200);
  assert.equal((re1.json.results as { action: string }[])[0]!.action, 'ignored');

  const result = await rolloutResult(stack.client, `rollout/hello/${PUSH_SHA}`, 90_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 2);

  // ... and after it finished: still nothing new.
  const re2 = await deliver('push', body, { delivery });
  assert.equal(re2.status, 200);
  assert.match(
    String((re2.json.results as { reason: string }[])[0]!.reason),
    new RegExp(`delivery ${delivery} already started`),
  );
  assert.deepEqual(await rolloutRuns(), [`rollout/hello/${PUSH_SHA}`]);
  let runs = 0;
  for await (const wf of stack.client.workflow.list({ query: `WorkflowId = 'rollout/hello/${PUSH_SHA}'` }))
    if (wf.type === ROLLOUT_WORKFLOW_TYPE) runs++;
  assert.equal(runs, 1);

  // What vaquero asked GitHub: the branch head (the delivery is not stale), the archive at the commit.
  assert.ok(gh.requestsTo('GET', /^\/repos\/Codertocat\/Hello-World\/git\/ref\/heads\/master$/).length >= 1);
  const tarballs = gh.requestsTo('GET', /\/tarball\//);
  assert.deepEqual([...new Set(tarballs.map((t) => t.path))], [`/repos/${REPO}/tarball/${PUSH_SHA}`]);
  for (const t of tarballs) assert.match(t.authorization ?? '', /ghs_servertoken0123456789/);

  // The check run: created in progress, updated, completed with success; one run only.
  const checks = [...gh.checkRuns.values()].filter((c) => c.head_sha === PUSH_SHA);
  assert.equal(checks.length, 1, JSON.stringify(checks));
  const check = checks[0]!;
  assert.equal(check.name, 'vaquero rollout (hello)');
  assert.equal(check.external_id, `rollout/hello/${PUSH_SHA}`);
  assert.equal(check.details_url, `https://vaquero.test/rollouts/hello/${PUSH_SHA}`);
  assert.equal(check.history[0]!.status, 'in_progress');
  assert.equal(check.status, 'completed');
  assert.equal(check.conclusion, 'success');
  assert.match(check.output.title ?? '', /^completed: 2\/2 provisioned/);
  assert.equal(gh.requestsTo('POST', /\/check-runs$/).filter((q) => q.body?.head_sha === PUSH_SHA).length, 1);
  assert.ok(gh.requestsTo('PATCH', /\/check-runs\/\d+$/).length >= 1);
});

test('forged, missing, stale and legacy signatures are rejected and start nothing', async () => {
  const before = await rolloutRuns();
  const fetchesBefore = gh.requestsTo('GET', /\/tarball\//).length;
  const moved = { ...PUSH, before: PUSH_SHA, after: SHA2 };
  const body = JSON.stringify(moved);
  gh.setBranch(REPO, 'master', SHA2);
  try {
    const forged = await deliver('push', body, { signature: sign(body, 'not-the-secret') });
    assert.equal(forged.status, 401);
    assert.equal((forged.json.error as { code: string }).code, 'signature_invalid');
    const missing = await deliver('push', body, { signature: undefined });
    assert.equal(missing.status, 401);
    assert.equal((missing.json.error as { code: string }).code, 'signature_missing');
    // A real signature, but of another body (the first push's): a captured signature replayed on new content.
    const stale = await deliver('push', body, { signature: sign(JSON.stringify(PUSH)) });
    assert.equal(stale.status, 401);
    assert.equal((stale.json.error as { code: string }).code, 'signature_invalid');
    // GitHub's legacy SHA-1 header alone is not enough.
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
    const legacy = await deliver('push', body, { signature: undefined, sha1 });
    assert.equal(legacy.status, 401);
    // A signature over the body re-serialised (whitespace) is not the body's signature either.
    const spaced = await deliver('push', JSON.stringify(moved, null, 2), { signature: sign(body) });
    assert.equal(spaced.status, 401);
  } finally {
    gh.setBranch(REPO, 'master', PUSH_SHA);
  }
  assert.deepEqual(await rolloutRuns(), before);
  assert.equal(gh.requestsTo('GET', /\/tarball\//).length, fetchesBefore);
});

test('a validly signed but stale push (its commit is no longer the branch head), tags and deletions start nothing', async () => {
  const before = await rolloutRuns();
  const old = { ...PUSH, after: SHA2 };
  const stale = await deliver('push', JSON.stringify(old));
  assert.equal(stale.status, 200);
  assert.match(
    String((stale.json.results as { reason: string }[])[0]!.reason),
    /stale push: master is now at 6113728f/,
  );
  const tag = await deliver(
    'push',
    JSON.stringify(example('push', (p) => p.ref === 'refs/tags/simple-tag' && p.deleted === false)),
  );
  assert.equal(tag.status, 200);
  assert.match(String((tag.json.results as { reason: string }[])[0]!.reason), /is not branch master/);
  const deleted = await deliver('push', JSON.stringify({ ...PUSH, deleted: true, after: '0'.repeat(40) }));
  assert.equal(deleted.status, 200);
  assert.match(String((deleted.json.results as { reason: string }[])[0]!.reason), /deleted/);
  const elsewhere = await deliver(
    'push',
    JSON.stringify({ ...PUSH, repository: { ...(PUSH.repository as object), full_name: 'someone/else' } }),
  );
  assert.equal(elsewhere.status, 200);
  const other = await deliver('issues', JSON.stringify(example('issues', () => true)));
  assert.equal(other.status, 200);
  assert.deepEqual(await rolloutRuns(), before);
});

test('a push whose rollout fails: the check run ends in failure and lists the failed host', async () => {
  gh.setBranch(REPO, 'master', SHA2);
  const r = await deliver('push', JSON.stringify({ ...PUSH, before: PUSH_SHA, after: SHA2 }));
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const result = await rolloutResult(stack.client, `rollout/hello/${SHA2}`, 90_000);
  assert.equal(result.state, 'failed');
  assert.deepEqual(result.failedHosts, ['ghsite/g2']);
  const check = [...gh.checkRuns.values()].find((c) => c.head_sha === SHA2)!;
  assert.equal(check.status, 'completed');
  assert.equal(check.conclusion, 'failure');
  assert.match(check.output.summary ?? '', /Failed hosts \(1\):/);
  assert.match(check.output.summary ?? '', /`ghsite\/g2`: .*validate/);
  // Exactly two rollouts exist, one per pushed commit.
  assert.deepEqual(await rolloutRuns(), [`rollout/hello/${PUSH_SHA}`, `rollout/hello/${SHA2}`].sort());
});

test('a pull request gets its plan as a check run and a comment, updated in place on redelivery', async () => {
  const body = JSON.stringify(PR);
  const r = await deliver('pull_request', body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  await server.app.vaquero.background.idle();
  const plans = () => [...gh.checkRuns.values()].filter((c) => c.head_sha === PR_HEAD);
  assert.equal(plans().length, 1);
  const plan = plans()[0]!;
  assert.equal(plan.name, 'vaquero plan (hello)');
  assert.equal(plan.conclusion, 'success');
  assert.match(plan.output.title ?? '', /hello: 2 to reprovision/);
  assert.match(
    plan.output.summary ?? '',
    /\| reprovision \| `ghsite\/g1` \| stage 1 \(quick\): kernel URL changed \|/,
  );
  const comments = [...gh.comments.values()];
  assert.equal(comments.length, 1);
  assert.equal(comments[0]!.issue, PR.number);
  assert.match(comments[0]!.body, /^<!-- vaquero-plan:hello -->/);
  for (const sha of [PR_BASE, PR_HEAD])
    assert.ok(gh.requestsTo('GET', new RegExp(`/tarball/${sha}$`)).length >= 1, sha);

  const again = await deliver('pull_request', body);
  assert.equal(again.status, 202);
  await server.app.vaquero.background.idle();
  assert.equal(plans().length, 1, 'redelivery updates the check run, it does not add one');
  assert.equal(plans()[0]!.history.length, 2);
  assert.equal(gh.comments.size, 1);
  // Actions that change no code need no plan.
  const labeled = await deliver(
    'pull_request',
    JSON.stringify(example('pull_request', (p) => p.action === 'labeled')),
  );
  assert.equal(labeled.status, 200);
});

test('commit statuses instead of check runs, and GitHub App authentication', async () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const access = createGithubAccess({ app: { appId: '12345', privateKey, installationId: 77 } });
  const summary = {
    state: 'running' as const,
    counts: {
      pending: 1,
      blocked: 0,
      running: 1,
      provisioned: 3,
      failed: 0,
      cancelled: 0,
      released: 0,
      skipped: 0,
    },
    unchanged: 0,
    skipped: 0,
    failed: [],
    failedTotal: 0,
  };
  const target = {
    github: { repo: REPO, sha: SHA2, apiUrl: gh.url, mode: 'status' as const, name: 'vaquero/rollout' },
  };
  await reportRollout(access, { rolloutId: 'rollout/hello/x', target, summary });
  await reportRollout(access, {
    rolloutId: 'rollout/hello/x',
    target,
    summary: { ...summary, state: 'completed' },
  });
  const statuses = gh.statuses.filter((s) => s.context === 'vaquero/rollout');
  assert.deepEqual(
    statuses.map((s) => s.state),
    ['pending', 'success'],
  );
  assert.match(statuses[0]!.description, /^running: 3\/5 provisioned, 1 running, 1 not started$/);
  const tokenRequests = gh.requestsTo('POST', /^\/app\/installations\/77\/access_tokens$/);
  assert.equal(tokenRequests.length, 1);
  assert.match(tokenRequests[0]!.authorization ?? '', /^bearer ey/i);
  const statusCalls = gh.requestsTo('POST', /\/statuses\//);
  assert.match(statusCalls.at(-1)!.authorization ?? '', /ghs_installation77/);
});

test("a re-sent push delivery after an operator's rollback starts nothing (finding 4)", async () => {
  const SHA3 = '3333333333333333333333333333333333333333';
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-hooks-rollback-'));
  const d = await writeSot(
    {
      sot: 'hello',
      site: 'ghsite',
      workflows: { quick: { boots: ['quick'], policy: { max_concurrent: 4, max_fail: 4 } } },
      hosts: HOSTS,
    },
    path.join(dir, 'd'),
  );
  await changeKernel(d.dir, 'tiny', 'd');
  await gh.setArchiveFromDir(REPO, SHA3, d.dir);
  gh.setBranch(REPO, 'master', SHA3);
  const body = JSON.stringify({ ...PUSH, before: PUSH_SHA, after: SHA3 });
  const delivery = crypto.randomUUID();
  const first = await deliver('push', body, { delivery });
  assert.equal(first.status, 202, JSON.stringify(first.json));
  assert.equal((await rolloutResult(stack.client, `rollout/hello/${SHA3}`, 90_000)).state, 'completed');

  // The operator rolls the fleet back to the older commit through the API.
  const back = await server.app.inject({
    method: 'POST',
    url: '/rollouts',
    headers: { authorization: `Bearer ${OPERATE_TOKEN}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ sot: 'hello', revision: PUSH_SHA }),
  });
  assert.ok(back.statusCode === 201 || back.statusCode === 200, back.body);
  const rollbackId = (JSON.parse(back.body) as { workflowId: string }).workflowId;
  assert.equal(rollbackId, `rollout/hello/${PUSH_SHA}`);
  await rolloutResult(stack.client, rollbackId, 90_000);
  const runsOf = async (id: string) => {
    let n = 0;
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${id}'` }))
      if (wf.workflowId === id) n++;
    return n;
  };
  const before = await runsOf(`rollout/hello/${SHA3}`);

  // GitHub re-sends the push (same delivery id, body and signature): the branch head is still SHA3, and the newest
  // rollout is the rollback, but this delivery already started its rollout once.
  const again = await deliver('push', body, { delivery });
  assert.equal(again.status, 200, JSON.stringify(again.json));
  const [r] = again.json.results as { action: string; reason?: string }[];
  assert.equal(r!.action, 'ignored');
  assert.match(r!.reason ?? '', new RegExp(`delivery ${delivery} already started`));
  assert.equal(await runsOf(`rollout/hello/${SHA3}`), before, 'no new run of the newer commit');
  // A new push of the same commit (a new delivery) is an operator's or a developer's new word: it does start.
  const fresh = await deliver('push', body);
  assert.equal(fresh.status, 202, JSON.stringify(fresh.json));
  await rolloutResult(stack.client, `rollout/hello/${SHA3}`, 90_000);
});
