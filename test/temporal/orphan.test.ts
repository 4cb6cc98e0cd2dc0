// The server must die with its parent even when the parent gets no chance to clean up.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freeDevServerPorts } from './fixtures/free-ports.ts';
import { killAll, processesMentioning, waitGone } from './fixtures/procs.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/hold-server.ts', import.meta.url));

test('SIGKILL of the parent takes the embedded server down', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'vaq-orphan-'));
  t.after(async () => {
    killAll(processesMentioning(dataDir));
    await rm(dataDir, { recursive: true, force: true });
  });

  const parent = spawn(
    process.execPath,
    ['--import', 'tsx', fixture, dataDir, JSON.stringify(await freeDevServerPorts())],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
  });
  let stderr = '';
  parent.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let stdout = '';
  parent.stdout.setEncoding('utf8');
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no pids from the fixture within 60 s; stderr:\n${stderr}`)),
      60_000,
    );
    parent.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve(stdout.slice(0, stdout.indexOf('\n')));
      }
    });
    parent.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture exited (${code}) before reporting; stderr:\n${stderr}`));
    });
  });
  const { pid, supervisorPid } = JSON.parse(line) as { pid: number; supervisorPid: number };
  assert.deepEqual(
    processesMentioning(dataDir)
      .filter((p) => p !== parent.pid)
      .sort(),
    [pid, supervisorPid].sort(),
  );

  const exited = once(parent, 'exit');
  parent.kill('SIGKILL');
  await exited;

  assert.deepEqual(
    await waitGone([pid, supervisorPid], 15_000),
    [],
    'server and supervisor gone after the parent died',
  );
  assert.deepEqual(processesMentioning(dataDir), []);
});
