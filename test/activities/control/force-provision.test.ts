// policy.force_provision in the rollout's plan (activities/control/rollout-plan.ts): with it off, a host vaquero
// never ran that has a BMC is left alone (counted as skipped, on no page); one without a BMC, one with a run of its
// own, and every host under an operator's force are planned as before. Visibility is a fake client's list.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { PreparedHost, PreparedRevision } from '../../../activities/control/prepared-revisions.ts';
import { planRollout, rolloutPlanPage } from '../../../activities/control/rollout-plan.ts';
import { formatDiagnostic } from '../../../sot/diagnostics.ts';
import { fingerprintHost } from '../../../sot/fingerprint.ts';
import { createRenderer } from '../../../sot/render.ts';
import { validateSot } from '../../../sot/validate.ts';
import { copyWithEdits } from '../../../testkit/sot-copy.ts';
import type { SotEdit } from '../../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../../fixtures/plan/base', import.meta.url));
const CLUSTER = 'sites/alpha/cluster.yml';

/** The plan fixture with site alpha's force_provision set as given, and h3 without its BMC. */
async function revision(force: boolean | undefined): Promise<PreparedRevision> {
  const edits: SotEdit[] = [
    { file: CLUSTER, replace: '  - { type: bmc, driver: sim, address: sim-h3 }\n', with: '' },
  ];
  if (force !== undefined) {
    edits.push({
      file: 'sites/alpha/env.yml',
      replace: '  max_concurrent: 5',
      with: `  max_concurrent: 5\n  force_provision: ${force}`,
    });
  }
  const { model, diagnostics } = await validateSot(await copyWithEdits(BASE, edits, 'vaquero-force-'));
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  const renderer = createRenderer(model);
  const hosts = new Map<string, PreparedHost>();
  for (const entity of model.hosts) {
    const rendered = renderer.renderHost(entity).rendered!;
    hosts.set(`${entity.site}/${entity.id}`, {
      entity,
      rendered,
      fingerprint: fingerprintHost(rendered).digest,
    });
  }
  return { sot: 'lab', revision: 'r2', model, hosts, warnings: [] };
}

/** Visibility holds one run: h2's, completed at an older fingerprint. */
const client = {
  workflow: {
    async *list(): AsyncIterable<WorkflowExecutionInfo> {
      yield {
        workflowId: 'host/alpha/h2',
        startTime: new Date(0),
        status: { name: 'COMPLETED' },
        memo: { reached: 'sha256:old', revision: 'r1', sot: 'lab' },
      } as unknown as WorkflowExecutionInfo;
    },
  },
} as unknown as Client;

const source = { kind: 'dir', dir: '/nowhere' } as never;

async function planned(force: boolean | undefined, operatorForce = false) {
  const rev = await revision(force);
  const summary = await planRollout(client, rev, {
    sot: 'lab',
    revision: 'r2',
    source,
    ...(operatorForce ? { force: true } : {}),
  });
  const pages: string[] = [];
  for (const g of summary.groups) {
    const page = await rolloutPlanPage(client, rev, {
      sot: 'lab',
      revision: 'r2',
      workflow: g.workflow,
      site: g.site,
      limit: 100,
      ...(operatorForce ? { force: true } : {}),
    });
    pages.push(...page.hosts.map((h) => `${h.site}/${h.host} ${h.action}: ${h.reasons.join('; ')}`));
  }
  return { summary, pages: pages.sort() };
}

describe('policy.force_provision in the rollout plan', () => {
  test('off: a new host with a BMC is left alone; a new one without a BMC and a known one are planned', async () => {
    const { summary, pages } = await planned(false);
    assert.deepEqual(pages, [
      'alpha/h2 reprovision: boot changed since revision r1',
      'alpha/h3 added: never provisioned by vaquero',
      'beta/h5 added: never provisioned by vaquero',
    ]);
    assert.equal(summary.total, 3);
    // h1 held, h4 never_provision.
    assert.deepEqual(summary.counts, { unchanged: 0, skipped: 2, removed: 0 });
  });

  test('on, and unset (the default): every new host is planned', async () => {
    for (const force of [true, undefined]) {
      const { summary, pages } = await planned(force);
      assert.deepEqual(pages, [
        'alpha/h1 added: never provisioned by vaquero',
        'alpha/h2 reprovision: boot changed since revision r1',
        'alpha/h3 added: never provisioned by vaquero',
        'beta/h5 added: never provisioned by vaquero',
      ]);
      assert.deepEqual(summary.counts, { unchanged: 0, skipped: 1, removed: 0 }, String(force));
    }
  });

  test("an operator's force plans the held host anyway", async () => {
    const { pages } = await planned(false, true);
    assert.ok(pages.includes('alpha/h1 added: forced by operator'), pages.join('\n'));
  });
});
