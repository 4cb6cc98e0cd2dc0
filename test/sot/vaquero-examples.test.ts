// The original Cisco Vaquero's example SoT (its vaquero-examples repository), rebuilt from its documentation after the
// steps of sot/FORMAT.md "Migrating from Cisco Vaquero": it keeps the original's layout, hosts, interfaces and
// workflows, and it validates, renders and plans through the functions `vaquero validate` and `plan` use.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { createRenderer } from '../../sot/render.ts';
import { planModels } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { runValidate } from '../../cli/commands/validate.ts';

const DIR = fileURLToPath(new URL('../fixtures/vaquero-examples', import.meta.url));

/** The original's files (vaquero-examples at v0.14.0); OS files are named after the original's ids. */
const ORIGINAL_LAYOUT = [
  'assets/cloud-config/etcd-proxy.yml',
  'assets/ignition/etcd.yml',
  'assets/ignition/snippets/etcd.yml',
  'assets/untyped/clevos-answers.provision',
  'boot/clevos.yml',
  'boot/etcd-master.yml',
  'boot/etcd-proxy.yml',
  'os/clevos-basic.yml',
  'os/coreos-1053.2.0-stable.yml',
  'sites/test-site/env.yml',
  'sites/test-site/inventory.yml',
  'workflows/clevos.yml',
  'workflows/etcd-master.yml',
  'workflows/etcd-proxy.yml',
];

/** The original inventory: host, workflow, and its interfaces' MACs (a BMC's too). */
const ORIGINAL_HOSTS = [
  ['host1', 'etcd-master', ['00:00:00:00:00:01', '00:00:00:00:01:01']],
  ['host2', 'etcd-master', ['00:00:00:00:00:02']],
  ['host3', 'etcd-master', ['00:00:00:00:00:03', '00:00:00:00:01:03']],
  ['proxy1', 'etcd-proxy', ['00:00:00:00:00:04', '00:00:00:00:00:14']],
  ['proxy2', 'etcd-proxy', ['00:00:00:00:00:05', '00:00:00:00:00:15']],
  ['clevos1', 'clevos', ['00:00:00:00:00:06', '00:00:00:00:01:06']],
];

async function files(dir: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await files(dir, rel)));
    else if (rel !== 'README.md') out.push(rel);
  }
  return out.sort();
}

test("the fixture keeps the original's layout and inventory", async () => {
  assert.deepEqual(await files(DIR), ORIGINAL_LAYOUT);
  const { model } = await validateSot(DIR);
  assert.deepEqual(
    model.hosts.map((h) => [h.id, h.spec.workflow, h.spec.interfaces.flatMap((i) => (i.mac ? [i.mac] : []))]),
    ORIGINAL_HOSTS,
  );
});

test('it validates with no problem and no warning', async () => {
  const { diagnostics, warnings } = await validateSot(DIR);
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(warnings, []);
  // And as `vaquero validate` says it (exit 0).
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    assert.equal(await runValidate(DIR, {}), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(out, 'ok: 6 hosts in 1 site, 3 workflows, 3 boots, 2 OSes, 3 templates, 1 snippet\n');
});

test("what the original's templates said, the migrated ones render", async () => {
  const { model } = await validateSot(DIR);
  const render = (name: string) => createRenderer(model).renderHost(model.hosts.find((h) => h.id === name)!);
  const host1 = render('host1').rendered!.stages[0]!;
  const ign = JSON.parse(host1.config!.text) as {
    systemd: { units: { name: string; dropins?: { contents: string }[] }[] };
  };
  const etcd = ign.systemd.units.find((u) => u.name === 'etcd2.service')!;
  assert.match(etcd.dropins![0]!.contents, /ETCD_NAME=node1"\n/);
  assert.match(etcd.dropins![0]!.contents, /ETCD_INITIAL_CLUSTER=node1=http:\/\/10\.10\.10\.10:2380,/);
  assert.equal(host1.kernel, 'http://127.0.0.1:24602/assets/stable/1053/2.0/coreos_production_pxe.vmlinuz');
  assert.equal(host1.cmdline, 'coreos.autologin');
  const proxy1 = render('proxy1').rendered!.stages[0]!.config!.text;
  assert.match(proxy1, /^#cloud-config\n/);
  assert.match(proxy1, /metadata: "role=etcd-proxy,vlan=1"/);
  assert.match(proxy1, /ip link set eth0 down[\s\S]*ip link set eth1 down/);
  assert.match(proxy1, /BindCarrier=eth0 eth1/);
  const clevos = render('clevos1').rendered!.stages[0]!;
  assert.match(
    clevos.cmdline,
    /clevos\.installer\.answers=http:\/\/127\.0\.0\.1:24602\/config\/00:00:00:00:00:06\?stage=1/,
  );
  assert.match(clevos.config!.text, /channel client gateway 192\.168\.1\.1\n/);
  // The root password the original kept in boot metadata is a reference the agent resolves.
  assert.match(clevos.config!.text, /password @@vaquero-secret:clevos-root:password@@/);
});

test("a first plan follows the original's policy: new hosts with a BMC are left alone", async () => {
  const { model } = await validateSot(DIR);
  const plan = planModels(null, model);
  const actions = Object.fromEntries(plan.hosts.map((h) => [h.host, h.action]));
  assert.deepEqual(actions, {
    clevos1: 'added',
    host1: 'skipped',
    host2: 'skipped',
    host3: 'skipped',
    proxy1: 'added',
    proxy2: 'added',
  });
});
