// Hosts without a BMC in `vaquero plan` (sot/plan.ts): valid, planned like any other, and every planned one says
// that nothing power-cycles it; an unchanged or skipped one says nothing more.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import type { SotModel } from '../../sot/model.ts';
import { hostKey, NO_BMC_REASON, planAgainst, planModels } from '../../sot/plan.ts';
import type { Plan } from '../../sot/plan.ts';
import { fingerprintHost } from '../../sot/fingerprint.ts';
import { createRenderer } from '../../sot/render.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const CLUSTER = 'sites/alpha/cluster.yml';
/** h3 (one-stage) loses its BMC; h4 (never_provision) too. */
const NO_BMC: SotEdit[] = [
  { file: CLUSTER, replace: '  - { type: bmc, driver: sim, address: sim-h3 }\n', with: '' },
  { file: CLUSTER, replace: '  - { type: bmc, driver: sim, address: sim-h4 }\n', with: '' },
];

async function variant(edits: SotEdit[]): Promise<SotModel> {
  const { model, diagnostics } = await validateSot(await copyWithEdits(BASE, edits, 'vaquero-no-bmc-'));
  assert.deepEqual(diagnostics.map(formatDiagnostic), [], 'a host without a BMC is valid');
  return model;
}

const of = (plan: Plan, host: string): string => {
  const e = plan.hosts.find((h) => h.host === host)!;
  return `${e.action}: ${e.reasons.join('; ')}`;
};

describe('hosts without a BMC in plans', () => {
  test('a first plan: added, saying it is never power-cycled; hosts with a BMC and skipped ones do not', async () => {
    const plan = planModels(null, await variant(NO_BMC));
    assert.equal(of(plan, 'h3'), `added: no previous revision; ${NO_BMC_REASON}`);
    assert.equal(of(plan, 'h1'), 'added: no previous revision');
    assert.equal(of(plan, 'h4'), 'skipped: never_provision is set');
  });

  test('a change: reprovisioned with the reason and the note; unchanged says nothing', async () => {
    const kernel: SotEdit = { file: 'os/tiny.yml', replace: 'vmlinuz', with: 'vmlinuz-2' };
    const from = await variant(NO_BMC);
    const plan = planModels(from, await variant([...NO_BMC, kernel]));
    assert.match(
      of(plan, 'h3'),
      new RegExp(
        `^reprovision: stage 1 \\(\\w+\\): kernel URL changed; ${NO_BMC_REASON.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
      ),
    );
    assert.equal(of(planModels(from, from), 'h3'), 'unchanged: ');
  });

  test('against what hosts reached', async () => {
    const model = await variant(NO_BMC);
    const h3 = createRenderer(model).renderHost(model.hosts.find((h) => h.id === 'h3')!).rendered!;
    const reached = new Map([[hostKey('alpha', 'h3'), 'sha256:older']]);
    assert.equal(
      of(planAgainst(model, reached), 'h3'),
      `reprovision: what it would boot differs from what it last reached; ${NO_BMC_REASON}`,
    );
    reached.set(hostKey('alpha', 'h3'), fingerprintHost(h3).digest);
    assert.equal(of(planAgainst(model, reached), 'h3'), 'unchanged: ');
  });
});
