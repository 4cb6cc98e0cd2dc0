// Plans between copies of test/fixtures/plan/base: exactly the hosts whose boot changes are reprovisioned, with
// specific reasons, and YAML that moves without changing a boot reprovisions nobody.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { fingerprintHost } from '../../sot/fingerprint.ts';
import { loadSot } from '../../sot/load.ts';
import type { SotModel } from '../../sot/model.ts';
import { hostKey, NO_BMC_REASON, planAgainst, planModels } from '../../sot/plan.ts';
import type { Plan } from '../../sot/plan.ts';
import { createRenderer } from '../../sot/render.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));

/** A copy of the fixture with `edits` applied, loaded (and required to load cleanly). */
async function variant(edits: SotEdit[] = []): Promise<SotModel> {
  const { model, diagnostics } = await loadSot(await copyWithEdits(BASE, edits, 'vaquero-plan-'));
  assert.deepEqual(diagnostics.map(formatDiagnostic), []);
  return model;
}

/** Only the hosts that are not unchanged, as "site/host action: reasons". */
function changes(plan: Plan): string[] {
  return plan.hosts
    .filter((h) => h.action !== 'unchanged')
    .map((h) => `${h.site}/${h.host} ${h.action}: ${h.reasons.join('; ')}`);
}

const SKIPPED_H4 = 'alpha/h4 skipped: never_provision is set';

describe('planModels', () => {
  test('the same SoT: everything unchanged except the never_provision host', async () => {
    const plan = planModels(await variant(), await variant());
    assert.deepEqual(
      plan.hosts.map((h) => [h.site, h.host, h.action]),
      [
        ['alpha', 'h1', 'unchanged'],
        ['alpha', 'h2', 'unchanged'],
        ['alpha', 'h3', 'unchanged'],
        ['alpha', 'h4', 'skipped'],
        ['beta', 'h5', 'unchanged'],
      ],
    );
    assert.deepEqual(changes(plan), [SKIPPED_H4]);
  });

  test("an OS's kernel URL reprovisions exactly the hosts with a stage on it", async () => {
    const to = await variant([
      { file: 'os/debian.yml', replace: '/debian/linux', with: '/debian/linux-6.1' },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stage 1 (install): kernel URL changed',
      'alpha/h2 reprovision: stage 1 (install): kernel URL changed',
      SKIPPED_H4,
    ]);
  });

  test('an OS used by every workflow reprovisions every host', async () => {
    const to = await variant([{ file: 'os/tiny.yml', replace: 'initrd.img', with: 'initrd-2.img' }]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stage 2 (configure): initrds changed',
      'alpha/h2 reprovision: stage 2 (configure): initrds changed',
      'alpha/h3 reprovision: stage 1 (smoke): initrds changed',
      SKIPPED_H4,
      'beta/h5 reprovision: stage 1 (smoke): initrds changed',
    ]);
  });

  test('metadata a template reads reprovisions that host only', async () => {
    const to = await variant([
      { file: 'sites/alpha/cluster.yml', replace: 'ssh_key: key-one', with: 'ssh_key: key-new' },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stage 1 (install): unattended config changed',
      SKIPPED_H4,
    ]);
  });

  test('a command-line change names the command line', async () => {
    const to = await variant([
      {
        file: 'boot/install.yml',
        replace: '- hostname={{ host.name }}',
        with: '- hostname={{ host.name }}.x',
      },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stage 1 (install): kernel command line changed',
      'alpha/h2 reprovision: stage 1 (install): kernel command line changed',
      SKIPPED_H4,
    ]);
  });

  test('a task change names the tasks', async () => {
    const to = await variant([{ file: 'boot/configure.yml', replace: 'ping:1', with: 'ping:2' }]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stage 2 (configure): before_shutdown/validate tasks changed',
      'alpha/h2 reprovision: stage 2 (configure): before_shutdown/validate tasks changed',
      SKIPPED_H4,
    ]);
  });

  test('metadata no template reads, policies, descriptions and comments reprovision nobody', async () => {
    const to = await variant([
      { file: 'sites/alpha/cluster.yml', replace: 'rack: r1', with: 'rack: r9, owner: someone' },
      {
        file: 'sites/alpha/env.yml',
        replace: 'location: building 1 # read by no template',
        with: 'location: building 2',
      },
      { file: 'sites/alpha/env.yml', replace: 'max_concurrent: 5', with: 'max_concurrent: 50' },
      {
        file: 'workflows/two-stage.yml',
        replace: 'max_concurrent: 2',
        with: 'max_concurrent: 3\n  max_fail: 1',
      },
      {
        file: 'os/debian.yml',
        replace: 'mirror: deb.example',
        with: 'mirror: deb.example # the mirror\n  suite: bookworm',
      },
      {
        file: 'boot/configure.yml',
        replace: 'packages: [curl]',
        with: 'packages: [curl]\n  purpose: nothing',
      },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [SKIPPED_H4]);
  });

  test('reordering YAML documents and keys changes nothing', async () => {
    const cluster = await readFile(path.join(BASE, 'sites/alpha/cluster.yml'), 'utf8');
    const reordered = cluster.split('\n---\n').reverse().join('\n---\n');
    const to = await variant([
      { file: 'sites/alpha/cluster.yml', write: reordered },
      {
        file: 'os/debian.yml',
        write: [
          'metadata:',
          '  mirror: deb.example',
          'cmdline:',
          '  - console=tty0',
          '  - console=ttyS0,115200',
          '  - quiet',
          '  - { auto: "true" }',
          '  - { nomodeset: null }',
          'initrds: ["{{ urls.assets }}/debian/initrd.gz"]',
          'kernel: "{{ urls.assets }}/debian/linux"',
        ].join('\n'),
      },
      {
        file: 'boot/install.yml',
        replace: 'env: { SITE: "{{ site.id }}" }, timeout_s: 300',
        with: 'timeout_s: 300, env: { SITE: "{{ site.id }}" }',
      },
    ]);
    const plan = planModels(await variant(), to);
    assert.deepEqual(changes(plan), [SKIPPED_H4]);
    assert.equal(plan.hosts.length, 5);
  });

  test('added, removed and skipped hosts', async () => {
    const to = await variant([
      {
        file: 'sites/beta/rack.yml',
        write: [
          'name: h6',
          'workflow: one-stage',
          'interfaces:',
          '  - { type: physical, mac: "52:54:00:00:02:06", subnet: b-net, ipv4: 10.2.0.16 }',
        ].join('\n'),
      },
      {
        file: 'sites/alpha/cluster.yml',
        replace: 'workflow: one-stage\nmetadata: { rack: r3 }',
        with: 'workflow: one-stage\nnever_provision: true\nmetadata: { rack: r3 }',
      },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h3 skipped: never_provision is set',
      SKIPPED_H4,
      'beta/h5 removed: no longer in the SoT',
      `beta/h6 added: new host; ${NO_BMC_REASON}`,
    ]);
  });

  test('with no previous revision every host is added (never_provision ones skipped)', async () => {
    assert.deepEqual(changes(planModels(null, await variant())), [
      'alpha/h1 added: no previous revision',
      'alpha/h2 added: no previous revision',
      'alpha/h3 added: no previous revision',
      SKIPPED_H4,
      'beta/h5 added: no previous revision',
    ]);
  });

  test('a changed stage list is named, with the stages before and after', async () => {
    const to = await variant([
      { file: 'workflows/two-stage.yml', replace: 'boots: [install, configure]', with: 'boots: [install]' },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      'alpha/h1 reprovision: stages changed: install, configure -> install',
      'alpha/h2 reprovision: stages changed: install, configure -> install',
      SKIPPED_H4,
    ]);
  });

  test('a host moved to another site', async () => {
    const cluster = await readFile(path.join(BASE, 'sites/alpha/cluster.yml'), 'utf8');
    const docs = cluster.split('\n---\n');
    const h3 = docs.find((d) => d.includes('name: h3'))!;
    const to = await variant([
      { file: 'sites/alpha/cluster.yml', write: docs.filter((d) => d !== h3).join('\n---\n') },
      {
        file: 'sites/beta/moved.yml',
        write: h3.replace('subnet: a-net, ipv4: 10.1.0.13', 'subnet: b-net, ipv4: 10.2.0.13'),
      },
    ]);
    assert.deepEqual(changes(planModels(await variant(), to)), [
      SKIPPED_H4,
      'beta/h3 reprovision: moved from site alpha to beta; stage 1 (smoke): kernel command line changed; stage 1 (smoke): unattended config changed',
    ]);
  });

  test('a config added to a stage is named as added', async () => {
    const to = await variant([
      { file: 'boot/smoke.yml', replace: 'unattended:\n  type: ignition\n  template: smoke.ign\n', with: '' },
    ]);
    const from = await variant();
    assert.deepEqual(changes(planModels(to, from)).slice(0, 1), [
      'alpha/h3 reprovision: stage 1 (smoke): unattended config added',
    ]);
    assert.deepEqual(changes(planModels(from, to)).slice(0, 1), [
      'alpha/h3 reprovision: stage 1 (smoke): unattended config removed',
    ]);
  });
});

describe('planAgainst', () => {
  test('compares each host with the digest it last reached', async () => {
    const from = await variant();
    const renderer = createRenderer(from);
    const last = new Map<string, string>();
    for (const h of from.hosts) {
      const { rendered } = renderer.renderHost(h);
      if (rendered) last.set(hostKey(h.site, h.id), fingerprintHost(rendered).digest);
    }
    last.delete('alpha/h2');
    last.set('gamma/gone', 'sha256:00');
    const to = await variant([
      { file: 'sites/alpha/cluster.yml', replace: 'ssh_key: key-one', with: 'ssh_key: key-new' },
    ]);
    assert.deepEqual(changes(planAgainst(to, last)), [
      'alpha/h1 reprovision: what it would boot differs from what it last reached',
      'alpha/h2 added: has not reached any revision yet',
      SKIPPED_H4,
      'gamma/gone removed: no longer in the SoT',
    ]);
    assert.deepEqual(
      planAgainst(to, last)
        .hosts.filter((h) => h.action === 'unchanged')
        .map((h) => h.host),
      ['h3', 'h5'],
    );
  });
});

describe('fingerprintHost', () => {
  test('is stable across renderers and models, and sensitive to each part', async () => {
    const a = await variant();
    const b = await variant();
    const fp = (m: SotModel, name: string) => {
      const { rendered } = createRenderer(m).renderHost(m.hosts.find((h) => h.id === name)!);
      return fingerprintHost(rendered!);
    };
    assert.deepEqual(fp(a, 'h1'), fp(b, 'h1'));
    assert.match(fp(a, 'h1').digest, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(fp(a, 'h1').digest, fp(a, 'h2').digest);
    assert.deepEqual(Object.keys(fp(a, 'h1').stages[0]!.parts), [
      'ipxe',
      'kernel',
      'initrds',
      'cmdline',
      'config',
      'tasks',
    ]);
    // h3 and h5 boot the same files but from different sites' agents.
    assert.notEqual(fp(a, 'h3').stages[0]!.parts.cmdline, fp(a, 'h5').stages[0]!.parts.cmdline);
    assert.equal(fp(a, 'h3').stages[0]!.parts.kernel, fp(a, 'h5').stages[0]!.parts.kernel);
  });
});
