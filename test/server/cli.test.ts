// The CLI through a server: `vaquero apply/status/plan/rollout/reprovision` with VAQUERO_SERVER and a token talk
// to the REST API (run as real processes against a listening app), follow rollouts with a progress bar, and
// report the API's errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { renderBar, followWithBar } from '../../cli/progress-bar.ts';
import { ApiClient } from '../../cli/server-client.ts';
import { writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { waitFor } from '../../testkit/workflows.ts';
import { OPERATE_TOKEN, READ_TOKEN, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

const execFileP = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/vaquero.js', import.meta.url));

let stack: TestStack;
let sot: WrittenSot;
let api: StackApp;
let url: string;

before(async () => {
  stack = await startTestStack({ name: 'cli' });
  sot = await writeSot({
    sot: 'clisot',
    site: 'clisite',
    workflows: { quick: { boots: ['quick'], policy: { max_concurrent: 2 } } },
    hosts: [
      { name: 'c1', workflow: 'quick' },
      { name: 'c2', workflow: 'quick' },
    ],
  });
  await stack.startSimSite(sot.site);
  api = await stackApp(
    stack,
    await testConfig({
      dataDir: stack.dataDir,
      sots: [{ name: 'clisot', kind: 'dir', path: sot.dir, watch: false, autoRollout: false }],
    }),
  );
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await api?.close();
  await stack?.close();
});

/** Runs the CLI against the server; `token` null: no token at all. */
async function vaquero(
  args: string[],
  token: string | null = OPERATE_TOKEN,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, VAQUERO_SERVER: url, TEMPORAL_ADDRESS: '' };
  delete env.VAQUERO_TOKEN_FILE;
  if (token === null) delete env.VAQUERO_TOKEN;
  else env.VAQUERO_TOKEN = token;
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], { env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('the progress bar shows provisioned, failed and running hosts in proportion', () => {
  assert.equal(
    renderBar(
      {
        state: 'running',
        counts: {
          pending: 4,
          blocked: 0,
          running: 2,
          provisioned: 3,
          failed: 1,
          cancelled: 0,
          released: 0,
          skipped: 0,
        },
      },
      10,
    ),
    '[###x>>....] 3/10 provisioned, 1 failed, 2 running, 4 pending  running',
  );
  assert.equal(
    renderBar({ state: 'completed', counts: { provisioned: 2 } }, 4),
    '[####] 2/2 provisioned  completed',
  );
  assert.equal(renderBar({ state: 'preparing', counts: {} }, 4), '[....] 0/0 provisioned  preparing');
});

test('apply --wait through the server: started, followed with a bar, exit 0 on completion', async () => {
  const r = await vaquero(['apply', '--sot', 'clisot', '--wait']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^rollout rollout\/clisot\/dir-[0-9a-f]{12} started$/);
  assert.match(lines.at(-1)!, /^\[#{30}\] 2\/2 provisioned {2}completed$/);
  // Not a TTY: one line per change, no carriage returns.
  assert.ok(!r.stdout.includes('\r'));
});

test('status, rollout list/status and plan through the server', async () => {
  const client = new ApiClient({ url, token: READ_TOKEN });
  await waitFor(
    'hosts indexed',
    async () =>
      (await client.get<{ total: number }>('/hosts', { site: 'clisite', state: 'provisioned' })).total === 2,
  );
  const status = JSON.parse(
    (await vaquero(['status', '--json', '--site', 'clisite'], READ_TOKEN)).stdout,
  ) as { hosts: { host: string; state: string }[] };
  assert.deepEqual(
    status.hosts.map((h) => `${h.host}:${h.state}`),
    ['c1:provisioned', 'c2:provisioned'],
  );
  const table = await vaquero(['status'], READ_TOKEN);
  assert.match(table.stdout, /^SITE\s+HOST\s+STAGE\s+STATE\s+REVISION/);
  assert.match(table.stdout, /clisite\s+c1\s+provisioned\s+provisioned\s+dir-/);

  const list = JSON.parse((await vaquero(['rollout', 'list', '--json'], READ_TOKEN)).stdout) as {
    rollouts: { workflowId: string; status: string }[];
  };
  assert.equal(list.rollouts.length, 1);
  assert.equal(list.rollouts[0]!.status, 'completed');
  const one = await vaquero(['rollout', 'status'], READ_TOKEN);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /completed: 2 provisioned, 0 failed/);

  const plan = await vaquero(['plan', '--sot', 'clisot', '-', '-'], READ_TOKEN);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /^plan what the hosts reached -> dir-[0-9a-f]{12}: 2 unchanged/);
  const json = JSON.parse(
    (await vaquero(['plan', '--sot', 'clisot', '--json', '-', '-'], READ_TOKEN)).stdout,
  ) as { hosts: { action: string }[] };
  assert.deepEqual(
    json.hosts.map((h) => h.action),
    ['unchanged', 'unchanged'],
  );
});

test('actions and their refusals: reprovision, nothing to pause, a read-only token, no token', async () => {
  const repro = await vaquero(['reprovision', 'clisite/c1']);
  assert.equal(repro.code, 0, repro.stderr);
  assert.match(repro.stdout, /^host\/clisite\/c1 started at revision dir-/);
  const pause = await vaquero(['rollout', 'pause']);
  assert.equal(pause.code, 1, `pause: ${JSON.stringify(pause)}`);
  assert.match(pause.stderr, /no running rollout/);
  const readOnly = await vaquero(['apply', '--sot', 'clisot'], READ_TOKEN);
  assert.equal(readOnly.code, 1, `readOnly: ${JSON.stringify(readOnly)}`);
  assert.match(readOnly.stderr, /403 token viewer has role read; this needs operate/);
  const none = await vaquero(['status'], null);
  assert.equal(none.code, 1, `none: ${JSON.stringify(none)}`);
  assert.match(none.stderr, /needs a token: set VAQUERO_TOKEN or VAQUERO_TOKEN_FILE/);
  const wrong = await vaquero(['status'], 'not-a-token-at-all');
  assert.equal(wrong.code, 1, `wrong: ${JSON.stringify(wrong)}`);
  assert.match(wrong.stderr, /401 the bearer token is not valid/);
});

test('a terminal gets the bar redrawn in place', async () => {
  const out: string[] = [];
  const { rollouts } = await new ApiClient({ url, token: READ_TOKEN }).get<{ rollouts: { id: string }[] }>(
    '/rollouts',
  );
  const v = await followWithBar(new ApiClient({ url, token: READ_TOKEN }), rollouts[0]!.id, {
    write: (s) => out.push(s),
    tty: true,
  });
  assert.equal(v.state, 'completed');
  assert.deepEqual(out, [`\r\x1b[2K[${'#'.repeat(30)}] 2/2 provisioned  completed`, '\n']);
});
