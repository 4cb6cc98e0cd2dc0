// startDevServer's edges: a taken port, a program that dies or never answers, and a namespace
// kept in an old SQLite file that lacks a search attribute added since.
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../domain/temporal-names.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import { missingSearchAttributes } from '../../temporal/search-attributes.ts';
import { freeDevServerPorts } from './fixtures/free-ports.ts';
import { killAll, processesMentioning } from './fixtures/procs.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    killAll(processesMentioning(dir));
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

test('a taken gRPC port fails clearly and starts nothing', async (t) => {
  const dataDir = await tempDir(t, 'vaq-port-');
  const ports = await freeDevServerPorts();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(ports.grpc, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  await assert.rejects(
    startDevServer({ dataDir, ports }),
    new RegExp(`gRPC port 127.0.0.1:${ports.grpc} is already in use`),
  );
  assert.deepEqual(processesMentioning(dataDir), []);
});

test('a server that exits during start is reported with its log', async (t) => {
  const dataDir = await tempDir(t, 'vaq-exit-');
  const fake = join(dataDir, 'fake-temporal');
  await writeFile(fake, '#!/bin/sh\necho "fake server: cannot start" >&2\nexit 3\n');
  await chmod(fake, 0o755);

  await assert.rejects(
    startDevServer({ dataDir, ports: await freeDevServerPorts(), cliPath: fake }),
    (err: Error) =>
      /exited during start \(status 3\)/.test(err.message) && /fake server: cannot start/.test(err.message),
  );
  assert.deepEqual(processesMentioning(dataDir), []);
});

test('a server that never answers is stopped and reported after the timeout', async (t) => {
  const dataDir = await tempDir(t, 'vaq-hang-');
  const fake = join(dataDir, 'fake-temporal');
  // Ignores SIGTERM, so stop() has to escalate to SIGKILL.
  await writeFile(fake, "#!/bin/sh\ntrap '' TERM\necho 'fake server: hanging'\nwhile :; do sleep 1; done\n");
  await chmod(fake, 0o755);

  await assert.rejects(
    startDevServer({
      dataDir,
      ports: await freeDevServerPorts(),
      cliPath: fake,
      startTimeoutMs: 1500,
      stopGraceMs: 500,
    }),
    (err: Error) =>
      /did not answer within 1500 ms/.test(err.message) && /fake server: hanging/.test(err.message),
  );
  assert.deepEqual(processesMentioning(fake), []);
});

test('search attributes missing from an existing namespace are added; one SQLite file, one server', async (t) => {
  const dataDir = await tempDir(t, 'vaq-sa-');
  const ports = await freeDevServerPorts();
  const older = await startDevServer({ dataDir, ui: false, ports, searchAttributes: { VaqSite: 'KEYWORD' } });
  await older.stop();

  const messages: string[] = [];
  const server = await startDevServer({ dataDir, ui: false, ports, log: (m) => messages.push(m) });
  t.after(() => server.stop());
  // start-dev only registers --search-attribute when it creates the namespace, so we did it.
  assert.ok(
    messages.some((m) =>
      /added search attributes to namespace vaquero: VaqHost, VaqStage, VaqRevision, VaqState/.test(m),
    ),
    messages.join('\n'),
  );
  const connection = await Connection.connect({ address: server.address });
  try {
    assert.deepEqual(await missingSearchAttributes(connection, server.namespace, SEARCH_ATTRIBUTES), []);
  } finally {
    await connection.close();
  }

  // A second server on the same SQLite file is refused, even on other ports.
  await assert.rejects(
    startDevServer({ dataDir, ui: false, ports: await freeDevServerPorts() }),
    /another Temporal dev server \(pid .*\) is already using .*temporal\.sqlite/,
  );
});

test('the SQLite file runs in WAL mode by default, and pragmas can be overridden', async (t) => {
  const dataDir = await tempDir(t, 'vaq-wal-');
  const server = await startDevServer({ dataDir, ui: false, ports: await freeDevServerPorts() });
  t.after(() => server.stop());
  // WAL keeps its journal beside the database; the default rollback journal never leaves a -wal file.
  await access(join(dataDir, 'temporal.sqlite-wal'));
  await server.stop();

  const plainDir = await tempDir(t, 'vaq-nowal-');
  const plain = await startDevServer({
    dataDir: plainDir,
    ui: false,
    ports: await freeDevServerPorts(),
    sqlitePragmas: {},
  });
  t.after(() => plain.stop());
  await assert.rejects(access(join(plainDir, 'temporal.sqlite-wal')), /ENOENT/);
});
