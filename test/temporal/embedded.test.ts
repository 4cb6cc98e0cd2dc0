// The embedded server end to end: start on free ports, run a real workflow on a real worker,
// check our search attributes, stop, and prove no process was left behind.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { ensureTemporalCli } from '../../temporal/cli-binary.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import { SA_SITE, SEARCH_ATTRIBUTES } from '../../domain/temporal-names.ts';
import { isAlive } from '../../temporal/supervisor.ts';
import { freeDevServerPorts } from './fixtures/free-ports.ts';
import { killAll, processesMentioning } from './fixtures/procs.ts';
import { greet } from './fixtures/greet-workflow.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });
const execFileP = promisify(execFile);
const workflowsPath = fileURLToPath(new URL('./fixtures/greet-workflow.ts', import.meta.url));

test('embedded server runs a workflow, carries our search attributes, and leaves no process', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'vaq-embedded-'));
  const dbPath = join(dataDir, 'temporal.sqlite');
  t.after(async () => {
    killAll(processesMentioning(dbPath));
    await rm(dataDir, { recursive: true, force: true });
  });
  const ports = await freeDevServerPorts();

  const temporal = await connectTemporal({ dataDir, ports, env: { ...process.env, TEMPORAL_ADDRESS: '' } });
  t.after(() => temporal.close());
  assert.equal(temporal.embedded, true);
  assert.equal(temporal.address, `127.0.0.1:${ports.grpc}`);
  assert.equal(temporal.uiUrl, `http://127.0.0.1:${ports.ui}`);
  assert.equal(temporal.namespace, 'vaquero');
  const server = temporal.server;
  assert.ok(server);
  assert.deepEqual(processesMentioning(dbPath).sort(), [server.supervisorPid, server.pid].sort());

  // The search attributes, as the CLI sees them in our namespace (not only in "default").
  const cli = await ensureTemporalCli();
  const { stdout } = await execFileP(cli, [
    'operator',
    'search-attribute',
    'list',
    '--namespace',
    temporal.namespace,
    '--address',
    temporal.address,
    '-o',
    'json',
  ]);
  const custom = (JSON.parse(stdout) as { customAttributes: Record<string, string> }).customAttributes;
  for (const name of Object.keys(SEARCH_ATTRIBUTES)) {
    assert.equal(custom[name], 'INDEXED_VALUE_TYPE_KEYWORD', `search attribute ${name}`);
  }

  const taskQueue = 'test-greet';
  const workflowId = `greet-${process.pid}`;
  const worker = await Worker.create({
    connection: await temporal.nativeConnection(),
    namespace: temporal.namespace,
    taskQueue,
    workflowsPath,
    dataConverter: temporal.dataConverter,
  });
  const result = await worker.runUntil(
    temporal.client.workflow.execute(greet, {
      taskQueue,
      workflowId,
      args: ['vaquero'],
      typedSearchAttributes: [{ key: SA_SITE, value: 'lab-1' }],
    }),
  );
  assert.equal(result, 'hello, vaquero');

  // Visibility is eventually consistent: poll, bounded.
  let found: string[] = [];
  for (let i = 0; i < 100 && found.length === 0; i++) {
    found = [];
    for await (const wf of temporal.client.workflow.list({ query: `${SA_SITE.name} = "lab-1"` }))
      found.push(wf.workflowId);
    if (found.length === 0) await delay(100);
  }
  assert.deepEqual(found, [workflowId]);

  await temporal.close();
  assert.equal(isAlive(server.pid), false, 'server process is gone');
  assert.equal(isAlive(server.supervisorPid), false, 'supervisor process is gone');
  assert.deepEqual(processesMentioning(dbPath), []);
  await temporal.close(); // idempotent
});
