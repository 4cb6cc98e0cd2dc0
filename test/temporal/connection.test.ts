// connectTemporal with TEMPORAL_ADDRESS uses that server and starts nothing; TLS settings from
// the environment are read the way the `temporal` CLI names them.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTemporalCli } from '../../temporal/cli-binary.ts';
import { connectTemporal, tlsFromEnv } from '../../temporal/connection.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import { isAlive } from '../../temporal/supervisor.ts';
import { freeDevServerPorts } from './fixtures/free-ports.ts';
import { descendantsOf, killAll, processesMentioning } from './fixtures/procs.ts';

test('TEMPORAL_ADDRESS: connects to that server and starts no process', async (t) => {
  const serverDir = await mkdtemp(join(tmpdir(), 'vaq-ext-server-'));
  const unusedDir = await mkdtemp(join(tmpdir(), 'vaq-ext-unused-'));
  t.after(async () => {
    killAll(processesMentioning(serverDir));
    await rm(serverDir, { recursive: true, force: true });
    await rm(unusedDir, { recursive: true, force: true });
  });
  const server = await startDevServer({ dataDir: serverDir, ui: false, ports: await freeDevServerPorts() });
  t.after(() => server.stop());

  const cli = await ensureTemporalCli();
  // Only our own descendants count: other sessions may run dev servers on this machine.
  const ourTemporalProcesses = () => {
    const mentioning = new Set(processesMentioning(cli));
    return descendantsOf()
      .filter((pid) => mentioning.has(pid))
      .sort();
  };
  const before = ourTemporalProcesses();
  assert.deepEqual(before, [server.supervisorPid, server.pid].sort());
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'vaquero' };
  // A server we did not start needs the codec said: keys, or off.
  await assert.rejects(
    connectTemporal({ dataDir: unusedDir, env: { ...env, VAQUERO_CODEC_KEYS: '', VAQUERO_CODEC: '' } }),
    /Temporal at .* but no payload codec configured: set VAQUERO_CODEC_KEYS/,
  );
  const keyFile = join(serverDir, 'codec-k1');
  await writeFile(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const temporal = await connectTemporal({
    dataDir: unusedDir,
    env: { ...env, VAQUERO_CODEC_KEYS: `k1=file:${keyFile}` },
  });
  assert.deepEqual(temporal.codec.keyIds, ['k1']);
  t.after(() => temporal.close());

  assert.equal(temporal.embedded, false);
  assert.equal(temporal.server, undefined);
  assert.equal(temporal.uiUrl, undefined);
  assert.equal(temporal.address, server.address);
  assert.equal(temporal.namespace, 'vaquero');
  assert.deepEqual(ourTemporalProcesses(), before, 'no temporal process started');
  assert.deepEqual(await readdir(unusedDir), [], 'nothing written to the data dir');

  const ns = await temporal.client.workflowService.describeNamespace({ namespace: temporal.namespace });
  assert.equal(ns.namespaceInfo?.name, 'vaquero');

  await temporal.close();
  assert.equal(isAlive(server.pid), true, 'close() leaves a server it did not start alone');
});

test('TLS from the environment', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vaq-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files = { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem'), ca: join(dir, 'ca.pem') };
  await writeFile(files.cert, 'CERT');
  await writeFile(files.key, 'KEY');
  await writeFile(files.ca, 'CA');

  assert.deepEqual(await tlsFromEnv({}), {});
  assert.deepEqual(await tlsFromEnv({ TEMPORAL_TLS: 'true' }), { tls: true });
  assert.deepEqual(await tlsFromEnv({ TEMPORAL_API_KEY: 'k1' }), { tls: true, apiKey: 'k1' });
  assert.deepEqual(
    await tlsFromEnv({
      TEMPORAL_TLS_CERT: files.cert,
      TEMPORAL_TLS_KEY: files.key,
      TEMPORAL_TLS_CA: files.ca,
    }),
    {
      tls: {
        clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
        serverRootCACertificate: Buffer.from('CA'),
      },
    },
  );
  await assert.rejects(
    tlsFromEnv({ TEMPORAL_TLS_CERT: files.cert }),
    /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/,
  );
  await assert.rejects(
    tlsFromEnv({ TEMPORAL_TLS_CA: join(dir, 'missing.pem') }),
    /cannot read TEMPORAL_TLS_CA=/,
  );
});
