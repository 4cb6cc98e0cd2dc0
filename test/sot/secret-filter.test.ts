// `{{ "ref" | secret }}` in a template: the rendered config (what the workflow carries) holds a placeholder naming
// the reference, never a value; a value pasted where the name belongs is refused with file:line.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { secretPlaceholder } from '../../domain/secret.ts';
import { createRenderer } from '../../sot/render.ts';
import { validateSot } from '../../sot/validate.ts';
import { writeSot } from '../../testkit/sot.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-secret-filter-'));
after(() => rm(dir, { recursive: true, force: true }));

async function sotWith(name: string, line: string) {
  const sot = await writeSot(
    {
      sot: name,
      site: name,
      workflows: { one: { boots: ['install'] } },
      hosts: [{ name: 'h1', workflow: 'one' }],
    },
    dir,
  );
  await writeFile(
    path.join(sot.dir, 'assets', 'cloud-config', 'install.yml'),
    [
      '#cloud-config',
      'hostname: {{ host.name }}',
      line,
      'runcmd:',
      '  - curl -fsS {{ urls.checkpoint }}',
    ].join('\n') + '\n',
  );
  return sot;
}

test('a secret reference renders as a placeholder the agent resolves', async () => {
  const sot = await sotWith(
    'sref',
    'token: "{{ "join-token" | secret }}" # and {{ "bmc" | secret: "password" }}',
  );
  const { model, diagnostics } = await validateSot(sot.dir);
  assert.deepEqual(diagnostics, []);
  const { rendered } = createRenderer(model).renderHost(model.hosts[0]!);
  const text = rendered!.stages[0]!.config!.text;
  assert.ok(text.includes(`token: "${secretPlaceholder('join-token')}"`), text);
  assert.ok(text.includes(secretPlaceholder('bmc', 'password')), text);
});

test('a value where a reference belongs, a bad name or field: refused at the template line', async () => {
  for (const [line, message] of [
    ['token: {{ "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b" | secret }}', /looks like a secret value/],
    ['token: {{ "K10abc::server:xyz" | secret }}', /must be a plain name/],
    ['token: {{ "join-token" | secret: "pin" }}', /the field is one of token, password/],
  ] as const) {
    const sot = await sotWith(`sbad${line.length}`, line);
    const { diagnostics } = await validateSot(sot.dir);
    const d = diagnostics.find((x) => message.test(x.message));
    assert.ok(d, `${line}: ${JSON.stringify(diagnostics)}`);
    assert.equal(d.file, 'assets/cloud-config/install.yml');
    assert.equal(d.line, 3);
    assert.ok(!JSON.stringify(diagnostics).includes('9f86d081884c7d659a2f'), 'the value is not repeated');
  }
});

async function sotWithTaskEnv(name: string, env: string) {
  const sot = await sotWith(name, '# no secret here');
  await writeFile(
    path.join(sot.dir, 'boot', 'install.yml'),
    [
      'os: installer',
      'cmdline: ["cloud-config-url={{ urls.config }}"]',
      'unattended: { type: cloud-config, template: install.yml }',
      'validate:',
      '  - name: check',
      '    image: busybox',
      `    env: ${env}`,
    ].join('\n') + '\n',
  );
  return sot;
}

test('task env: { secret: REF } renders a placeholder; a literal under a secret name is refused at its line', async () => {
  const ok = await sotWithTaskEnv(
    'tenv',
    '{ API_TOKEN: { secret: join-token }, PASS: { secret: bmc, field: password }, MODE: fast }',
  );
  const { model, diagnostics } = await validateSot(ok.dir);
  assert.deepEqual(diagnostics, []);
  const env = createRenderer(model).renderHost(model.hosts[0]!).rendered!.stages[0]!.validate[0]!.env;
  assert.deepEqual(env, {
    API_TOKEN: secretPlaceholder('join-token'),
    PASS: secretPlaceholder('bmc', 'password'),
    MODE: 'fast',
  });
  const bad = await sotWithTaskEnv('tenvbad', '{ API_TOKEN: "s3cr3t-literal-value" }');
  const d = (await validateSot(bad.dir)).diagnostics.find((x) => /looks like a secret/.test(x.message));
  assert.ok(d);
  assert.equal(d.file, 'boot/install.yml');
  assert.equal(d.line, 7);
  assert.match(d.message, /validate\[0\]\.env\.API_TOKEN .*\{ secret: NAME \}/);
});
