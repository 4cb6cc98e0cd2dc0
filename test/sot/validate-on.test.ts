// `policy.validate_on` in the SoT: `vaquero validate` refuses unknown workflows and a workflow listing itself with
// file:line (all at once; cycles are fine), and `vaquero plan` re-validates the unchanged hosts of a workflow whose
// listed workflow changed (its hosts boot something new, or its definition changed), never a host that must be
// reprovisioned anyway.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { planText } from '../../cli/commands/plan.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import type { SotModel } from '../../sot/model.ts';
import { createRenderer } from '../../sot/render.ts';
import { fingerprintHost } from '../../sot/fingerprint.ts';
import { hostKey, planAgainst, planModels } from '../../sot/plan.ts';
import type { Plan } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
/** one-stage (h3, h4 never_provision, h5 at beta) re-validates when two-stage (h1, h2) changes. */
const ONE_STAGE_ON_TWO: SotEdit = {
  file: 'workflows/one-stage.yml',
  write: 'boots: [smoke]\npolicy:\n  validate_on: [two-stage]\n',
};
/** Boots of two-stage only (install: os debian). */
const DEBIAN_KERNEL: SotEdit = { file: 'os/debian.yml', replace: 'debian/linux', with: 'debian/linux-2' };
/** Boots of both workflows (configure and smoke: os tiny). */
const TINY_KERNEL: SotEdit = { file: 'os/tiny.yml', replace: 'vmlinuz', with: 'vmlinuz-2' };
const REASON = 'workflow two-stage changed (validate_on): validation only, no power cycle';

async function model(edits: SotEdit[]): Promise<SotModel> {
  const { model, diagnostics } = await validateSot(await copyWithEdits(BASE, edits, 'vaquero-validate-on-'));
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  return model;
}

const actions = (plan: Plan): string[] =>
  plan.hosts.map(
    (h) => `${h.site}/${h.host} ${h.action}${h.reasons.length ? `: ${h.reasons.join('; ')}` : ''}`,
  );

describe('validate_on in validation', () => {
  test('unknown workflows and a workflow listing itself, each with file:line, all at once', async () => {
    const dir = await copyWithEdits(
      BASE,
      [
        {
          file: 'workflows/one-stage.yml',
          write:
            'boots: [smoke]\npolicy:\n  validate_on:\n    - two-stage\n    - one-stage\n    - tow-stage\n',
        },
        { file: 'workflows/two-stage.yml', replace: '  max_concurrent: 2', with: '  validate_on: [nope]' },
      ],
      'vaquero-validate-on-',
    );
    const lines = (await validateSot(dir)).diagnostics.map(formatDiagnostic);
    const has = (re: RegExp) =>
      assert.ok(
        lines.some((l) => re.test(l)),
        `${re} in\n${lines.join('\n')}`,
      );
    has(/workflows\/one-stage\.yml:5:\d+: .*workflow one-stage lists itself/);
    has(/workflows\/one-stage\.yml:6:\d+: .*unknown workflow "tow-stage".*two-stage/);
    has(/workflows\/two-stage\.yml:3:\d+: .*unknown workflow "nope"/);
    assert.equal(lines.length, 3, lines.join('\n'));
  });

  test('not a list, or not a workflow id: a schema error with file:line', async () => {
    const dir = await copyWithEdits(
      BASE,
      [{ file: 'workflows/one-stage.yml', write: 'boots: [smoke]\npolicy:\n  validate_on: two-stage\n' }],
      'vaquero-validate-on-',
    );
    const lines = (await validateSot(dir)).diagnostics.map(formatDiagnostic);
    assert.ok(
      lines.some((l) => /workflows\/one-stage\.yml:3:\d+: .*validate_on/.test(l)),
      lines.join('\n'),
    );
  });

  test('two workflows listing each other are valid (a re-validation is no change of its own)', async () => {
    await model([
      ONE_STAGE_ON_TWO,
      { file: 'workflows/two-stage.yml', replace: '  max_concurrent: 2', with: '  validate_on: [one-stage]' },
    ]);
  });
});

describe('validate_on in plans', () => {
  test("a listed workflow's hosts boot something new: the unchanged hosts re-validate, at every site", async () => {
    const plan = planModels(await model([ONE_STAGE_ON_TWO]), await model([ONE_STAGE_ON_TWO, DEBIAN_KERNEL]));
    assert.deepEqual(actions(plan), [
      'alpha/h1 reprovision: stage 1 (install): kernel URL changed',
      'alpha/h2 reprovision: stage 1 (install): kernel URL changed',
      `alpha/h3 validate: ${REASON}`,
      'alpha/h4 skipped: never_provision is set',
      `beta/h5 validate: ${REASON}`,
    ]);
    assert.match(
      planText(plan, 'a', 'b'),
      new RegExp(
        `2 to reprovision, 2 to re-validate, 1 skipped\\n[\\s\\S]*validate +alpha/h3 +${REASON.replace(/[()]/g, '\\$&')}`,
      ),
    );
  });

  test("the listed workflow's definition changes (no host boots anything new): the listing hosts re-validate", async () => {
    const before = await model([ONE_STAGE_ON_TWO]);
    const after = await model([
      ONE_STAGE_ON_TWO,
      { file: 'workflows/two-stage.yml', replace: '  max_concurrent: 2', with: '  max_concurrent: 3' },
    ]);
    assert.deepEqual(actions(planModels(before, after)), [
      'alpha/h1 unchanged',
      'alpha/h2 unchanged',
      `alpha/h3 validate: ${REASON}`,
      'alpha/h4 skipped: never_provision is set',
      `beta/h5 validate: ${REASON}`,
    ]);
    // Key order is not a change.
    const reordered = await model([
      ONE_STAGE_ON_TWO,
      {
        file: 'workflows/two-stage.yml',
        write: 'policy:\n  max_concurrent: 2\nboots: [install, configure]\n',
      },
    ]);
    assert.ok(planModels(before, reordered).hosts.every((h) => h.action !== 'validate'));
  });

  test('a host that must be reprovisioned anyway stays a reprovision; nothing changed: nothing re-validates', async () => {
    const before = await model([ONE_STAGE_ON_TWO]);
    const plan = planModels(before, await model([ONE_STAGE_ON_TWO, TINY_KERNEL]));
    assert.equal(plan.hosts.find((h) => h.host === 'h3')?.action, 'reprovision');
    assert.ok(plan.hosts.every((h) => h.action !== 'validate'));
    assert.ok(planModels(before, before).hosts.every((h) => h.action !== 'validate'));
    // Without validate_on, the same change leaves one-stage's hosts alone.
    const plain = planModels(await model([]), await model([DEBIAN_KERNEL]));
    assert.equal(plain.hosts.find((h) => h.host === 'h3')?.action, 'unchanged');
    // The first plan of all has nothing to compare: every host is added.
    assert.ok(planModels(null, before).hosts.every((h) => h.action !== 'validate'));
  });

  test('against what hosts reached: a two-stage host reached something older, so one-stage re-validates', async () => {
    const m = await model([ONE_STAGE_ON_TWO]);
    const renderer = createRenderer(m);
    const digest = (host: string) =>
      fingerprintHost(renderer.renderHost(m.hosts.find((h) => h.id === host)!).rendered!).digest;
    const reached = new Map([
      [hostKey('alpha', 'h1'), 'sha256:older'],
      [hostKey('alpha', 'h2'), digest('h2')],
      [hostKey('alpha', 'h3'), digest('h3')],
      [hostKey('beta', 'h5'), digest('h5')],
    ]);
    assert.deepEqual(actions(planAgainst(m, reached)), [
      'alpha/h1 reprovision: what it would boot differs from what it last reached',
      'alpha/h2 unchanged',
      `alpha/h3 validate: ${REASON}`,
      'alpha/h4 skipped: never_provision is set',
      `beta/h5 validate: ${REASON}`,
    ]);
    reached.set(hostKey('alpha', 'h1'), digest('h1'));
    assert.ok(planAgainst(m, reached).hosts.every((h) => h.action === 'unchanged' || h.action === 'skipped'));
  });
});
