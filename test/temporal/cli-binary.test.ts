// How the Temporal CLI is found: an explicit TEMPORAL_CLI_PATH wins or fails loudly, the cache
// is used when PATH has none, and with nothing at all the error says what to do.
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vaqueroCacheDir } from '../../temporal/cache-dir.ts';
import { cachedCliPath, ensureTemporalCli, TEMPORAL_SERVER_VERSION } from '../../temporal/cli-binary.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

test('TEMPORAL_CLI_PATH is honoured, and a bad one is an error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vaq-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const real = await ensureTemporalCli();

  const link = join(dir, 'my-temporal');
  await symlink(real, link);
  assert.equal(await ensureTemporalCli({ env: { ...process.env, TEMPORAL_CLI_PATH: link } }), link);

  const missing = join(dir, 'nope');
  await assert.rejects(
    ensureTemporalCli({ env: { ...process.env, TEMPORAL_CLI_PATH: missing } }),
    new RegExp(`TEMPORAL_CLI_PATH=${missing} is not an executable file`),
  );

  const notExecutable = join(dir, 'plain-file');
  await writeFile(notExecutable, 'not a program');
  await chmod(notExecutable, 0o644);
  await assert.rejects(
    ensureTemporalCli({ env: { ...process.env, TEMPORAL_CLI_PATH: notExecutable } }),
    /is not an executable file/,
  );

  const impostor = join(dir, 'impostor');
  await writeFile(impostor, '#!/bin/sh\necho "something else 1.0"\n');
  await chmod(impostor, 0o755);
  await assert.rejects(
    ensureTemporalCli({ env: { ...process.env, TEMPORAL_CLI_PATH: impostor } }),
    /TEMPORAL_CLI_PATH=.*impostor is not a working Temporal CLI: unexpected `--version` output/,
  );
});

test('the cache is used when PATH has no temporal; with nothing available the error explains', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vaq-cli-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const emptyBin = join(dir, 'bin');
  const cacheDir = join(dir, 'cache');
  await mkdir(emptyBin);
  await mkdir(cacheDir);
  const env = { HOME: homedir(), PATH: emptyBin, VAQUERO_CACHE_DIR: cacheDir };

  const err = await ensureTemporalCli({ env }).then(
    () => assert.fail('expected an error'),
    (e: Error) => e,
  );
  assert.match(err.message, /No Temporal CLI found/);
  assert.match(err.message, /TEMPORAL_CLI_PATH \(unset\)/);
  assert.match(err.message, /`go` on PATH \(not found/);
  assert.match(err.message, /install Go/);
  assert.match(err.message, /only with internet access/);

  // A binary of the pinned server version in the cache is found without PATH.
  await symlink(await ensureTemporalCli(), cachedCliPath(cacheDir));
  const logs: string[] = [];
  assert.equal(await ensureTemporalCli({ env, log: (m) => logs.push(m) }), cachedCliPath(cacheDir));
  assert.ok(logs.some((m) => m.includes('from cache')));
  assert.match(cachedCliPath(cacheDir), /temporal-v\d+\.\d+\.\d+$/);
  assert.match(TEMPORAL_SERVER_VERSION, /^\d+\.\d+\.\d+$/);
});

test('cache dir: VAQUERO_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache; never inside the repo', () => {
  assert.equal(vaqueroCacheDir({ VAQUERO_CACHE_DIR: '/var/tmp/vq', XDG_CACHE_HOME: '/x' }), '/var/tmp/vq');
  assert.equal(vaqueroCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/vaquero');
  assert.equal(vaqueroCacheDir({}), join(homedir(), '.cache', 'vaquero'));
  assert.throws(() => vaqueroCacheDir({ VAQUERO_CACHE_DIR: join(repoRoot, '.cache') }), /inside the project/);
  assert.throws(() => vaqueroCacheDir({ XDG_CACHE_HOME: repoRoot }), /inside the project/);
});
