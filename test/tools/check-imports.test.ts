// The import check on small trees made for it: each rule it enforces fails on a tree that breaks it, and the
// repository itself passes.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { check } from '../../tools/check-imports.ts';

async function tree(t: { after: (fn: () => Promise<void>) => void }, files: Record<string, string>) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'vq-imports-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
  return check(root);
}

test('a clean tree: downward imports only', async (t) => {
  const r = await tree(t, {
    'domain/host.ts': 'export type Host = { name: string };\n',
    'sot/load.ts': "import type { Host } from '../domain/host.ts';\nexport const h: Host = { name: 'a' };\n",
    'server/app.ts': "import { h } from '../sot/load.ts';\nexport const x = h;\n",
  });
  assert.equal(r.files, 3);
  assert.deepEqual([r.circles, r.mutualFolders, r.upward], [[], [], []]);
});

test('a circle of files is found, type-only imports included', async (t) => {
  const r = await tree(t, {
    'server/app.ts': "import { routes } from './routes/a.ts';\nexport const app = routes;\n",
    'server/routes/a.ts':
      "import type { Ctx } from '../ctx.ts';\nexport const routes = 1;\nexport type R = Ctx;\n",
    'server/ctx.ts': "import type { app } from './app.ts';\nexport type Ctx = typeof app;\n",
  });
  assert.deepEqual(r.circles, [['server/app.ts', 'server/ctx.ts', 'server/routes/a.ts']]);
});

test('folders that import each other, and an import against the layers', async (t) => {
  const r = await tree(t, {
    'agent/agent.ts': "import { stack } from '../workers/stack.ts';\nexport const agent = stack;\n",
    'workers/stack.ts': "import type { X } from '../agent/types.ts';\nexport const stack = 1 as X;\n",
    'agent/types.ts': 'export type X = number;\n',
  });
  assert.deepEqual(r.mutualFolders, [['agent', 'workers']]);
  assert.deepEqual(
    r.upward.map((u) => [u.from, u.to, u.why]),
    [['agent/agent.ts', 'workers/stack.ts', 'agent is below workers']],
  );
});

test('workflow code may import the vocabulary, not the layers below it that do I/O', async (t) => {
  const r = await tree(t, {
    'domain/names.ts': "export const QUEUE = 'q';\n",
    'sot/render.ts': 'export const render = () => 1;\n',
    'workflows/host.ts':
      "import { QUEUE } from '../domain/names.ts';\nimport { render } from '../sot/render.ts';\nexport const w = [QUEUE, render];\n",
  });
  assert.deepEqual(
    r.upward.map((u) => [u.from, u.to, u.why]),
    [['workflows/host.ts', 'sot/render.ts', 'workflows may not import sot']],
  );
});

test('an import-shaped string is not an import', async (t) => {
  const r = await tree(t, {
    'domain/a.ts': 'export const text = "import { x } from \'../server/b.ts\';";\n',
    'server/b.ts': "import { text } from '../domain/a.ts';\nexport const x = text;\n",
  });
  assert.deepEqual([r.circles, r.mutualFolders, r.upward], [[], [], []]);
});

test('the repository itself: no circle, no mutual folders, nothing against the layers', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const r = check(root);
  assert.ok(r.files > 300, `read ${r.files} files`);
  assert.deepEqual(r.circles, []);
  assert.deepEqual(r.mutualFolders, []);
  assert.deepEqual(
    r.upward.map((u) => `${u.from} -> ${u.to}`),
    [],
  );
});
