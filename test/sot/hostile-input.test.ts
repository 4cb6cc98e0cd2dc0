// What a careless or hostile SoT does to the loader (hardening finding 6): a symlink loop, a huge file, YAML tags
// that make more than plain data, binary bytes, MACs that name no single NIC. Each is a diagnostic with its file and
// position, never a crash, a hang or a value that reaches the model.
import assert from 'node:assert/strict';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/sot/base', import.meta.url));
const RACK_A = 'sites/lab/rack-a.yml';

async function diagnosticsOf(dir: string): Promise<string[]> {
  return (await validateSot(dir)).diagnostics.map(formatDiagnostic);
}

test('a symlink loop is followed once and reported', async () => {
  const dir = await copyWithEdits(BASE);
  await mkdir(path.join(dir, 'assets', 'untyped', 'deep'), { recursive: true });
  await symlink('..', path.join(dir, 'assets', 'untyped', 'deep', 'up'));
  await symlink('.', path.join(dir, 'os', 'self'));
  const d = await diagnosticsOf(dir);
  assert.deepEqual(
    d.filter((l) => /loop/.test(l)),
    [
      'assets/untyped/deep/up:1:1: symbolic link to a folder already read (a loop): not followed',
      'os/self:1:1: symbolic link to a folder already read (a loop): not followed',
    ],
  );
});

test('a file over the size limit is reported without being read', async () => {
  const dir = await copyWithEdits(BASE);
  // Sparse: 5 GiB on paper, nothing on disk; reading it would take the process down.
  await writeFile(path.join(dir, 'assets', 'untyped', 'huge.txt'), '');
  await truncate(path.join(dir, 'assets', 'untyped', 'huge.txt'), 5 * 1024 ** 3);
  const d = await diagnosticsOf(dir);
  assert.ok(
    d.includes('assets/untyped/huge.txt:1:1: file is larger than 4194304 bytes: not read'),
    d.join('\n'),
  );
});

test('YAML tags beyond plain data are refused where they stand, with their document', async () => {
  const dir = await copyWithEdits(BASE, [
    {
      file: RACK_A,
      replace: 'name: node-01\nworkflow: two-stage\nmetadata: { role: worker }\n',
      with: 'name: node-01\nworkflow: two-stage\nmetadata:\n  a: !!js/function "x"\n  b: !!binary aGVsbG8=\n  c: !!set { x }\n  d: !!str 0123\n',
    },
  ]);
  const d = await diagnosticsOf(dir);
  const tags = d.filter((l) => /YAML tag/.test(l));
  assert.deepEqual(tags, [
    `${RACK_A}:4:6: YAML tag !!js/function is not allowed: plain data only`,
    `${RACK_A}:5:6: YAML tag !!binary is not allowed: plain data only`,
    `${RACK_A}:6:6: YAML tag !!set is not allowed: plain data only`,
  ]);
});

test('binary bytes are not a template', async () => {
  const dir = await copyWithEdits(BASE);
  await writeFile(
    path.join(dir, 'assets', 'untyped', 'random.bin'),
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff]),
  );
  await writeFile(path.join(dir, 'assets', 'untyped', 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  const d = await diagnosticsOf(dir);
  assert.ok(
    d.includes('assets/untyped/random.bin:1:1: not a text file (binary bytes or invalid UTF-8)'),
    d.join('\n'),
  );
  assert.ok(
    d.includes('assets/untyped/latin1.txt:1:1: not a text file (binary bytes or invalid UTF-8)'),
    d.join('\n'),
  );
});

test('broadcast, multicast and all-zero MACs name no single NIC', async () => {
  for (const [bad, why] of [
    ['ff:ff:ff:ff:ff:ff', 'a multicast or broadcast address'],
    ['01:00:5e:00:00:fb', 'a multicast or broadcast address'],
    ['00:00:00:00:00:00', 'the all-zero MAC'],
  ] as const) {
    const dir = await copyWithEdits(BASE, [
      { file: RACK_A, replace: 'mac: 52:54:00:00:00:01', with: `mac: ${bad}` },
    ]);
    const d = await diagnosticsOf(dir);
    assert.ok(
      d.some((l) => l.startsWith(`${RACK_A}:6:`) && l.includes(why)),
      `${bad}:\n${d.join('\n')}`,
    );
  }
});

test("an alias bomb is a diagnostic at its document; the file's other documents still load", async () => {
  const bomb = [
    'name: node-01',
    'workflow: two-stage',
    'metadata:',
    '  a: &a [x, x, x, x, x, x, x, x, x]',
    '  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    '  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    '  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    '  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
  ].join('\n');
  const dir = await copyWithEdits(BASE, [
    { file: RACK_A, replace: 'name: node-01\nworkflow: two-stage\nmetadata: { role: worker }', with: bomb },
  ]);
  const { model, diagnostics } = await validateSot(dir);
  const d = diagnostics.map(formatDiagnostic);
  assert.ok(
    d.includes(`${RACK_A}:1:1: YAML aliases: Excessive alias count indicates a resource exhaustion attack`),
    d.join('\n'),
  );
  assert.ok(
    model.hosts.some((h) => h.id === 'node-02'),
    'the next document of the file still loads',
  );
  assert.ok(!model.hosts.some((h) => h.id === 'node-01'));
});

test('a file name with a newline stays on its one diagnostic line', async () => {
  const dir = await copyWithEdits(BASE);
  await writeFile(path.join(dir, 'os', 'evil\nname.yml'), 'kernel: 1\n');
  const d = await diagnosticsOf(dir);
  const line = d.find((l) => l.startsWith('os/evil'));
  assert.ok(line?.startsWith('os/evil\\x0aname.yml:'), d.join('\n'));
  assert.ok(d.every((l) => !l.includes('\n')));
});
