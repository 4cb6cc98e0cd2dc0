// Server configuration: YAML with secrets only by reference (environment or file), environment overrides, and
// every mistake reported rather than guessed around.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadServerConfig } from '../../server/config.ts';

async function file(yaml: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-config-'));
  const f = path.join(dir, 'server.yml');
  await writeFile(f, yaml);
  await writeFile(path.join(dir, 'viewer.token'), 'viewer-token-from-a-file-0123\n');
  return f;
}

const FULL = `
listen: 0.0.0.0:9090
data_dir: ./state
public_url: https://vaquero.example.test
temporal: { address: temporal.example.test:7233, namespace: fleet }
worker: { control: false }
auth:
  tokens:
    - { name: ci, role: operate, env: CI_TOKEN }
    - { name: viewer, role: read, file: viewer.token }
  open: [/live, /metrics]
sots:
  - { name: lab, dir: ./lab, watch: true }
  - { name: edge, git: ssh://git@gitea.example.test/ops/edge.git, branch: prod, poll_s: 60 }
  - { name: fleet, github: acme/fleet-sot }
github:
  api_url: https://ghe.example.test/api/v3
  webhook_secret: { env: HOOK_SECRET }
  token: { env: GH_TOKEN }
  report: status
  pr: { comment: true }
index: { refresh_ms: 500 }
`;

test('a full file: secrets read from the environment and files, paths resolved beside the file', async () => {
  const f = await file(FULL);
  const c = await loadServerConfig(f, {
    CI_TOKEN: 'ci-token-from-the-environment',
    HOOK_SECRET: 'hook',
    GH_TOKEN: 'ghp_x',
  });
  const dir = path.dirname(f);
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9090 });
  assert.equal(c.dataDir, path.join(dir, 'state'));
  assert.deepEqual(c.temporal, { address: 'temporal.example.test:7233', namespace: 'fleet' });
  assert.equal(c.controlWorker, false);
  assert.deepEqual(c.auth.tokens, [
    { name: 'ci', role: 'operate', token: 'ci-token-from-the-environment' },
    { name: 'viewer', role: 'read', token: 'viewer-token-from-a-file-0123' },
  ]);
  assert.deepEqual(c.auth.open, ['/live', '/metrics']);
  assert.deepEqual(c.sots, [
    { name: 'lab', kind: 'dir', path: path.join(dir, 'lab'), watch: true, autoRollout: true },
    {
      name: 'edge',
      kind: 'git',
      url: 'ssh://git@gitea.example.test/ops/edge.git',
      branch: 'prod',
      pollSeconds: 60,
      autoRollout: true,
    },
    { name: 'fleet', kind: 'github', repo: 'acme/fleet-sot', branch: 'main', autoRollout: true },
  ]);
  assert.equal(c.github?.apiUrl, 'https://ghe.example.test/api/v3');
  assert.deepEqual(c.github?.webhookSecrets, ['hook']);
  assert.deepEqual(c.github?.auth, { token: 'ghp_x' });
  assert.equal(c.github?.report, 'status');
  assert.equal(c.github?.prComment, true);
  assert.equal(c.github?.prCheckRun, true);
  assert.equal(c.github?.requireHead, true);
  assert.equal(c.indexRefreshMs, 500);
});

test('the environment overrides the file', async () => {
  const f = await file(FULL);
  const c = await loadServerConfig(f, {
    CI_TOKEN: 'ci-token-from-the-environment',
    HOOK_SECRET: 'h',
    GH_TOKEN: 'g',
    VAQUERO_LISTEN: '127.0.0.1:7000',
    VAQUERO_DATA_DIR: '/var/lib/vaquero-test',
    TEMPORAL_ADDRESS: 'other:7233',
    VAQUERO_READ_TOKEN: 'read-token-from-the-env-000',
  });
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 7000 });
  assert.equal(c.dataDir, '/var/lib/vaquero-test');
  assert.equal(c.temporal.address, 'other:7233');
  assert.deepEqual(c.auth.tokens.at(-1), {
    name: 'env-read',
    role: 'read',
    token: 'read-token-from-the-env-000',
  });
});

test('no file: safe defaults (loopback, no tokens, nothing open but health and docs)', async () => {
  const c = await loadServerConfig(undefined, { VAQUERO_DATA_DIR: '/tmp/x' });
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(c.auth.tokens, []);
  assert.deepEqual(c.auth.open, ['/live', '/ready', '/metrics', '/docs']);
  assert.equal(c.github, undefined);
});

test('mistakes are reported: inline secrets, short or duplicate tokens, missing variables, unknown fields', async () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      'auth: { tokens: [ { name: a, role: read, token: hunter2hunter2hunter2 } ] }',
      {},
      /auth\.tokens\.0: .*(never inline|Unrecognized key)/,
    ],
    ['github: { webhook_secret: plain-text }', {}, /never inline/],
    ['auth: { tokens: [ { name: a, role: read, env: T } ] }', { T: 'short' }, /shorter than 16/],
    [
      'auth: { tokens: [ { name: a, role: read, env: T }, { name: a, role: operate, env: T } ] }',
      { T: 'long-enough-token-value' },
      /used twice/,
    ],
    ['auth: { tokens: [ { name: a, role: admin, env: T } ] }', { T: 'long-enough-token-value' }, /role/],
    ['auth: { tokens: [ { name: a, role: read, env: MISSING } ] }', {}, /MISSING is not set/],
    ['sots: [ { name: x, dir: a, git: b } ]', {}, /exactly one of dir, git, github/],
    ['sots: [ { name: Bad, dir: a } ]', {}, /sots\.0\.name/],
    ['sots: [ { name: x, github: "not a repo" } ]', {}, /not a GitHub repository/],
    ['github: { api_url: "http://ghe.example.test" }', {}, /must use https/],
    ['listen: nowhere', {}, /not HOST:PORT/],
    ['colour: blue', {}, /Unrecognized key/],
    ['auth: { open: [/hosts] }', {}, /auth\.open\.0/],
  ];
  for (const [yaml, env, re] of cases) {
    await assert.rejects(
      loadServerConfig(await file(yaml), { VAQUERO_DATA_DIR: '/tmp/x', ...env }),
      re,
      yaml,
    );
  }
});
