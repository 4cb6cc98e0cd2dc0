// on_failure in a workflow file: what a failed host is left as. Validated with its file:line, and carried into the
// host's plan (power_off unless the workflow says leave); the workflow side is in test/workflows/host.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const WORKFLOW = 'workflows/one-stage.yml';

async function problems(line: string): Promise<string[]> {
  const dir = await copyWithEdits(
    BASE,
    [{ file: WORKFLOW, replace: 'boots: [smoke]\n', with: `boots: [smoke]\n${line}\n` }],
    'vaquero-on-failure-',
  );
  return (await validateSot(dir)).diagnostics.map(formatDiagnostic);
}

describe('on_failure', () => {
  test('power_off and leave are valid', async () => {
    assert.deepEqual(await problems('on_failure: power_off'), []);
    assert.deepEqual(await problems('on_failure: leave'), []);
  });

  test('anything else is refused at its file and line', async () => {
    const p = await problems('on_failure: reboot');
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /workflows\/one-stage\.yml:2/);
    assert.match(p[0]!, /on_failure/);
  });
});
