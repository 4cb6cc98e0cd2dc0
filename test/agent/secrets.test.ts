// The agent's secret stores: every documented format, the order of a chain, and errors that never show a value.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createSecretStore } from '../../agent/secrets/create-secret-store.ts';
import { DirSecretStore } from '../../agent/secrets/dir-secret-store.ts';
import { EnvSecretStore } from '../../agent/secrets/env-secret-store.ts';
import { FileSecretStore } from '../../agent/secrets/file-secret-store.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vaq-secret-store-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('YAML file: mappings, the one-value form and tokens; unknown references are undefined', async () => {
  const file = path.join(dir, 'secrets.yaml');
  await writeFile(
    file,
    'lab-bmc: { username: admin, password: "p:w#1" }\nshort: "root:calvin"\nrf: { token: tok-123 }\nkey: { user: ops, private_key: "-----BEGIN-----\\nabc" }\n',
  );
  const s = new FileSecretStore(file);
  assert.deepEqual(await s.resolve('lab-bmc'), { username: 'admin', password: 'p:w#1' });
  assert.deepEqual(await s.resolve('short'), { username: 'root', password: 'calvin' });
  assert.deepEqual(await s.resolve('rf'), { token: 'tok-123' });
  assert.deepEqual(await s.resolve('key'), { username: 'ops', privateKey: '-----BEGIN-----\nabc' });
  assert.equal(await s.resolve('nope'), undefined);
});

test('KEY=VALUE file: one-value lines, field lines, comments and quotes', async () => {
  const file = path.join(dir, 'secrets.env');
  await writeFile(
    file,
    '# BMCs\nlab-bmc=admin:s3cret=x\nrf.token="tok 9"\nsplit.username=ops\nsplit.password=\'pw\'\n\n',
  );
  const s = new FileSecretStore(file);
  assert.deepEqual(await s.resolve('lab-bmc'), { username: 'admin', password: 's3cret=x' });
  assert.deepEqual(await s.resolve('rf'), { token: 'tok 9' });
  assert.deepEqual(await s.resolve('split'), { username: 'ops', password: 'pw' });
  assert.equal(await s.resolve('lab'), undefined);
});

test('directory: a folder of field files, <ref>.yaml, and a plain file', async () => {
  const d = path.join(dir, 'secrets.d');
  await mkdir(path.join(d, 'k8s', '..data'), { recursive: true });
  await writeFile(path.join(d, 'k8s', 'username'), 'admin\n');
  await writeFile(path.join(d, 'k8s', 'password'), 'pw-from-k8s\n');
  await writeFile(path.join(d, 'yml.yaml'), 'username: u\npassword: "p"\n');
  await writeFile(path.join(d, 'plain'), 'root:toor\n');
  await writeFile(path.join(d, 'fields'), 'username=a\ntoken=t\n');
  const s = new DirSecretStore(d);
  assert.deepEqual(await s.resolve('k8s'), { username: 'admin', password: 'pw-from-k8s' });
  assert.deepEqual(await s.resolve('yml'), { username: 'u', password: 'p' });
  assert.deepEqual(await s.resolve('plain'), { username: 'root', password: 'toor' });
  assert.deepEqual(await s.resolve('fields'), { username: 'a', token: 't' });
  assert.equal(await s.resolve('missing'), undefined);
  // References are names, never paths.
  await assert.rejects(s.resolve('../secrets.yaml'), /is not a plain name/);
});

test('environment: VAQUERO_SECRET_<REF> and per-field variables, which win', async () => {
  const s = new EnvSecretStore({
    VAQUERO_SECRET_LAB_BMC: 'admin:one',
    VAQUERO_SECRET_LAB_BMC_PASSWORD: 'two',
    VAQUERO_SECRET_RF_TOKEN: 'tok',
  });
  assert.deepEqual(await s.resolve('lab-bmc'), { username: 'admin', password: 'two' });
  assert.deepEqual(await s.resolve('rf'), { token: 'tok' });
  assert.equal(await s.resolve('other'), undefined);
  assert.equal(
    s.describe('lab.bmc'),
    'environment VAQUERO_SECRET_LAB_BMC[_USERNAME|_PASSWORD|_TOKEN|_PRIVATE_KEY]',
  );
});

test('a chain asks the directory, then the file, then the environment', async () => {
  const d = path.join(dir, 'chain.d');
  await mkdir(d);
  await writeFile(path.join(d, 'both'), 'dir:wins\n');
  const file = path.join(dir, 'chain.yaml');
  await writeFile(file, 'both: "file:loses"\nfileonly: "f:1"\n');
  const s = createSecretStore({
    dir: d,
    file,
    env: { VAQUERO_SECRET_ENVONLY: 'e:1', VAQUERO_SECRET_FILEONLY: 'e:2' },
  });
  assert.deepEqual(await s.resolve('both'), { username: 'dir', password: 'wins' });
  assert.deepEqual(await s.resolve('fileonly'), { username: 'f', password: '1' });
  assert.deepEqual(await s.resolve('envonly'), { username: 'e', password: '1' });
  assert.match(
    s.describe('x'),
    /^directory .*chain\.d\/x\{\/,\.yaml,\.yml\}, file .*chain\.yaml, environment VAQUERO_SECRET_X/,
  );
  // VAQUERO_SECRETS_FILE / _DIR name the stores when no option does.
  const fromEnv = createSecretStore({ env: { VAQUERO_SECRETS_FILE: file } });
  assert.deepEqual(await fromEnv.resolve('fileonly'), { username: 'f', password: '1' });
});

test('format errors name the file, the reference and the field, never a value', async () => {
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'x: { username: a, pasword: "hunter22" }\n');
  await assert.rejects(new FileSecretStore(bad).resolve('x'), (e: Error) => {
    assert.match(e.message, /bad\.yaml: x: unknown field "pasword"/);
    assert.ok(!e.message.includes('hunter22'));
    return true;
  });
  const broken = path.join(dir, 'broken.yaml');
  await writeFile(broken, 'x: { password: "hunter22"\n');
  await assert.rejects(new FileSecretStore(broken).resolve('x'), (e: Error) => {
    assert.match(e.message, /broken\.yaml: not valid YAML/);
    assert.ok(!e.message.includes('hunter22'));
    return true;
  });
});
