// The example SoTs shipped with vaquero are what people copy: they must validate clean, rendering included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';

for (const name of ['lab', 'fleet']) {
  test(`sot-examples/${name} validates clean`, async () => {
    const dir = fileURLToPath(new URL(`../../sot-examples/${name}`, import.meta.url));
    const { model, diagnostics } = await validateSot(dir);
    assert.deepEqual(diagnostics.map(formatDiagnostic), []);
    assert.ok(model.hosts.length > 0, 'the example has hosts');
  });
}
