// Each case is a small mutation of the valid SoT in test/fixtures/sot/base, and asserts the EXACT list of
// diagnostics the validator prints for it: nothing missing, nothing extra, positions included.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';
import type { SotEdit } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/sot/base', import.meta.url));

type Edit = SotEdit;

/** A copy of the base SoT with `edits` applied. */
export function mutated(edits: Edit[]): Promise<string> {
  return copyWithEdits(BASE, edits);
}

export async function diagnosticsOf(dir: string): Promise<string[]> {
  return (await validateSot(dir)).diagnostics.map(formatDiagnostic);
}

const ENV = 'sites/lab/env.yml';
const RACK_A = 'sites/lab/rack-a.yml';
const RACK_B = 'sites/lab/rack-b.yml';

interface Case {
  name: string;
  edits: Edit[];
  expected: string[];
}

const cases: Case[] = [
  {
    name: 'YAML syntax error: only that document is lost, and nothing piles up on it',
    edits: [
      {
        file: RACK_A,
        replace: 'name: node-01\nworkflow: two-stage\nmetadata: { role: worker }',
        with: 'name: node-01\nworkflow: two-stage\nmetadata: { role: worker',
      },
    ],
    expected: [
      'sites/lab/rack-a.yml:4:1: YAML syntax: Flow map in block collection must be sufficiently indented and end with a }',
    ],
  },
  {
    name: 'YAML syntax error in an OS file: boots using it are not also told the OS is unknown',
    edits: [{ file: 'os/flatcar.yml', replace: 'cmdline:\n', with: 'cmdline:\n  - a: b: c\n' }],
    expected: ['os/flatcar.yml:4:8: YAML syntax: Nested mappings are not allowed in compact mappings'],
  },
  {
    name: 'missing required field',
    edits: [
      { file: RACK_B, replace: 'workflow: single\nnever_provision: true\n', with: 'never_provision: true\n' },
    ],
    expected: ['sites/lab/rack-b.yml:14:1: missing required field "workflow"'],
  },
  {
    name: 'unknown field',
    edits: [
      {
        file: RACK_B,
        replace: 'metadata: { role: storage }\n',
        with: 'metadata: { role: storage }\nrack: a3\n',
      },
    ],
    expected: ['sites/lab/rack-b.yml:4:1: unknown field "rack"'],
  },
  {
    name: 'wrong type',
    edits: [{ file: 'workflows/two-stage.yml', replace: 'max_concurrent: 2', with: 'max_concurrent: two' }],
    expected: ['workflows/two-stage.yml:3:19: "policy.max_concurrent" must be a number, got string "two"'],
  },
  {
    name: 'bad enum value',
    edits: [{ file: ENV, replace: 'dhcp_mode: server', with: 'dhcp_mode: relay' }],
    expected: [
      'sites/lab/env.yml:17:16: "agents[0].dhcp_mode" must be "server", "proxy"; got string "relay"',
    ],
  },
  {
    name: 'YAML files outside the layout: a misspelt folder, a host file too deep, x.yml beside x.yaml',
    edits: [
      { file: 'workflow/extra.yml', write: 'boots: [x]\n' },
      { file: 'sites/lab/old/rack-c.yml', write: 'name: x\n' },
      { file: 'os/debian-12.yaml', write: 'kernel: http://x/linux\n' },
      { file: 'docs/mkdocs.yml', write: 'site_name: docs\n' },
    ],
    expected: [
      'os/debian-12.yml:1:1: duplicate id "debian-12": os/debian-12.yaml defines it too',
      'sites/lab/old/rack-c.yml:1:1: not part of the SoT layout: site files are sites/<site>/<file>.yml',
      'workflow/extra.yml:1:1: not part of the SoT layout: folder "workflow" (did you mean "workflows"?)',
    ],
  },
  {
    name: 'password under a BMC interface',
    edits: [
      {
        file: RACK_A,
        replace: '    address: 10.10.1.12:623\n',
        with: '    address: 10.10.1.12:623\n    password: hunter2\n',
      },
    ],
    expected: [
      'sites/lab/rack-a.yml:30:5: interfaces[1].password: a BMC secret must not be in the SoT: name a credentials reference (credentials: NAME) resolved by the agent',
    ],
  },
  {
    name: 'token under the options of a BMC interface',
    edits: [
      {
        file: RACK_B,
        replace: 'options: { flaky_bmc: 0.1, stall_at: kernel }',
        with: 'options: { flaky_bmc: 0.1, stall_at: kernel, token: abc }',
      },
    ],
    expected: [
      'sites/lab/rack-b.yml:12:50: interfaces[1].options.token: a BMC secret must not be in the SoT: name a credentials reference (credentials: NAME) resolved by the agent',
    ],
  },
  {
    name: 'a secret nested deeper in BMC options, and a password inside a BMC URL',
    edits: [
      {
        file: RACK_B,
        replace: 'options: { flaky_bmc: 0.1, stall_at: kernel }',
        with: 'options: { flaky_bmc: 0.1, stall_at: kernel, auth: [{ user: a, Passwd: x }] }',
      },
      { file: RACK_A, replace: 'address: 10.10.1.12:623', with: 'address: https://admin:hunter2@10.10.1.12' },
    ],
    expected: [
      'sites/lab/rack-a.yml:29:14: interfaces[1].address holds user:password@: a BMC secret must not be in the SoT: name a credentials reference (credentials: NAME) resolved by the agent',
      'sites/lab/rack-b.yml:12:68: interfaces[1].options.auth[0].Passwd: a BMC secret must not be in the SoT: name a credentials reference (credentials: NAME) resolved by the agent',
    ],
  },
  {
    name: 'unknown workflow, with a suggestion',
    edits: [
      {
        file: RACK_A,
        replace: 'name: node-02\nworkflow: two-stage',
        with: 'name: node-02\nworkflow: tw-stage',
      },
    ],
    expected: ['sites/lab/rack-a.yml:19:11: unknown workflow "tw-stage" (did you mean "two-stage"?)'],
  },
  {
    name: 'unknown boot in a workflow',
    edits: [
      { file: 'workflows/two-stage.yml', replace: 'boots: [debian-install,', with: 'boots: [debian-instal,' },
    ],
    expected: ['workflows/two-stage.yml:1:9: unknown boot "debian-instal" (did you mean "debian-install"?)'],
  },
  {
    name: 'unknown OS in a boot, no close name',
    edits: [{ file: 'boot/flatcar-install.yml', replace: 'os: flatcar', with: 'os: rhel-9' }],
    expected: ['boot/flatcar-install.yml:1:5: unknown OS "rhel-9"'],
  },
  {
    name: 'unknown unattended template',
    edits: [{ file: 'boot/debian-install.yml', replace: 'template: base.cfg', with: 'template: base.cgf' }],
    expected: [
      'boot/debian-install.yml:5:13: unknown preseed template "base.cgf" (did you mean "base.cfg"?)',
    ],
  },
  {
    name: 'unattended template of the wrong type',
    edits: [{ file: 'boot/debian-install.yml', replace: 'type: preseed', with: 'type: kickstart' }],
    expected: [
      'boot/debian-install.yml:5:13: unknown kickstart template "base.cfg" (there is assets/preseed/base.cfg: is the type "preseed"?)',
    ],
  },
  {
    name: 'a snippet used as a template',
    edits: [
      {
        file: 'boot/debian-install.yml',
        replace: 'template: base.cfg',
        with: 'template: snippets/ssh-keys.liquid',
      },
    ],
    expected: [
      'boot/debian-install.yml:5:13: "snippets/ssh-keys.liquid" is a snippet, not a template: snippets are only for {% include %}',
    ],
  },
  {
    name: 'include of an unknown snippet, at the tag inside the template',
    edits: [
      {
        file: 'assets/preseed/base.cfg',
        replace: "{% include 'ssh-keys' %}",
        with: "  {% include 'ssh-key' %}",
      },
    ],
    expected: ['assets/preseed/base.cfg:4:3: unknown preseed snippet "ssh-key" (did you mean "ssh-keys"?)'],
  },
  {
    name: 'include of a snippet of another asset type',
    edits: [
      {
        file: 'assets/ignition/worker.ign',
        replace: '{\n  "ignition"',
        with: '{% render \'ssh-keys\' %}\n{\n  "ignition"',
      },
    ],
    expected: [
      'assets/ignition/worker.ign:1:1: unknown ignition snippet "ssh-keys" (assets/preseed/snippets/ssh-keys.liquid is for preseed templates only)',
    ],
  },
  {
    name: 'unknown include inside a snippet, and a cycle of snippets',
    edits: [
      {
        file: 'assets/preseed/snippets/ssh-keys.liquid',
        replace: 'd-i passwd',
        with: "{% include 'more' %}{% include 'gone' %}\nd-i passwd",
      },
      { file: 'assets/preseed/snippets/more.liquid', write: "x\n  {%- include 'ssh-keys.liquid' -%}\n" },
    ],
    expected: [
      'assets/preseed/snippets/more.liquid:2:3: snippet include cycle: ssh-keys.liquid -> more.liquid -> ssh-keys.liquid',
      'assets/preseed/snippets/ssh-keys.liquid:1:21: unknown preseed snippet "gone"',
    ],
  },
  {
    name: 'includes by file name, with render, in a comment or raw block, or built at render time are not checked as names',
    edits: [
      {
        file: 'assets/preseed/base.cfg',
        replace: "{% include 'ssh-keys' %}",
        with:
          "{% render 'ssh-keys.liquid' %}{% comment %}{% include 'old' %}{% endcomment %}" +
          "{% raw %}{% include 'literal' %}{% endraw %}{% include 'ssh-{{ \"keys\" }}' %}",
      },
    ],
    expected: [],
  },
  {
    name: 'an include that matches two snippets by name without extension',
    edits: [{ file: 'assets/preseed/snippets/ssh-keys.txt', write: 'd-i passwd/make-user boolean false\n' }],
    expected: [
      'assets/preseed/base.cfg:4:1: preseed snippet "ssh-keys" is ambiguous: ssh-keys.liquid, ssh-keys.txt',
    ],
  },
  {
    name: 'unknown block_deps workflow',
    edits: [
      { file: 'workflows/single.yml', replace: 'block_deps: [two-stage]', with: 'block_deps: [two-stages]' },
    ],
    expected: ['workflows/single.yml:3:16: unknown workflow "two-stages" (did you mean "two-stage"?)'],
  },
  {
    name: 'unknown subnet of an agent',
    edits: [{ file: ENV, replace: 'subnets: [prov]', with: 'subnets: [prov, provisioning]' }],
    expected: ['sites/lab/env.yml:18:21: unknown subnet "provisioning" in site lab'],
  },
  {
    name: 'unknown subnet of an interface (subnets of other sites do not count)',
    edits: [
      {
        file: RACK_B,
        replace: 'subnet: prov\n    ipv4: 10.10.0.14',
        with: 'subnet: core\n    ipv4: 10.10.0.14',
      },
      {
        file: 'sites/dc2/env.yml',
        write:
          'subnets:\n  - { id: core, cidr: 10.20.0.0/24 }\nagents:\n  - { id: dc2-agent, http_url: "http://10.20.0.2", dhcp_mode: proxy }\n',
      },
    ],
    expected: ['sites/lab/rack-b.yml:20:13: unknown subnet "core" in site lab'],
  },
  {
    name: 'duplicate host name',
    edits: [{ file: RACK_B, replace: 'name: node-03', with: 'name: node-01' }],
    expected: ['sites/lab/rack-b.yml:1:7: duplicate host name "node-01" (first at sites/lab/rack-a.yml:1:7)'],
  },
  {
    name: 'duplicate MAC across two files, in another case, and a BMC MAC reused by a physical interface',
    edits: [
      { file: RACK_B, replace: 'mac: 52:54:00:00:00:03', with: 'mac: 52:54:00:00:00:0A' },
      { file: RACK_B, replace: 'mac: 52:54:00:00:00:04', with: 'mac: 52:54:00:00:01:01' },
      { file: RACK_A, replace: 'mac: 52:54:00:00:00:01', with: 'mac: 52:54:00:00:00:0a' },
    ],
    expected: [
      'sites/lab/rack-b.yml:6:10: duplicate MAC 52:54:00:00:00:0a (first used by host node-01 at sites/lab/rack-a.yml:6:10)',
      'sites/lab/rack-b.yml:19:10: duplicate MAC 52:54:00:00:01:01 (first used by host node-01 at sites/lab/rack-a.yml:14:10)',
    ],
  },
  {
    name: 'duplicate IPv4, including a BMC address',
    edits: [
      { file: RACK_B, replace: 'ipv4: 10.10.0.13', with: 'ipv4: 10.10.0.11' },
      { file: RACK_A, replace: 'ipv4: 10.10.1.12', with: 'ipv4: 10.10.1.11' },
    ],
    expected: [
      'sites/lab/rack-a.yml:33:11: duplicate IPv4 10.10.1.11 (first used by host node-01 at sites/lab/rack-a.yml:16:11)',
      'sites/lab/rack-b.yml:8:11: duplicate IPv4 10.10.0.11 (first used by host node-01 at sites/lab/rack-a.yml:8:11)',
    ],
  },
  {
    name: 'duplicate subnet id and duplicate agent id',
    edits: [
      {
        file: ENV,
        replace: '  - id: oob\n    cidr: 10.10.1.0/24',
        with: '  - id: prov\n    cidr: 10.10.1.0/24',
      },
      {
        file: ENV,
        replace: '    subnets: [prov]\n',
        with: '    subnets: [prov]\n  - { id: lab-agent, http_url: "http://10.10.1.2", dhcp_mode: proxy }\n',
      },
    ],
    expected: [
      'sites/lab/env.yml:11:9: duplicate subnet id "prov" in site lab (first at sites/lab/env.yml:3:9)',
      'sites/lab/env.yml:19:11: duplicate agent id "lab-agent" (first in site lab at sites/lab/env.yml:15:9)',
      'sites/lab/rack-a.yml:15:13: unknown subnet "oob" in site lab',
      'sites/lab/rack-a.yml:32:13: unknown subnet "oob" in site lab',
    ],
  },
  {
    name: 'duplicate agent id in another site',
    edits: [
      {
        file: 'sites/dc2/env.yml',
        write:
          'subnets:\n  - { id: core, cidr: 10.20.0.0/24 }\nagents:\n  - { id: lab-agent, http_url: "http://10.20.0.2", dhcp_mode: proxy }\n',
      },
    ],
    expected: [
      'sites/lab/env.yml:15:9: duplicate agent id "lab-agent" (first in site dc2 at sites/dc2/env.yml:4:11)',
    ],
  },
  {
    name: 'interface IPv4 outside its subnet, on its network and broadcast address, and on the gateway',
    edits: [
      { file: RACK_A, replace: 'ipv4: 10.10.0.11', with: 'ipv4: 10.10.2.11' },
      { file: RACK_A, replace: 'ipv4: 10.10.0.12', with: 'ipv4: 10.10.0.0' },
      { file: RACK_B, replace: 'ipv4: 10.10.0.13', with: 'ipv4: 10.10.0.255' },
      { file: RACK_B, replace: 'ipv4: 10.10.0.14', with: 'ipv4: 10.10.0.1' },
    ],
    expected: [
      'sites/lab/rack-a.yml:8:11: ipv4 10.10.2.11 is outside subnet prov (10.10.0.0/24)',
      'sites/lab/rack-a.yml:25:11: ipv4 10.10.0.0 is the network address of subnet prov (10.10.0.0/24)',
      'sites/lab/rack-b.yml:8:11: ipv4 10.10.0.255 is the broadcast address of subnet prov (10.10.0.0/24)',
      'sites/lab/rack-b.yml:21:11: ipv4 10.10.0.1 is the gateway of subnet prov (sites/lab/env.yml:5:14)',
    ],
  },
  {
    name: 'BMC IPv4 outside its subnet',
    edits: [{ file: RACK_A, replace: 'ipv4: 10.10.1.12', with: 'ipv4: 10.10.0.112' }],
    expected: ['sites/lab/rack-a.yml:33:11: ipv4 10.10.0.112 is outside subnet oob (10.10.1.0/24)'],
  },
  {
    name: 'gateway outside its subnet, and a cidr with host bits',
    edits: [
      { file: ENV, replace: 'gateway: 10.10.1.1', with: 'gateway: 10.10.0.1' },
      { file: ENV, replace: 'cidr: 10.10.0.0/24', with: 'cidr: 10.10.0.7/24' },
    ],
    expected: [
      'sites/lab/env.yml:4:11: cidr 10.10.0.7/24 has host bits set (the network is 10.10.0.0/24)',
      'sites/lab/env.yml:13:14: gateway 10.10.0.1 is outside subnet oob (10.10.1.0/24)',
    ],
  },
  {
    name: 'overlapping subnets',
    edits: [{ file: ENV, replace: 'cidr: 10.10.1.0/24', with: 'cidr: 10.10.0.0/23' }],
    expected: [
      'sites/lab/env.yml:12:11: subnet oob (10.10.0.0/23) overlaps subnet prov (10.10.0.0/24) at sites/lab/env.yml:4:11',
    ],
  },
  {
    name: 'DHCP option values that do not match their type',
    edits: [
      {
        file: ENV,
        replace: '      - { code: 26, type: u16, value: 9000 }\n',
        with:
          '      - { code: 26, type: u16, value: 70000 }\n' +
          '      - { code: 43, type: hex, value: "abc" }\n' +
          '      - { code: 6, type: ips, value: [10.10.0.1, dns.lab] }\n' +
          '      - { code: 19, type: bool, value: "yes" }\n' +
          '      - { code: 3, type: ip, value: [10.10.0.1] }\n' +
          '      - { code: 23, type: u8, value: -1 }\n' +
          '      - { code: 42, type: string, value: 7 }\n',
      },
    ],
    expected: [
      'sites/lab/env.yml:10:39: DHCP option 26 (u16) must be an integer from 0 to 65535, got 70000',
      'sites/lab/env.yml:11:39: DHCP option 43 (hex) must be an even number of hex digits (like "0a1b"), got "abc"',
      'sites/lab/env.yml:12:50: DHCP option 6 (ips): "dns.lab" is not an IPv4 address',
      'sites/lab/env.yml:13:40: DHCP option 19 (bool) must be true or false, got "yes"',
      'sites/lab/env.yml:14:37: DHCP option 3 (ip) must be an IPv4 address, got ["10.10.0.1"]',
      'sites/lab/env.yml:15:38: DHCP option 23 (u8) must be an integer from 0 to 255, got -1',
      'sites/lab/env.yml:16:17: duplicate DHCP option 42 in subnet prov (first at sites/lab/env.yml:9:17)',
      'sites/lab/env.yml:16:42: DHCP option 42 (string) must be a string, got 7',
    ],
  },
  {
    name: 'min_standing as high as the number of hosts of the workflow',
    edits: [{ file: 'workflows/two-stage.yml', replace: 'min_standing: 1', with: 'min_standing: 2' }],
    expected: [
      'workflows/two-stage.yml:4:17: min_standing 2 keeps every host of workflow two-stage standing (2 hosts to reprovision): none can ever start',
    ],
  },
  {
    name: 'min_standing: never_provision hosts do not count',
    edits: [{ file: 'workflows/single.yml', replace: 'policy:\n', with: 'policy:\n  min_standing: 1\n' }],
    expected: [
      'workflows/single.yml:3:17: min_standing 1 keeps every host of workflow single standing (1 host to reprovision): none can ever start',
    ],
  },
  {
    name: 'block_deps cycle between two workflows, and one on itself',
    edits: [
      {
        file: 'workflows/two-stage.yml',
        replace: '  max_fail: 1\n',
        with: '  max_fail: 1\n  block_deps: [single]\n',
      },
      {
        file: 'workflows/lone.yml',
        write: 'boots: [flatcar-install]\npolicy:\n  block_deps: [two-stage, lone]\n',
      },
    ],
    expected: [
      'workflows/lone.yml:3:27: block_deps cycle lone -> lone: a workflow waiting on itself never starts',
      'workflows/single.yml:3:16: block_deps cycle two-stage -> single -> two-stage: these workflows wait on each other forever',
    ],
  },
  {
    name: 'a host without a physical interface, and one with two BMCs',
    edits: [
      {
        file: RACK_B,
        replace: '  - type: physical\n    mac: 52:54:00:00:00:04\n    subnet: prov\n    ipv4: 10.10.0.14\n',
        with: '  - { type: bmc, driver: ipmi, address: 10.10.1.14 }\n',
      },
      {
        file: RACK_B,
        replace: '    options: { flaky_bmc: 0.1, stall_at: kernel }\n',
        with: '    options: { flaky_bmc: 0.1, stall_at: kernel }\n  - { type: bmc, driver: redfish, address: https://10.10.1.13 }\n',
      },
    ],
    expected: [
      'sites/lab/rack-b.yml:13:5: host node-03 has more than one BMC interface (the first is at sites/lab/rack-b.yml:9:5)',
      'sites/lab/rack-b.yml:19:3: host node-04 has no physical interface (the first one is the boot interface)',
    ],
  },
  {
    name: 'ignore_dhcp on every physical interface of a host that is provisioned (fine on a never_provision one)',
    edits: [
      {
        file: RACK_B,
        replace: '    ipv4: 10.10.0.13\n',
        with: '    ipv4: 10.10.0.13\n    ignore_dhcp: true\n',
      },
      {
        file: RACK_B,
        replace: '    ipv4: 10.10.0.14\n',
        with: '    ipv4: 10.10.0.14\n    ignore_dhcp: true\n',
      },
    ],
    expected: [
      'sites/lab/rack-b.yml:9:18: host node-03 has ignore_dhcp on every physical interface, so no agent answers it and it cannot netboot (boot it from an interface without ignore_dhcp, or set never_provision: true)',
    ],
  },
  {
    name: 'ignore_dhcp is true or false',
    edits: [
      {
        file: RACK_B,
        replace: '    ipv4: 10.10.0.13\n',
        with: '    ipv4: 10.10.0.13\n    ignore_dhcp: "yes"\n',
      },
    ],
    expected: [
      'sites/lab/rack-b.yml:9:18: "interfaces[0].ignore_dhcp" must be true or false, got string "yes"',
    ],
  },
  {
    name: 'sim driver options the simulator does not know',
    edits: [
      {
        file: RACK_B,
        replace: 'options: { flaky_bmc: 0.1, stall_at: kernel }',
        with: 'options: { flaky_bmc: 2, stall_at: boot, never_dhcp: "no", stall: dhcp }',
      },
    ],
    expected: [
      'sites/lab/rack-b.yml:12:27: sim option flaky_bmc must be a probability from 0 to 1, got 2',
      'sites/lab/rack-b.yml:12:40: sim option stall_at must be one of dhcp, tftp, ipxe, kernel, config, checkpoint, got "boot"',
      'sites/lab/rack-b.yml:12:58: sim option never_dhcp must be true or false, got "no"',
      'sites/lab/rack-b.yml:12:64: unknown sim option "stall" (expected never_dhcp, stall_at, fail_validation or flaky_bmc)',
    ],
  },
  {
    name: 'no agent serves the subnet hosts boot from',
    edits: [
      {
        file: RACK_A,
        replace: 'subnet: prov\n    ipv4: 10.10.0.11',
        with: 'subnet: oob\n    ipv4: 10.10.1.21',
      },
      {
        file: RACK_A,
        replace: 'subnet: prov\n    ipv4: 10.10.0.12',
        with: 'subnet: oob\n    ipv4: 10.10.1.22',
      },
    ],
    expected: ['sites/lab/env.yml:11:9: no agent serves subnet oob, but hosts node-01, node-02 boot from it'],
  },
  {
    name: 'a template with an undefined variable: one line naming every host that uses it',
    edits: [{ file: 'assets/preseed/base.cfg', replace: '{{ subnet.gateway }}', with: '{{ subnet.gw }}' }],
    expected: [
      'assets/preseed/base.cfg:3:34: does not render for 2 hosts (node-01, node-02) (stage 1, boot debian-install): undefined variable "subnet.gw"',
    ],
  },
  {
    name: 'an undefined variable inside a snippet points into the snippet',
    edits: [
      {
        file: 'assets/preseed/snippets/ssh-keys.liquid',
        replace: '"{{ host.name }}"',
        with: '"{{ host.nmae }}"',
      },
    ],
    expected: [
      'assets/preseed/snippets/ssh-keys.liquid:2:43: does not render for 2 hosts (node-01, node-02) (stage 1, boot debian-install): undefined variable "host.nmae"',
    ],
  },
  {
    name: 'an undefined variable in a templated YAML field, and an unknown filter',
    edits: [
      { file: 'os/flatcar.yml', replace: '{{ urls.config }}', with: '{{ urls.cfg }}' },
      { file: 'boot/flatcar-install.yml', replace: '"{{ host.name }}"', with: '"{{ host.name | shout }}"' },
    ],
    expected: [
      'boot/flatcar-install.yml:6:67: template syntax: undefined filter: shout',
      'os/flatcar.yml:5:5: does not render for 2 hosts (node-01, node-02) (stage 2, boot flatcar-install): undefined variable "urls.cfg"',
      'os/flatcar.yml:5:5: does not render for 2 hosts (node-03, node-04) (stage 1, boot flatcar-install): undefined variable "urls.cfg"',
    ],
  },
  {
    name: 'a host with a reference error is not rendered too',
    edits: [
      { file: 'assets/preseed/base.cfg', replace: '{{ subnet.gateway }}', with: '{{ subnet.gw }}' },
      {
        file: RACK_A,
        replace: 'name: node-02\nworkflow: two-stage',
        with: 'name: node-02\nworkflow: two-stag',
      },
    ],
    expected: [
      'assets/preseed/base.cfg:3:34: does not render for host node-01 (stage 1, boot debian-install): undefined variable "subnet.gw"',
      'sites/lab/rack-a.yml:19:11: unknown workflow "two-stag" (did you mean "two-stage"?)',
    ],
  },
  {
    name: 'several problems in several files, all at once, in file and position order',
    edits: [
      { file: 'workflows/two-stage.yml', replace: 'min_standing: 1', with: 'min_standing: 3' },
      { file: 'os/alpine.yml', write: 'kernel: http://mirror.test/alpine/vmlinuz\nbootargs: [quiet]\n' },
      { file: RACK_B, replace: 'mac: 52:54:00:00:00:04', with: 'mac: 52:54:00:00:00:02' },
      { file: RACK_A, replace: 'ipv4: 10.10.0.11', with: 'ipv4: 10.10.9.11' },
      {
        file: ENV,
        replace: '{ code: 26, type: u16, value: 9000 }',
        with: '{ code: 26, type: u16, value: "9000" }',
      },
      {
        file: 'boot/rescue.yml',
        write: 'os: alpine\nunattended: { type: ignition, template: rescue.ign }\n',
      },
      { file: 'assets/preseed/base.cfg', replace: '{{ interface.ipv4 }}', with: '{{ interface.ip }}' },
      {
        file: 'workflows/single.yml',
        replace: 'block_deps: [two-stage]',
        with: 'block_deps: [two-stage, single]',
      },
    ],
    expected: [
      'assets/preseed/base.cfg:2:36: does not render for 2 hosts (node-01, node-02) (stage 1, boot debian-install): undefined variable "interface.ip"',
      'boot/rescue.yml:2:41: unknown ignition template "rescue.ign"',
      'os/alpine.yml:2:1: unknown field "bootargs"',
      'sites/lab/env.yml:10:39: DHCP option 26 (u16) must be an integer from 0 to 65535, got "9000"',
      'sites/lab/rack-a.yml:8:11: ipv4 10.10.9.11 is outside subnet prov (10.10.0.0/24)',
      'sites/lab/rack-b.yml:19:10: duplicate MAC 52:54:00:00:00:02 (first used by host node-02 at sites/lab/rack-a.yml:23:10)',
      'workflows/single.yml:3:27: block_deps cycle single -> single: a workflow waiting on itself never starts',
      'workflows/two-stage.yml:4:17: min_standing 3 keeps every host of workflow two-stage standing (2 hosts to reprovision): none can ever start',
    ],
  },
];

describe('validateSot: invalid SoTs, exact diagnostics', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const got = await diagnosticsOf(await mutated(c.edits));
      assert.deepEqual(got, c.expected);
    });
  }
});

test('the base SoT is valid', async () => {
  assert.deepEqual(await diagnosticsOf(BASE), []);
});
