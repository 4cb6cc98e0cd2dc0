// Maintenance windows in the SoT: `vaquero validate` refuses every bad window and zone with its file:line, and
// `vaquero plan` says when a windowed workflow's hosts will start (sot/plan.ts), at a given clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { planModels } from '../../sot/plan.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));

async function withPolicy(workflowPolicy: string, sitePolicy = '') {
  const dir = await copyWithEdits(
    BASE,
    [
      { file: 'workflows/one-stage.yml', write: `boots: [smoke]\npolicy:\n${workflowPolicy}` },
      ...(sitePolicy
        ? [
            {
              file: 'sites/alpha/env.yml',
              replace: '  max_concurrent: 5',
              with: `  max_concurrent: 5\n${sitePolicy}`,
            },
          ]
        : []),
    ],
    'vaquero-windows-',
  );
  return validateSot(dir);
}

test('every bad window and an unknown zone are refused with file:line', async () => {
  const { diagnostics } = await withPolicy(
    [
      '  windows:',
      '    - "Sat 22:00-Sun 04:00"',
      '    - "Sab 22:00-Sun 04:00"',
      '    - "Wed 25:00-26:00"',
      '    - "Wed 01:00-01:00"',
      '    - "whenever"',
      '  time_zone: Europe/Berlinn',
      '',
    ].join('\n'),
    '  windows: ["Fri 22:00-Fry 23:00"]\n  time_zone: UTC',
  );
  const lines = diagnostics.map(formatDiagnostic);
  const has = (re: RegExp) =>
    assert.ok(
      lines.some((l) => re.test(l)),
      `${re} in\n${lines.join('\n')}`,
    );
  has(/workflows\/one-stage\.yml:5:\d+: .*"Sab" is not a day/);
  has(/workflows\/one-stage\.yml:6:\d+: .*"25:00" is not a time/);
  has(/workflows\/one-stage\.yml:7:\d+: .*zero length/);
  has(/workflows\/one-stage\.yml:8:\d+: .*is not a window like/);
  has(/workflows\/one-stage\.yml:9:\d+: .*not a time zone/);
  has(/sites\/alpha\/env\.yml:\d+:\d+: .*"Fry" is not a day/);
  assert.ok(!lines.some((l) => /:4:\d+/.test(l) && l.includes('one-stage')), 'the good window is accepted');
});

test('good windows validate, and the plan says when hosts start', async () => {
  const { model, diagnostics } = await withPolicy(
    '  windows: ["Sat 22:00-Sun 04:00", "wednesday 01:00-03:00"]\n  time_zone: Europe/Berlin\n',
  );
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  const hostOf = (now: string) => {
    const plan = planModels(null, model, Date.parse(now));
    const e = plan.hosts.find(
      (h) => h.action === 'added' && model.hosts.find((x) => x.id === h.host)?.spec.workflow === 'one-stage',
    );
    assert.ok(e, 'a one-stage host is planned');
    return e.reasons.join('; ');
  };
  // Saturday 2026-03-07 12:00 UTC: closed; opens at 22:00 Berlin.
  assert.match(
    hostOf('2026-03-07T12:00:00Z'),
    /starts in the next maintenance window: Sat 2026-03-07 22:00 Europe\/Berlin \(workflow one-stage: Sat 22:00-Sun 04:00, wednesday 01:00-03:00 Europe\/Berlin\)/,
  );
  assert.match(hostOf('2026-03-07T22:00:00Z'), /maintenance window open now \(workflow one-stage/);
  // Hosts of a workflow without windows say nothing about them.
  const plan = planModels(null, model, Date.parse('2026-03-07T12:00:00Z'));
  const other = plan.hosts.find(
    (h) => model.hosts.find((x) => x.id === h.host)?.spec.workflow !== 'one-stage',
  );
  if (other) assert.ok(!other.reasons.join().includes('maintenance window'));
});
