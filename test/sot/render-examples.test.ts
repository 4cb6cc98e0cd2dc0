// Every host of the shipped example SoTs renders cleanly, and planning a SoT against itself changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { loadSot } from '../../sot/load.ts';
import { planModels } from '../../sot/plan.ts';
import { createRenderer } from '../../sot/render.ts';

for (const name of ['lab', 'fleet']) {
  test(`every host of sot-examples/${name} renders with no diagnostics`, async () => {
    const dir = fileURLToPath(new URL(`../../sot-examples/${name}`, import.meta.url));
    const { model, diagnostics } = await loadSot(dir);
    assert.deepEqual(diagnostics.map(formatDiagnostic), []);
    assert.ok(model.hosts.length > 0);
    const renderer = createRenderer(model);
    for (const host of model.hosts) {
      const r = renderer.renderHost(host);
      assert.deepEqual(r.diagnostics.map(formatDiagnostic), [], host.id);
      assert.ok(r.rendered && r.rendered.stages.length > 0, host.id);
      for (const s of r.rendered.stages) assert.match(s.ipxe, /^#!ipxe\n/, `${host.id} stage ${s.index}`);
    }
    const plan = planModels(model, model);
    assert.deepEqual(
      plan.hosts.filter((h) => h.action !== 'unchanged' && h.action !== 'skipped'),
      [],
    );
  });
}
