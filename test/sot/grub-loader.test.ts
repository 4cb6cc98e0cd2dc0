// GRUB as a boot loader in the SoT: `loader: ipxe | grub` per boot or per host, `secure_boot: true` hosts sent
// through GRUB; the per-host GRUB config rendered from the same OS profile as the iPXE script; every problem
// reported at its file and line. The served bootstrap and file names are in grub-config.ts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { fingerprintHost } from '../../sot/fingerprint.ts';
import { buildGrubConfig, GRUB_BOOTSTRAP, grubHostConfigPath, grubTftpPath } from '../../sot/grub-config.ts';
import { loadSot } from '../../sot/load.ts';
import { createRenderer } from '../../sot/render.ts';
import type { HostRenderResult } from '../../sot/render.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const HOST = [
  'name: node-01',
  'workflow: w',
  'interfaces:',
  '  - { type: physical, mac: "52:54:00:AA:01:02", subnet: lab-net, ipv4: 10.77.1.10 }',
];

const BASE: Record<string, string> = {
  'sites/lab/env.yml': [
    'subnets:',
    '  - { id: lab-net, cidr: 10.77.1.0/24, gateway: 10.77.1.1 }',
    'agents:',
    '  - { id: a1, http_url: "http://10.77.1.1:8080", dhcp_mode: server }',
  ].join('\n'),
  'sites/lab/hosts.yml': HOST.join('\n'),
  'workflows/w.yml': 'boots: [b]\n',
  'os/o.yml': [
    'kernel: "{{ urls.assets }}/debian/linux"',
    'initrds: ["{{ urls.assets }}/debian/initrd.gz", "{{ urls.assets }}/debian/firmware.cpio"]',
    'cmdline:',
    '  - console=ttyS0',
    '  - { callback: "{{ urls.checkpoint }}" }',
    '  - \'k="a b"\'',
    '  - { "$weird": "x" }',
  ].join('\n'),
  'boot/b.yml': 'os: o\n',
};

async function render(files: Record<string, string>): Promise<HostRenderResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaquero-grub-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries({ ...BASE, ...files })) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  const { model, diagnostics } = await loadSot(dir);
  const problems = diagnostics.map(formatDiagnostic);
  if (problems.length > 0) return { diagnostics };
  const host = model.hosts.find((h) => h.id === 'node-01');
  assert.ok(host);
  return createRenderer(model).renderHost(host);
}

const messages = (r: HostRenderResult): string[] => r.diagnostics.map(formatDiagnostic);

describe('loader: grub', () => {
  test('default: iPXE, and the rendering carries no GRUB fields (fingerprints of iPXE hosts unchanged)', async () => {
    const r = await render({});
    assert.deepEqual(messages(r), []);
    const stage = r.rendered!.stages[0]!;
    assert.equal(stage.loader, undefined);
    assert.equal(stage.grub, undefined);
    assert.ok(!('loader' in stage) && !('grub' in stage));
  });

  test("a boot's loader: grub renders the host's GRUB config from the same OS profile", async () => {
    const r = await render({ 'boot/b.yml': 'os: o\nloader: grub\n' });
    assert.deepEqual(messages(r), []);
    const stage = r.rendered!.stages[0]!;
    assert.equal(stage.loader, 'grub');
    const callback = stage.cmdline.split(' ').find((w) => w.startsWith('callback='))!;
    assert.equal(
      stage.grub,
      [
        '# vaquero: host node-01, stage 1 (b)',
        "echo 'vaquero: host node-01, stage 1 (b)'",
        // Kernel and initrds by TFTP from the agent, by their URL's path; words GRUB would split or expand quoted.
        `linux (tftp,10.77.1.1)/assets/debian/linux console=ttyS0 ${callback} 'k="a b"' '$weird=x'`,
        'initrd (tftp,10.77.1.1)/assets/debian/initrd.gz (tftp,10.77.1.1)/assets/debian/firmware.cpio',
        'boot',
        '',
      ].join('\n'),
    );
    // The iPXE script is still rendered (the same profile), and the command line is the one both boot.
    assert.match(stage.ipxe, /^kernel http:\/\/10\.77\.1\.1:8080\/assets\/debian\/linux /m);
    assert.ok(stage.grub!.includes(stage.cmdline.split(' ')[0]!));
  });

  test('the loader is not part of the fingerprint: moving a host to GRUB reprovisions nothing by itself', async () => {
    const ipxe = await render({});
    const grub = await render({ 'boot/b.yml': 'os: o\nloader: grub\n' });
    assert.equal(fingerprintHost(grub.rendered!).digest, fingerprintHost(ipxe.rendered!).digest);
  });

  test("secure_boot: true sends the host through GRUB; the host's loader wins over the boot's", async () => {
    const sb = await render({ 'sites/lab/hosts.yml': [...HOST, 'secure_boot: true'].join('\n') });
    assert.deepEqual(messages(sb), []);
    assert.equal(sb.rendered!.stages[0]!.loader, 'grub');
    const hostWins = await render({
      'sites/lab/hosts.yml': [...HOST, 'loader: grub'].join('\n'),
      'boot/b.yml': 'os: o\nloader: ipxe\n',
    });
    assert.deepEqual(messages(hostWins), []);
    assert.equal(hostWins.rendered!.stages[0]!.loader, 'grub');
  });

  test('secure_boot with loader ipxe is refused at the host, naming where ipxe comes from', async () => {
    const own = await render({
      'sites/lab/hosts.yml': [...HOST, 'secure_boot: true', 'loader: ipxe'].join('\n'),
    });
    assert.deepEqual(messages(own), [
      "sites/lab/hosts.yml:5:14: secure_boot: true needs loader grub (signed shim and GRUB; Debian ships no signed iPXE), but the host's loader: ipxe",
    ]);
    const viaBoot = await render({
      'sites/lab/hosts.yml': [...HOST, 'secure_boot: true'].join('\n'),
      'boot/b.yml': 'os: o\nloader: ipxe\n',
    });
    assert.equal(viaBoot.rendered, undefined);
    assert.match(
      messages(viaBoot)[0]!,
      /^sites\/lab\/hosts\.yml:5:14: .*boot "b" \(boot\/b\.yml:2\) says loader: ipxe$/,
    );
  });

  test('an unknown loader is refused at its line', async () => {
    const r = await render({ 'boot/b.yml': 'os: o\nloader: pxelinux\n' });
    const m = messages(r);
    assert.equal(m.length, 1, m.join('\n'));
    assert.match(m[0]!, /^boot\/b\.yml:2:\d+: .*loader/);
  });

  test('every kernel, initrd or word GRUB cannot use is reported at once, each at its line', async () => {
    const r = await render({
      'boot/b.yml': 'os: o\nloader: grub\ncmdline: ["it\'s"]\n',
      'os/o.yml': [
        'kernel: http://mirror.example/debian/linux',
        'initrds: ["{{ urls.assets }}/initrd.gz?v=2"]',
      ].join('\n'),
    });
    assert.equal(r.rendered, undefined);
    const m = messages(r);
    assert.equal(m.length, 3, m.join('\n'));
    assert.match(m[0]!, /^boot\/b\.yml:3:\d+: kernel command line entry "it's" .*single quote/);
    assert.match(
      m[1]!,
      /^os\/o\.yml:1:\d+: kernel URL .* \(loader grub\) is not on the agent \(10\.77\.1\.1\)/,
    );
    assert.match(m[2]!, /^os\/o\.yml:2:\d+: initrd URL .* is not an http URL with a path and no query/);
  });
});

describe('GRUB config files', () => {
  test('the bootstrap sources the host file named by the MAC GRUB booted from, else back to the firmware', () => {
    assert.equal(grubHostConfigPath('52:54:00:AA:01:02'), 'grub/hosts/52:54:00:aa:01:02.cfg');
    assert.match(GRUB_BOOTSTRAP, /^source \$prefix\/hosts\/\$\{net_default_mac\}\.cfg$/m);
    assert.match(GRUB_BOOTSTRAP, /\nexit\n$/);
  });

  test('paths: percent-escapes decoded, ports dropped, nothing but the agent', () => {
    assert.deepEqual(grubTftpPath('http://10.0.0.1:8080/assets/a%20b', '10.0.0.1'), {
      ok: false,
      problem: 'has whitespace in its path',
    });
    assert.deepEqual(grubTftpPath('http://10.0.0.1:8080/assets/k%2Bv', '10.0.0.1'), {
      ok: true,
      path: '(tftp,10.0.0.1)/assets/k+v',
    });
    assert.equal(grubTftpPath('tftp://10.0.0.1/x', '10.0.0.1').ok, false);
  });

  test('no initrds: no initrd line', () => {
    const text = buildGrubConfig({
      host: 'h',
      stageIndex: 2,
      boot: 'b',
      kernel: '(tftp,10.0.0.1)/k',
      initrds: [],
      cmdlineWords: ['quiet'],
    });
    assert.ok(!/^initrd/m.test(text));
    assert.match(text, /^linux \(tftp,10\.0\.0\.1\)\/k quiet\nboot\n$/m);
  });
});
