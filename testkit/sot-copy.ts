// Copies of a fixture SoT with edits applied, for tests that each need a slightly different SoT. A `replace`
// must match exactly once, so a fixture that drifts under a test fails loudly instead of silently passing.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

export type SotEdit =
  | { file: string; replace: string; with: string }
  | { file: string; write: string }
  | { file: string; remove: true };

const made: string[] = [];
after(async () => {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A temp copy of `base` with `edits` applied; removed when the test file ends. */
export async function copyWithEdits(
  base: string,
  edits: readonly SotEdit[] = [],
  prefix = 'vaquero-sot-',
): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  made.push(dir);
  await cp(base, dir, { recursive: true });
  for (const e of edits) {
    const file = path.join(dir, e.file);
    if ('remove' in e) {
      await rm(file);
    } else if ('write' in e) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, e.write);
    } else {
      const text = await readFile(file, 'utf8');
      assert.equal(text.split(e.replace).length, 2, `"${e.replace}" must occur exactly once in ${e.file}`);
      await writeFile(file, text.replace(e.replace, e.with));
    }
  }
  return dir;
}
