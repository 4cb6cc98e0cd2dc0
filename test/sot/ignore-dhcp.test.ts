// ignore_dhcp on a physical interface: the host boots from its first interface without it, the site model the
// agents get reserves that one and lists the ignored MACs, and a plan moves only what the boot really changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildSiteModel } from '../../activities/control/site-model.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { loadSot } from '../../sot/load.ts';
import type { SotModel } from '../../sot/model.ts';
import { planModels } from '../../sot/plan.ts';
import { createRenderer } from '../../sot/render.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const CLUSTER = 'sites/alpha/cluster.yml';
const H1_NIC = '  - { type: physical, mac: "52:54:00:00:01:01", subnet: a-net, ipv4: 10.1.0.11 }\n';

async function variant(edits: SotEdit[] = []): Promise<SotModel> {
  const dir = await copyWithEdits(BASE, edits, 'vaquero-ignore-dhcp-');
  assert.deepEqual((await validateSot(dir)).diagnostics.map(formatDiagnostic), []);
  const { model } = await loadSot(dir);
  return model;
}

/** h1 boots from a second NIC; its first one (the boot interface until now) is ignored. */
const FIRST_IGNORED: SotEdit = {
  file: CLUSTER,
  replace: H1_NIC,
  with:
    '  - { type: physical, mac: "52:54:00:00:01:01", subnet: a-net, ipv4: 10.1.0.11, ignore_dhcp: true }\n' +
    '  - { type: physical, mac: "52:54:00:00:01:11", subnet: a-net, ipv4: 10.1.0.21 }\n',
};

describe('ignore_dhcp', () => {
  test('the boot interface is the first physical interface without it', async () => {
    const model = await variant([FIRST_IGNORED]);
    const r = createRenderer(model).renderHost(model.hosts.find((h) => h.id === 'h1')!);
    assert.equal(r.rendered?.mac, '52:54:00:00:01:11');
  });

  test('the site model reserves the boot interface and lists the ignored MAC; other sites carry no list', async () => {
    const model = await variant([FIRST_IGNORED]);
    const alpha = buildSiteModel(model, 'sot', 'r1', 'alpha');
    const h1 = alpha.reservations.filter((r) => r.host === 'h1');
    assert.deepEqual(
      h1.map((r) => [r.mac, r.ipv4]),
      [['52:54:00:00:01:11', '10.1.0.21']],
    );
    assert.deepEqual(alpha.ignoredMacs, ['52:54:00:00:01:01']);
    assert.equal('ignoredMacs' in buildSiteModel(model, 'sot', 'r1', 'beta'), false);
  });

  test('ignoring a NIC that is not the boot interface reprovisions nobody', async () => {
    const extra: SotEdit = {
      file: CLUSTER,
      replace: H1_NIC,
      with: H1_NIC + '  - { type: physical, mac: "52:54:00:00:01:21", subnet: a-net }\n',
    };
    const ignored: SotEdit = {
      file: CLUSTER,
      replace: H1_NIC,
      with: H1_NIC + '  - { type: physical, mac: "52:54:00:00:01:21", subnet: a-net, ignore_dhcp: true }\n',
    };
    const plan = planModels(await variant([extra]), await variant([ignored]));
    assert.equal(plan.hosts.find((h) => h.host === 'h1')?.action, 'unchanged');
  });

  test('a never_provision host with every NIC ignored is valid and skipped, saying why', async () => {
    const h4: SotEdit = {
      file: CLUSTER,
      replace: 'ipv4: 10.1.0.14 }',
      with: 'ipv4: 10.1.0.14, ignore_dhcp: true }',
    };
    const model = await variant([h4]);
    const entry = planModels(null, model).hosts.find((h) => h.host === 'h4');
    assert.deepEqual([entry?.action, entry?.reasons], ['skipped', ['never_provision is set']]);
    assert.deepEqual(buildSiteModel(model, 'sot', 'r1', 'alpha').ignoredMacs, ['52:54:00:00:01:04']);
    assert.equal(
      buildSiteModel(model, 'sot', 'r1', 'alpha').reservations.some((r) => r.host === 'h4'),
      false,
    );
  });
});
