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
