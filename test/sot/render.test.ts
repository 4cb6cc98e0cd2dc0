// The renderer on small SoTs written from scratch: command lines, the iPXE script, every config type, and the
// template sandbox (strict variables, snippets only from the model, no prototype access).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cmdlineEntryProblem, joinCmdline, mapEntryText } from '../../sot/cmdline.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { ipxeImageName } from '../../sot/ipxe-script.ts';
import { loadSot } from '../../sot/load.ts';
import type { SotModel } from '../../sot/model.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER, createRenderer } from '../../sot/render.ts';
import type { HostRenderResult } from '../../sot/render.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** One site, one host `node-01` on a one-stage workflow of boot `b` on os `o`; tests override files. */
const BASE: Record<string, string> = {
  'sites/lab/env.yml': [
    'subnets:',
    '  - { id: lab-net, cidr: 10.77.1.0/24, gateway: 10.77.1.1, domain: lab.example }',
    'agents:',
    '  - { id: a1, http_url: "http://10.77.1.1:8080", dhcp_mode: server }',
    'metadata: { timezone: Etc/UTC }',
  ].join('\n'),
  'sites/lab/hosts.yml': [
    'name: node-01',
    'workflow: w',
    'metadata: { ssh_key: key-1 }',
    'interfaces:',
    '  - { type: physical, mac: "52:54:00:AA:01:02", subnet: lab-net, ipv4: 10.77.1.10 }',
  ].join('\n'),
  'workflows/w.yml': 'boots: [b]\n',
  'os/o.yml': 'kernel: "{{ urls.assets }}/linux"\ninitrds: ["{{ urls.assets }}/initrd.gz"]\n',
  'boot/b.yml': 'os: o\n',
};

async function model(files: Record<string, string>): Promise<SotModel> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaquero-render-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries({ ...BASE, ...files })) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  const { model: m, diagnostics } = await loadSot(dir);
  assert.deepEqual(diagnostics.map(formatDiagnostic), [], 'the test SoT itself must load');
  return m;
}

async function render(files: Record<string, string>, host = 'node-01'): Promise<HostRenderResult> {
  const m = await model(files);
  const h = m.hosts.find((x) => x.id === host);
  assert.ok(h, `host ${host}`);
  return createRenderer(m).renderHost(h);
}

function messages(r: HostRenderResult): string[] {
  return r.diagnostics.map(formatDiagnostic);
}

async function renderOk(files: Record<string, string>) {
  const r = await render(files);
  assert.deepEqual(messages(r), []);
  assert.ok(r.rendered);
  return r.rendered;
}

describe('kernel command line', () => {
  test('entry rules: kernel quoting allowed, iPXE syntax refused', () => {
    for (const ok of [
      'quiet',
      'k=v',
      'k=',
      'console=ttyS0,115200',
      'k="a b"',
      '"k=a b"',
      'a=#b',
      'x=1;2',
      'k="a|b"',
    ]) {
      assert.equal(cmdlineEntryProblem(ok), undefined, ok);
    }
    for (const bad of [
      'a b',
      'k=a\tb',
      'k="a  b"',
      'k="a',
      'k="a # b"',
      'k="a ; b"',
      'k="a && b"',
      'x\r',
      '#x',
    ]) {
      assert.notEqual(cmdlineEntryProblem(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(mapEntryText('k', null), 'k');
    assert.equal(mapEntryText('k', ''), 'k=');
    assert.equal(joinCmdline(['a', '', 'b', 'a']), 'a b a');
    assert.equal(ipxeImageName('http://h.example/a/b/initrd.gz?x=/y#z'), 'initrd.gz');
  });

  test('OS entries then boot entries, in order, repeated keys kept, maps and bare keys', async () => {
    const r = await renderOk({
      'os/o.yml': [
        'kernel: http://m.example/linux',
        'cmdline:',
        '  - console=tty0',
        '  - console=ttyS0,115200',
        '  - quiet',
        '  - { auto: "true" }',
        '  - { panic: -1 }',
        '  - { nomodeset: null }',
        '  - "k=\\"a b\\""',
      ].join('\n'),
      'boot/b.yml':
        'os: o\ncmdline:\n  - console=ttyS1\n  - "host={{ host.name }}"\n  - { url: "{{ urls.config }}" }\n',
    });
    assert.equal(
      r.stages[0]!.cmdline,
      'console=tty0 console=ttyS0,115200 quiet auto=true panic=-1 nomodeset k="a b" console=ttyS1 host=node-01 ' +
        'url=http://10.77.1.1:8080/config/52:54:00:aa:01:02?stage=1',
    );
  });

  test('an entry that renders empty is left out, without a double space', async () => {
    const r = await renderOk({
      'os/o.yml':
        'kernel: http://m.example/linux\ncmdline: [a, "{% if metadata.debug %}debug{% endif %}", b]\n',
    });
    assert.equal(r.stages[0]!.cmdline, 'a b');
  });

  test('whitespace, newlines and iPXE syntax are refused at the YAML node', async () => {
    const r = await render({
      'sites/lab/hosts.yml': [
        'name: node-01',
        'workflow: w',
        'metadata: { evil: "x\\nshell", spaced: "a b" }',
        'interfaces:',
        '  - { type: physical, mac: "52:54:00:aa:01:02", subnet: lab-net, ipv4: 10.77.1.10 }',
      ].join('\n'),
      'os/o.yml': [
        'kernel: http://m.example/linux',
        'cmdline:',
        '  - "a={{ metadata.evil }}"',
        '  - { b: "{{ metadata.spaced }}" }',
        '  - "c=\\"x || y\\""',
        '  - "d=${net0/ip}"',
        '  - "e=\\"unbalanced"',
      ].join('\n'),
    });
    assert.equal(r.rendered, undefined);
    assert.deepEqual(messages(r), [
      'os/o.yml:3:5: kernel command line entry "a=x\\nshell" for host node-01 (stage 1, boot b) contains a newline (it would start a new iPXE command)',
      'os/o.yml:4:10: kernel command line entry "b=a b" for host node-01 (stage 1, boot b) contains whitespace; quote the value as the kernel expects (k="a b")',
      'os/o.yml:5:5: kernel command line entry "c=\\"x || y\\"" for host node-01 (stage 1, boot b) contains "||", which iPXE would read as a command separator',
      'os/o.yml:6:5: kernel command line entry "d=${net0/ip}" for host node-01 (stage 1, boot b) contains "${", which iPXE would expand as a setting',
      'os/o.yml:7:5: kernel command line entry "e=\\"unbalanced" for host node-01 (stage 1, boot b) has an unbalanced double quote',
    ]);
  });
});

describe('iPXE script', () => {
  test('exact text: kernel with initrd= names and the command line, one initrd line each, boot', async () => {
    const r = await renderOk({
      'os/o.yml': [
        'kernel: "{{ urls.assets }}/debian/linux"',
        'initrds: ["{{ urls.assets }}/debian/initrd.gz", "http://cdn.example/fw/firmware.cpio.gz?v=2"]',
        'cmdline: [console=ttyS0]',
      ].join('\n'),
      'workflows/w.yml': 'boots: [b, b2]\n',
      'boot/b2.yml': 'os: o\n',
    });
    assert.equal(
      r.stages[1]!.ipxe,
      [
        '#!ipxe',
        '# vaquero: host node-01, stage 2 (b2)',
        'kernel http://10.77.1.1:8080/assets/debian/linux initrd=initrd.gz initrd=firmware.cpio.gz console=ttyS0',
        'initrd http://10.77.1.1:8080/assets/debian/initrd.gz',
        'initrd http://cdn.example/fw/firmware.cpio.gz?v=2',
        'boot',
        '',
      ].join('\n'),
    );
    assert.deepEqual(
      r.stages.map((s) => [s.index, s.boot, s.os]),
      [
        [1, 'b', 'o'],
        [2, 'b2', 'o'],
      ],
    );
  });

  test('no initrds and no command line: a bare kernel line', async () => {
    const r = await renderOk({ 'os/o.yml': 'kernel: http://m.example/linux\n' });
    assert.equal(
      r.stages[0]!.ipxe,
      '#!ipxe\n# vaquero: host node-01, stage 1 (b)\nkernel http://m.example/linux\nboot\n',
    );
  });

  test('two initrds with the same file name, and a URL that is no URL, are refused', async () => {
    const r = await render({
      'os/o.yml':
        'kernel: "linux {{ host.name }}"\ninitrds: [http://a.example/x/initrd, http://b.example/y/initrd]\n',
    });
    assert.deepEqual(messages(r), [
      'os/o.yml:1:9: kernel URL "linux node-01" for host node-01 (stage 1, boot b) contains whitespace or a control character',
      'os/o.yml:2:38: initrd URL "http://b.example/y/initrd" has the same file name "initrd" as another initrd; the kernel could not tell them apart',
    ]);
  });
});

describe('scope', () => {
  test('urls come from the agent serving the boot subnet; metadata merges site < os < boot < host', async () => {
    const r = await renderOk({
      'sites/lab/env.yml': [
        'subnets:',
        '  - { id: lab-net, cidr: 10.77.1.0/24 }',
        '  - { id: other, cidr: 10.78.0.0/16 }',
        'agents:',
        '  - { id: a0, http_url: "http://10.78.0.1", dhcp_mode: proxy, subnets: [other] }',
        '  - { id: a1, http_url: "http://10.77.1.1:8080/", dhcp_mode: server }',
        'metadata: { a: site, b: site, c: site, d: site, nested: { x: site, y: site } }',
      ].join('\n'),
      'os/o.yml': 'kernel: http://m.example/linux\nmetadata: { b: os, c: os, d: os }\n',
      'boot/b.yml': [
        'os: o',
        'metadata: { c: boot, d: boot }',
        'unattended: { type: untyped, template: t }',
      ].join('\n'),
      'sites/lab/hosts.yml': [
        'name: node-01',
        'workflow: w',
        'metadata: { d: host, nested: { y: host } }',
        'interfaces:',
        '  - { type: physical, mac: "52:54:00:AA:01:02", subnet: lab-net }',
      ].join('\n'),
      'assets/untyped/t': [
        '{{ urls.agent }} {{ urls.ipxe }} {{ urls.config }} {{ urls.assets }} {{ urls.checkpoint }}',
        '{{ metadata.a }} {{ metadata.b }} {{ metadata.c }} {{ metadata.d }} {{ metadata.nested.x }} {{ metadata.nested.y }}',
        '{{ stage.index }}/{{ stage.count }} {{ stage.boot }} {{ boot.id }} {{ os.id }} {{ os.kernel }} {{ boot.unattended.type }}',
        '{{ subnet.id }} {{ subnet.netmask }} [{{ subnet.gateway }}] {{ subnet.dns | size }} {{ interface.mac }} [{{ interface.ipv4 }}]',
        '{{ host.name }} {{ host.workflow }} {{ host.interfaces.size }} {{ site.id }} [{{ site.description }}] {{ site.agents[0].subnets | join: "," }}',
      ].join('\n'),
    });
    assert.equal(
      r.stages[0]!.config!.text,
      [
        `http://10.77.1.1:8080 http://10.77.1.1:8080/ipxe?mac=52:54:00:aa:01:02 http://10.77.1.1:8080/config/52:54:00:aa:01:02?stage=1 http://10.77.1.1:8080/assets http://10.77.1.1:8080/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}`,
        'site os boot host site host',
        '1/1 b b o http://m.example/linux untyped',
        'lab-net 255.255.255.0 [] 0 52:54:00:aa:01:02 []',
        'node-01 w 1 lab [] other',
      ].join('\n'),
    );
    assert.equal(r.mac, '52:54:00:aa:01:02');
    assert.equal(r.ipv4, undefined);
  });
});

describe('unattended configs', () => {
  const withConfig = (type: string, template: string, text: string, extra: Record<string, string> = {}) => ({
    'boot/b.yml': `os: o\nunattended: { type: ${type}, template: ${template} }\n`,
    [`assets/${type}/${template}`]: text,
    ...extra,
  });

  test('preseed with a snippet included without its extension', async () => {
    const r = await renderOk(
      withConfig('preseed', 'p.cfg', 'a {{ host.name }}\n{% include "net" %}z\n', {
        'assets/preseed/snippets/net.cfg': 'ip {{ interface.ipv4 }}\n',
      }),
    );
    assert.deepEqual(r.stages[0]!.config, {
      type: 'preseed',
      contentType: 'text/plain',
      text: 'a node-01\nip 10.77.1.10\nz\n',
    });
  });

  test('kickstart with a snippet included by its full name', async () => {
    const r = await renderOk(
      withConfig('kickstart', 'i.ks', '{% include "disk.ks" %}network --ip={{ interface.ipv4 }}\n', {
        'assets/kickstart/snippets/disk.ks': 'zerombr\n',
      }),
    );
    assert.deepEqual(r.stages[0]!.config, {
      type: 'kickstart',
      contentType: 'text/plain',
      text: 'zerombr\nnetwork --ip=10.77.1.10\n',
    });
  });

  test('cloud-config must start with #cloud-config', async () => {
    const ok = await renderOk(
      withConfig('cloud-config', 'c.yml', '#cloud-config\nhostname: {{ host.name }}\n'),
    );
    assert.deepEqual(ok.stages[0]!.config, {
      type: 'cloud-config',
      contentType: 'text/cloud-config',
      text: '#cloud-config\nhostname: node-01\n',
    });
    const bad = await render(withConfig('cloud-config', 'c.yml', '\n#cloud-config\n'));
    assert.deepEqual(messages(bad), [
      'assets/cloud-config/c.yml:1:1: rendered for host node-01 (stage 1, boot b): cloud-config must start with "#cloud-config" (cloud-init ignores it otherwise)',
    ]);
  });

  test('ignition is JSON, with {% render %} of a snippet that still sees the scope', async () => {
    const r = await renderOk(
      withConfig('ignition', 's.ign', '{"units": [{% render "unit" %}]}', {
        'assets/ignition/snippets/unit.ign': '{"name": "{{ host.name }}.service"}',
      }),
    );
    assert.equal(r.stages[0]!.config!.contentType, 'application/json');
    assert.deepEqual(JSON.parse(r.stages[0]!.config!.text), { units: [{ name: 'node-01.service' }] });
    const bad = await render(withConfig('ignition', 's.ign', '{\n"a": {{ host.name }}\n}'));
    assert.equal(bad.rendered, undefined);
    assert.equal(bad.diagnostics.length, 1);
    assert.match(
      formatDiagnostic(bad.diagnostics[0]!),
      /^assets\/ignition\/s\.ign:1:1: rendered for host node-01 \(stage 1, boot b\): Ignition config is not valid JSON: Unexpected token .*"\{ "a": node-01 \}"/,
    );
  });

  test('untyped is text/plain; tasks render command, args and env', async () => {
    const r = await renderOk({
      ...withConfig('untyped', 'u.txt', 'plain {{ site.id }}'),
      'boot/b.yml': [
        'os: o',
        'unattended: { type: untyped, template: u.txt }',
        'before_shutdown:',
        '  - { name: drain, image: "r.example/drain:1", command: [drain, "{{ host.name }}"], env: { IP: "{{ interface.ipv4 }}" } }',
        'validate:',
        '  - { name: ping, image: "r.example/ping:1", args: ["{{ interface.ipv4 }}"], timeout_s: 30, retries: 2 }',
      ].join('\n'),
    });
    const s = r.stages[0]!;
    assert.deepEqual(s.config, { type: 'untyped', contentType: 'text/plain', text: 'plain lab' });
    assert.deepEqual(s.beforeShutdown, [
      {
        name: 'drain',
        image: 'r.example/drain:1',
        command: ['drain', 'node-01'],
        args: [],
        env: { IP: '10.77.1.10' },
        timeout_s: 600,
        retries: 0,
      },
    ]);
    assert.deepEqual(s.validate, [
      {
        name: 'ping',
        image: 'r.example/ping:1',
        command: [],
        args: ['10.77.1.10'],
        env: {},
        timeout_s: 30,
        retries: 2,
      },
    ]);
  });
});

describe('template sandbox', () => {
  const untyped = (text: string, extra: Record<string, string> = {}) => ({
    'boot/b.yml': 'os: o\nunattended: { type: untyped, template: t.txt }\n',
    'assets/untyped/t.txt': text,
    ...extra,
  });

  test('an undefined variable is a diagnostic at its line and column in the template', async () => {
    const r = await render(untyped('line one\n  key {{ metadata.nope }}\n'));
    assert.equal(r.rendered, undefined);
    assert.deepEqual(messages(r), [
      'assets/untyped/t.txt:2:10: does not render for host node-01 (stage 1, boot b): undefined variable "metadata.nope"',
    ]);
  });

  test('an error inside a snippet points into the snippet', async () => {
    const r = await render(
      untyped('{% include "s" %}', { 'assets/untyped/snippets/s.txt': 'ok\n{{ host.nope }}' }),
    );
    assert.deepEqual(messages(r), [
      'assets/untyped/snippets/s.txt:2:4: does not render for host node-01 (stage 1, boot b): undefined variable "host.nope"',
    ]);
  });

  test("an include of a missing snippet, or of another type's snippet, is a diagnostic", async () => {
    const r = await render(untyped('a\n{% include "missing" %}', { 'assets/preseed/snippets/missing': 'x' }));
    assert.deepEqual(messages(r), [
      'assets/untyped/t.txt:2:1: does not render for host node-01 (stage 1, boot b): snippet "missing" not found in assets/untyped/snippets/',
    ]);
  });

  test('a snippet that includes itself is a diagnostic, not a crash', async () => {
    const r = await render(
      untyped('{% include "s" %}', { 'assets/untyped/snippets/s': 'x{% include "s" %}' }),
    );
    assert.deepEqual(messages(r), [
      'assets/untyped/snippets/s:1:2: does not render for host node-01 (stage 1, boot b): snippets include each other without end (or nest too deeply)',
    ]);
  });

  test('no way out to the file system', async () => {
    for (const name of ['../../boot/b.yml', '/etc/passwd', './t.txt']) {
      const r = await render(untyped(`{% include "${name}" %}`));
      assert.equal(r.rendered, undefined, name);
      assert.match(messages(r)[0]!, /not found in assets\/untyped\/snippets\//, name);
    }
  });

  test('prototype tricks get nothing', async () => {
    for (const expr of [
      'host.constructor',
      'host["constructor"]',
      'host.__proto__',
      'metadata.constructor.name',
      'host.name.constructor',
      'host.interfaces.first.constructor',
      'site.toString',
      'urls.hasOwnProperty',
    ]) {
      const r = await render(untyped(`{{ ${expr} }}`));
      assert.equal(r.rendered, undefined, expr);
      assert.match(messages(r)[0]!, /undefined variable/, expr);
    }
    // Filters that read properties do not see inherited ones either.
    const r = await renderOk(untyped('[{{ host.interfaces | map: "constructor" | join }}]'));
    assert.equal(r.stages[0]!.config!.text, '[]');
  });

  test('an unknown filter and a syntax error are diagnostics, not exceptions', async () => {
    const r1 = await render(untyped('x\n{{ host.name | shell }}'));
    assert.deepEqual(messages(r1), ['assets/untyped/t.txt:2:1: template syntax: undefined filter: shell']);
    const r2 = await render(untyped('{% if %}'));
    assert.equal(r2.rendered, undefined);
    assert.match(messages(r2)[0]!, /^assets\/untyped\/t\.txt:1:\d+: template syntax: /);
  });

  test('a failing field template is reported at its YAML node', async () => {
    const r = await render({
      'os/o.yml': 'kernel: http://m.example/linux\ninitrds:\n  - "{{ urls.nope }}/initrd"\n',
    });
    assert.deepEqual(messages(r), [
      'os/o.yml:3:5: does not render for host node-01 (stage 1, boot b): undefined variable "urls.nope"',
    ]);
  });

  test('unresolved references give short diagnostics, never an exception', async () => {
    const r1 = await render({ 'workflows/w.yml': 'boots: [b, nope]\n' });
    assert.deepEqual(messages(r1), ['workflows/w.yml:1:12: unknown boot "nope"']);
    const r2 = await render({ 'boot/b.yml': 'os: gone\n' });
    assert.deepEqual(messages(r2), ['boot/b.yml:1:5: unknown os "gone"']);
    const r3 = await render({ 'boot/b.yml': 'os: o\nunattended: { type: kickstart, template: none.ks }\n' });
    assert.deepEqual(messages(r3), ['boot/b.yml:2:42: unknown template assets/kickstart/none.ks']);
  });

  test('a runaway loop is stopped by the render limit', async () => {
    const r = await render(untyped('{% for i in (1..100000000000) %}{{ i }}{% endfor %}'));
    assert.equal(r.rendered, undefined);
    assert.equal(r.diagnostics.length, 1);
  });
});
