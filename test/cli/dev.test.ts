// `vaquero dev` as a newcomer runs it: the embedded stack rolls out the example SoT and the REST API is there too,
// on loopback, with an operate token kept in the data directory: reads and a mutating call work with it, and
// nothing works without it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../temporal/ports.ts';
import { withTimeout } from '../../testkit/workflows.ts';

const VAQUERO = fileURLToPath(new URL('../../bin/vaquero.js', import.meta.url));

test('vaquero dev serves the REST API beside Temporal, with an operate token in its data directory', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vq-dev-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const apiPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      VAQUERO,
      'dev',
      '--data-dir',
      dataDir,
      '--port',
      String(await freePort()),
      '--api-port',
      String(apiPort),
      '--sim-delays',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TEMPORAL_ADDRESS: '' } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const line = (re: RegExp) =>
    withTimeout(
      `vaquero dev to print ${re}`,
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) resolve(m);
          else if (child.exitCode !== null) reject(new Error(`vaquero dev exited: ${out}`));
          else setTimeout(check, 100);
        };
        check();
      }),
      240_000,
    );
  const api = await line(/^API (http:\/\/127\.0\.0\.1:\d+) \(OpenAPI UI \S+; operate token in (\S+)\)$/m);
  assert.equal(api[1], `http://127.0.0.1:${apiPort}`);
  const tokenFile = api[2]!;
  assert.equal(tokenFile, path.join(dataDir, 'api-token'));
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
  const token = (await readFile(tokenFile, 'utf8')).trim();
  await line(/stack running/);
  assert.match(out, /completed/);

  const auth = { authorization: `Bearer ${token}` };
  const hosts = (await (await fetch(`${api[1]}/hosts`, { headers: auth })).json()) as {
    hosts: { state: string }[];
    total: number;
  };
  assert.ok(hosts.total > 0, JSON.stringify(hosts));
  assert.equal((await fetch(`${api[1]}/hosts`)).status, 401);
  // A mutating call with the token: the example SoT's rollout has completed, so this starts its next run (201), or
  // finds one running (200); either way, not refused. The stop below then meets a rollout in flight.
  const r = await fetch(`${api[1]}/rollouts`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ sot: 'lab' }),
  });
  assert.ok(r.status === 200 || r.status === 201, `${r.status} ${await r.text()}`);
  assert.equal((await fetch(`${api[1]}/docs/json`)).status, 200);

  child.kill('SIGINT');
  await withTimeout('vaquero dev to stop', exited, 60_000).catch((err: unknown) => {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}; its output ends:\n${out.slice(-4000)}`,
    );
  });
  assert.match(out, /vaquero dev: stopping/);
});
