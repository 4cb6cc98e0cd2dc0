// The agent's configuration: the shipped example loads, the environment overrides what differs per deployment,
// and a bad file names every problem.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { loadAgentConfig } from '../../agent/config.ts';
import { createSecretStore } from '../../agent/secrets/create-secret-store.ts';
import { agentTemporalEndpoint } from '../../agent/temporal-endpoint.ts';
import { freePort } from '../../temporal/ports.ts';
import { withTimeout } from '../../testkit/workflows.ts';
import { agentCheck } from './support/agent-check.ts';

const VAQUERO = fileURLToPath(new URL('../../bin/vaquero.js', import.meta.url));

const EXAMPLE = fileURLToPath(new URL('../../agent/agent.example.yml', import.meta.url));

test('the example configuration loads with its defaults', async () => {
  const c = await loadAgentConfig(EXAMPLE, {});
  assert.equal(c.agent_id, 'lab-agent-1');
  assert.equal(c.dhcp.proxy_port, 4011);
  assert.equal(c.dhcp.max_packets_per_second, 10_000);
  assert.equal(c.dhcp.max_packets_per_client_per_second, 20);
  assert.equal(c.tftp.root, '/usr/lib/ipxe');
  assert.equal(c.boot_files.efi64, 'ipxe.efi');
  assert.equal(c.interfaces[0]?.cidr, '10.77.1.0/24');
});

test('environment overrides win over the file', async () => {
  const c = await loadAgentConfig(EXAMPLE, {
    TEMPORAL_ADDRESS: '127.0.0.1:9999',
    TEMPORAL_NAMESPACE: 'other',
    VAQUERO_AGENT_ID: 'agent-b',
    VAQUERO_DATA_DIR: '/tmp/agent-b',
  });
  assert.equal(c.temporal?.address, '127.0.0.1:9999');
  assert.equal(c.temporal?.namespace, 'other');
  assert.equal(c.agent_id, 'agent-b');
  assert.equal(c.data_dir, '/tmp/agent-b');
});

test('a bad configuration lists every problem with its field', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentcfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    'agent_id: A!\nsite: lab\ndata_dir: d\nhttp: { port: 70000 }\ninterfaces: [{ address: nope, cidr: 10.0.0.0/8 }]\ncolour: blue\n',
  );
  await assert.rejects(loadAgentConfig(file, {}), (err: Error) => {
    for (const field of ['agent_id', 'http.port', 'interfaces.0.address', 'colour'])
      assert.match(err.message, new RegExp(field.replace('.', '\\.')));
    return true;
  });
});

test('every mistake is reported with file:line, files the config names included', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentcfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      'data_dir: d',
      'temporal:',
      '  address: 10.0.0.5:7233',
      '  tls:',
      '    cert: client.pem',
      'tasks:',
      '  engine: docker.sock',
      '  pull: sometimes',
      'dhcp: { port: 0 }',
    ].join('\n'),
  );
  await assert.rejects(loadAgentConfig(file, {}), (err: Error) => {
    assert.match(err.message, new RegExp(`${file}:7:5: temporal\\.tls: cert and key are given together`));
    assert.match(
      err.message,
      new RegExp(`${file}:9:11: tasks\\.engine: a unix:///path or tcp://host:port endpoint`),
    );
    assert.match(err.message, new RegExp(`${file}:10:9: tasks\\.pull:`));
    assert.match(err.message, new RegExp(`${file}:11:15: dhcp\\.port:`));
    return true;
  });
  // A well-formed file naming a certificate that is not there: the line of that setting.
  await writeFile(
    file,
    ['agent_id: a1', 'site: lab', 'data_dir: d', 'temporal:', '  tls:', '    ca: missing-ca.pem'].join('\n'),
  );
  await assert.rejects(loadAgentConfig(file, {}), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(
        `${file}:6:9: temporal\\.tls\\.ca: cannot read ${path.join(dir, 'missing-ca.pem')} \\(ENOENT\\)`,
      ),
    );
    return true;
  });
  // Broken YAML: where it breaks.
  await writeFile(file, 'agent_id: a1\nsite: [lab\n');
  await assert.rejects(loadAgentConfig(file, {}), (err: Error) => {
    assert.match(err.message, new RegExp(`${file}:\\d+:\\d+: `));
    return true;
  });
});

test('vaquero agent --check: what would run, and a problem that would stop it (exit 2)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentcheck-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      'data_dir: d',
      'temporal:',
      '  { address: "cloud.example:7233", namespace: ns1, api_key: temporal-key,',
      '    codec: { keys: [{ id: k1, env: VQ_TEST_CODEC_K1 }] } }',
      `tasks: { engine: "unix://${path.join(dir, 'podman.sock')}" }`,
      `secrets: { file: ${path.join(dir, 'secrets.env')} }`,
      'interfaces: [{ name: br0, address: 10.1.0.1, cidr: 10.1.0.0/24 }]',
    ].join('\n'),
  );
  await writeFile(path.join(dir, 'secrets.env'), 'other=u:p\n');
  const check = () => agentCheck(file, { VQ_TEST_CODEC_K1: 'ab'.repeat(32) });
  let r = await check();
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /problem: temporal\.api_key: secret temporal-key not found/);
  assert.match(r.out, /problem: tasks\.engine: .*podman\.sock is not a socket/);
  assert.match(r.out, /BMC drivers: container, ipmi, redfish, ssh/);
  assert.match(r.out, /interfaces: br0 10\.1\.0\.1 \(10\.1\.0\.0\/24\)/);
  // The key given and the engine's socket there: OK, with TLS implied by the API key (never the key itself).
  await writeFile(path.join(dir, 'secrets.env'), 'temporal-key=:sekrit-key-value\n');
  const sock = createServer();
  await new Promise<void>((resolve) => sock.listen(path.join(dir, 'podman.sock'), resolve));
  t.after(() => sock.close());
  r = await check();
  assert.equal(r.code, 0, r.out);
  assert.match(
    r.out,
    /Temporal: cloud\.example:7233 namespace ns1, TLS \(system roots\), API key, payloads encrypted \(AES-256-GCM, keys k1; current k1\)/,
  );
  assert.doesNotMatch(r.out, /sekrit/);
  assert.match(r.out, /configuration OK/);
});

test('SIGTERM ends `vaquero agent` within seconds while Temporal does not answer', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentstop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // A frontend that accepts connections and never says a word: the worst case for a client.
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      `temporal: { address: "127.0.0.1:${(silent.address() as { port: number }).port}", codec: { off: true } }`, // never answers
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [VAQUERO, 'agent', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await withTimeout(
    'the agent serving',
    new Promise<void>((resolve) => {
      const check = () => (/serving HTTP/.test(out) ? resolve() : setTimeout(check, 50));
      check();
    }),
    60_000,
  );
  // Long enough for the worker's connection attempt to be under way.
  await delay(2000);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await withTimeout('the agent to exit after SIGTERM', exited, 15_000), 0);
});

test('temporal.codec: required (keys or off); keys are references, resolved beside the file', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentcodec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const write = async (temporal: string) => {
    const file = path.join(dir, 'agent.yml');
    await writeFile(file, ['agent_id: a1', 'site: lab', 'data_dir: d', `temporal: ${temporal}`].join('\n'));
    return loadAgentConfig(file, {});
  };
  const secrets = createSecretStore({});
  await assert.rejects(
    agentTemporalEndpoint(await write('{ address: "x:7233" }'), secrets, {}),
    /temporal\.codec: not configured/,
  );
  await assert.rejects(write('{ codec: { keys: [{ id: k1, value: abc }] } }'), /temporal\.codec/);
  await assert.rejects(write('{ codec: { keys: [] } }'), /at least one key/);
  const c = await write('{ codec: { keys: [{ id: k1, file: k1.key }] } }');
  assert.deepEqual(c.temporal?.codec, { keys: [{ id: 'k1', file: path.join(dir, 'k1.key') }] });
  await assert.rejects(agentTemporalEndpoint(c, secrets, {}), /cannot read key k1 from/);
  await writeFile(path.join(dir, 'k1.key'), 'cd'.repeat(32));
  assert.deepEqual((await agentTemporalEndpoint(c, secrets, {})).codec.keyIds, ['k1']);
  const off = await agentTemporalEndpoint(await write('{ codec: { off: true } }'), secrets, {});
  assert.deepEqual(off.codec.keyIds, []);
});
