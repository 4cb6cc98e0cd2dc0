// policy.force_provision in `vaquero plan` (sot/plan.ts): off, a host new to the plan that has a BMC is skipped
// with the reason; on (or unset: the default) it is added. Hosts without a BMC are added either way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import type { SotModel } from '../../sot/model.ts';
import { NO_BMC_REASON, planAgainst, planModels } from '../../sot/plan.ts';
import type { Plan } from '../../sot/plan.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const H6 =
  '---\nname: h6\nworkflow: one-stage\ninterfaces:\n' +
  '  - { type: physical, mac: "52:54:00:00:01:06", subnet: a-net, ipv4: 10.1.0.16 }\n';
const H7 =
  '---\nname: h7\nworkflow: one-stage\ninterfaces:\n' +
  '  - { type: physical, mac: "52:54:00:00:01:07", subnet: a-net, ipv4: 10.1.0.17 }\n' +
  '  - { type: bmc, driver: sim, address: sim-h7 }\n';

async function variant(force: boolean | undefined, extraHosts = ''): Promise<SotModel> {
  const edits: SotEdit[] = [];
  if (force !== undefined)
    edits.push({
      file: 'sites/alpha/env.yml',
      replace: '  max_concurrent: 5',
      with: `  max_concurrent: 5\n  force_provision: ${force}`,
    });
  if (extraHosts) edits.push({ file: 'sites/alpha/extra.yml', write: extraHosts.replace(/^---\n/, '') });
  const { model, diagnostics } = await validateSot(await copyWithEdits(BASE, edits, 'vaquero-plan-force-'));
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  return model;
}

const of = (plan: Plan, host: string): string => {
  const e = plan.hosts.find((h) => h.host === host)!;
  return `${e.action}: ${e.reasons.join('; ')}`;
};

describe('policy.force_provision in plans', () => {
  test('off: a new host with a BMC is skipped and the plan says why; one without a BMC is added', async () => {
    const plan = planModels(await variant(false), await variant(false, H6 + H7));
    assert.equal(
      of(plan, 'h7'),
      'skipped: new host with a BMC: policy.force_provision is off for site alpha',
    );
    assert.equal(of(plan, 'h6'), `added: new host; ${NO_BMC_REASON}`);
    assert.equal(of(plan, 'h1'), 'unchanged: ');
  });

  test('off, against what hosts reached: the ones that never reached anything and have a BMC are skipped', async () => {
    const to = await variant(false, H7);
    const plan = planAgainst(to, new Map());
    assert.equal(
      of(plan, 'h7'),
      'skipped: new host with a BMC: policy.force_provision is off for site alpha',
    );
    // Site beta does not set it: the default plans its hosts.
    assert.equal(of(plan, 'h5'), 'added: has not reached any revision yet');
    // A host whose run failed reached nothing, but vaquero did run it: it is not new, so it is planned.
    assert.equal(
      of(planAgainst(to, new Map(), new Set(['alpha/h7'])), 'h7'),
      'added: has not reached any revision yet',
    );
  });

  test('on, and unset: a new host with a BMC is added', async () => {
    for (const force of [true, undefined]) {
      const plan = planModels(await variant(force), await variant(force, H7));
      assert.equal(of(plan, 'h7'), 'added: new host', String(force));
    }
  });

  test('force_provision is true or false', async () => {
    const dir = await copyWithEdits(
      BASE,
      [
        {
          file: 'sites/alpha/env.yml',
          replace: '  max_concurrent: 5',
          with: '  max_concurrent: 5\n  force_provision: 1',
        },
      ],
      'vaquero-plan-force-',
    );
    assert.deepEqual((await validateSot(dir)).diagnostics.map(formatDiagnostic), [
      'sites/alpha/env.yml:18:20: "policy.force_provision" must be true or false, got number 1',
    ]);
  });
});
