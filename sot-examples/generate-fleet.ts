// Generates sot-examples/fleet/: a SoT for three simulated data centres (ams1, fra1, nyc1) with a few
// hundred hosts, for scale runs, planner tests and demos.
//
//   node --import tsx sot-examples/generate-fleet.ts
//
// The output is deterministic: no randomness, no clock, stable order. The script deletes the fleet
// folder and writes it again, so edit this file (not the output) and commit both together.
//
// Address plan, per site (the site's number N is 21, 22 or 23):
//   <site>-prod   10.N.0.0/22   gateway .0.1, agent .0.2; compute cluster a on 10.N.1.x, cluster b on
//                               10.N.2.x, storage boot interfaces on 10.N.3.x (x from 10)
//   <site>-stor   10.N.4.0/24   storage replication network: the storage hosts' second interface
//   <site>-edge   10.N.5.0/25   edge hosts (only in the sites that have an edge cluster)
// MACs: 52:54:00:N:HH:LL, where HHLL counts the site's boot interfaces from 0x0001 and the storage
// hosts' second interfaces from 0x8001. Every MAC and IPv4 is unique in the whole SoT.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'fleet');

// ---------------------------------------------------------------------------------------------------
// The fleet's shape
// ---------------------------------------------------------------------------------------------------

type Role = 'compute' | 'storage' | 'edge';

interface Cluster {
  file: string; // sites/<site>/<file>.yml
  role: Role;
  hosts: number;
  comment: string;
}

interface Site {
  id: string;
  n: number; // second IPv4 octet and fourth MAC octet
  description: string;
  timezone: string;
  region: string;
  dhcpMode: 'server' | 'proxy';
  clusters: Cluster[];
}

const HOSTS_PER_RACK = 16;

const SITES: Site[] = [
  {
    id: 'ams1',
    n: 21,
    description: 'Amsterdam, hall 1',
    timezone: 'Europe/Amsterdam',
    region: 'eu-west',
    dhcpMode: 'server',
    clusters: [
      { file: 'compute-a', role: 'compute', hosts: 48, comment: 'General-purpose compute, first generation' },
      { file: 'compute-b', role: 'compute', hosts: 48, comment: 'General-purpose compute, NVMe generation' },
      { file: 'storage', role: 'storage', hosts: 24, comment: 'Storage nodes (Flatcar), two networks each' },
      { file: 'edge', role: 'edge', hosts: 12, comment: 'Edge and ingress nodes (Ubuntu)' },
    ],
  },
  {
    id: 'fra1',
    n: 22,
    description: 'Frankfurt, hall 1 (the agent is a proxyDHCP beside the site router)',
    timezone: 'Europe/Berlin',
    region: 'eu-central',
    dhcpMode: 'proxy',
    clusters: [
      { file: 'compute-a', role: 'compute', hosts: 48, comment: 'General-purpose compute, first generation' },
      { file: 'compute-b', role: 'compute', hosts: 32, comment: 'General-purpose compute, NVMe generation' },
      { file: 'storage', role: 'storage', hosts: 16, comment: 'Storage nodes (Flatcar), two networks each' },
    ],
  },
  {
    id: 'nyc1',
    n: 23,
    description: 'New York, suite 4',
    timezone: 'America/New_York',
    region: 'us-east',
    dhcpMode: 'server',
    clusters: [
      { file: 'compute-a', role: 'compute', hosts: 48, comment: 'General-purpose compute, first generation' },
      { file: 'compute-b', role: 'compute', hosts: 40, comment: 'General-purpose compute, NVMe generation' },
      { file: 'storage', role: 'storage', hosts: 24, comment: 'Storage nodes (Flatcar), two networks each' },
      { file: 'edge', role: 'edge', hosts: 16, comment: 'Edge and ingress nodes (Ubuntu)' },
    ],
  },
];

const WORKFLOW_OF: Record<Role, string> = { compute: 'compute', storage: 'storage', edge: 'edge' };
const NAME_PART: Record<Role, string> = { compute: 'cmp', storage: 'sto', edge: 'edge' };

// Fake but well-formed public keys (the base64 decodes to a readable label, not to a real key).
const fakeKey = (label: string, comment: string): string =>
  `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(label.padEnd(32, '.')).toString('base64')} ${comment}`;

// ---------------------------------------------------------------------------------------------------
// Output helpers
// ---------------------------------------------------------------------------------------------------

const files = new Map<string, string>();

function emit(path: string, text: string): void {
  if (files.has(path)) throw new Error(`generated twice: ${path}`);
  files.set(path, text.endsWith('\n') ? text : `${text}\n`);
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const mac = (site: Site, counter: number): string =>
  `52:54:00:${site.n}:${hex2(counter >> 8)}:${hex2(counter & 0xff)}`;

// ---------------------------------------------------------------------------------------------------
// Sites and hosts
// ---------------------------------------------------------------------------------------------------

function envYml(site: Site): string {
  const n = site.n;
  const hasEdge = site.clusters.some((c) => c.role === 'edge');
  const edgeSubnet = `
  - id: ${site.id}-edge
    cidr: 10.${n}.5.0/25
    gateway: 10.${n}.5.1
    dns: [10.${n}.0.53, 10.${n}.0.54]
    ntp: [10.${n}.0.123]
    domain: edge.${site.id}.example.net`;
  return `# Site ${site.id}: ${site.description}.
# Generated by sot-examples/generate-fleet.ts; edit the generator, not this file.
description: ${JSON.stringify(site.description)}

subnets:
  - id: ${site.id}-prod # the provisioning network: compute hosts and the storage hosts' first NIC
    cidr: 10.${n}.0.0/22
    gateway: 10.${n}.0.1
    dns: [10.${n}.0.53, 10.${n}.0.54]
    ntp: [10.${n}.0.123]
    domain: ${site.id}.example.net
    dhcp_options:
      - { code: 42, type: ips, value: [10.${n}.0.123] } # NTP servers, for firmware that reads only the option
  - id: ${site.id}-stor # storage replication: never booted from, so the agent does not serve it
    cidr: 10.${n}.4.0/24
    gateway: 10.${n}.4.1
    dns: [10.${n}.0.53, 10.${n}.0.54]
    ntp: [10.${n}.0.123]
    domain: stor.${site.id}.example.net
    dhcp_options:
      - { code: 26, type: u16, value: 9000 } # interface MTU: jumbo frames${hasEdge ? edgeSubnet : ''}

agents:
  - id: ${site.id}-agent-1
    http_url: http://10.${n}.0.2:8080
    dhcp_mode: ${site.dhcpMode}
    subnets: [${site.id}-prod${hasEdge ? `, ${site.id}-edge` : ''}]

metadata:
  region: ${site.region} # informational only: no template reads it
  timezone: ${site.timezone}
  install_disk: sda # the disk installers and burn-in use; the NVMe generation overrides it per host
  ssh_key: ${fakeKey(`${site.id}-ops`, `ops@${site.id}`)}

policy:
  max_concurrent: 40
  bmc_concurrency: 20
`;
}

interface HostDoc {
  name: string;
  text: string;
}

function hostYml(h: {
  name: string;
  workflow: string;
  neverProvision?: string; // the reason, written as a comment
  metadata: Record<string, string>;
  interfaces: { mac: string; subnet: string; ipv4: string; ipv6?: string }[];
  bmcSite: string;
}): string {
  const lines: string[] = [`name: ${h.name}`, `workflow: ${h.workflow}`];
  if (h.neverProvision) lines.push(`never_provision: true # ${h.neverProvision}`);
  const entries = Object.entries(h.metadata);
  if (entries.some(([, v]) => v.includes(' '))) {
    lines.push('metadata:', ...entries.map(([k, v]) => `  ${k}: ${v}`));
  } else {
    lines.push(`metadata: { ${entries.map(([k, v]) => `${k}: ${v}`).join(', ')} }`);
  }
  lines.push('interfaces:');
  for (const i of h.interfaces) {
    lines.push('  - type: physical', `    mac: ${i.mac}`, `    subnet: ${i.subnet}`, `    ipv4: ${i.ipv4}`);
    if (i.ipv6) lines.push(`    ipv6: ${i.ipv6}`);
  }
  lines.push(
    '  - type: bmc',
    '    driver: sim',
    `    address: sim://${h.name}`,
    `    credentials: ${h.bmcSite}-bmc`,
  );
  return lines.join('\n');
}

let totalHosts = 0;
let totalNever = 0;

function generateSite(site: Site): void {
  const n = site.n;
  emit(`sites/${site.id}/env.yml`, envYml(site));

  let macCounter = 0; // boot interfaces
  let macCounter2 = 0x8000; // second interfaces
  let rack = 0;
  const roleCount: Record<Role, number> = { compute: 0, storage: 0, edge: 0 };
  let computeCluster = 0;
  const edgeKey = fakeKey(`${site.id}-edge-team`, `edge-team@${site.id}`);

  for (const cluster of site.clusters) {
    const docs: HostDoc[] = [];
    const isNvme = cluster.role === 'compute' && computeCluster === 1;
    const prodOctet = cluster.role === 'compute' ? 1 + computeCluster : 3;
    if (cluster.role === 'compute') computeCluster++;

    for (let i = 0; i < cluster.hosts; i++) {
      if (i % HOSTS_PER_RACK === 0) rack++;
      const num = ++roleCount[cluster.role];
      const name = `${site.id}-${NAME_PART[cluster.role]}-${pad(num, 3)}`;
      const rackId = `${site.id}-r${pad(rack, 2)}`;
      const metadata: Record<string, string> = {
        rack: rackId,
        asset_tag: `${site.id.toUpperCase()}-${cluster.role[0]!.toUpperCase()}${pad(num, 4)}`,
      };
      if (isNvme) metadata.install_disk = 'nvme0n1';
      if (cluster.role === 'edge') metadata.ssh_key = edgeKey;

      const interfaces: { mac: string; subnet: string; ipv4: string; ipv6?: string }[] = [];
      if (cluster.role === 'edge') {
        interfaces.push({
          mac: mac(site, ++macCounter),
          subnet: `${site.id}-edge`,
          ipv4: `10.${n}.5.${10 + i}`,
          ipv6: `fd${n}:5::${(10 + i).toString(16)}`,
        });
      } else {
        interfaces.push({
          mac: mac(site, ++macCounter),
          subnet: `${site.id}-prod`,
          ipv4: `10.${n}.${prodOctet}.${10 + i}`,
        });
        if (cluster.role === 'storage') {
          interfaces.push({
            mac: mac(site, ++macCounter2),
            subnet: `${site.id}-stor`,
            ipv4: `10.${n}.4.${10 + i}`,
          });
        }
      }

      // A few hosts are pinned: plans skip them. Every 24th compute host of a cluster, and the last
      // storage host of each site.
      let neverProvision: string | undefined;
      if (cluster.role === 'compute' && (i + 1) % 24 === 0) neverProvision = 'pinned: hardware under RMA';
      if (cluster.role === 'storage' && i === cluster.hosts - 1)
        neverProvision = 'pinned: holds the only copy of the metrics archive';
      if (neverProvision) totalNever++;

      const comment = i % HOSTS_PER_RACK === 0 ? `# --- rack ${rackId} ---\n` : '';
      docs.push({
        name,
        text:
          comment +
          hostYml({
            name,
            workflow: WORKFLOW_OF[cluster.role],
            neverProvision,
            metadata,
            interfaces,
            bmcSite: site.id,
          }),
      });
    }
    totalHosts += docs.length;

    const first = docs[0]!.name;
    const last = docs[docs.length - 1]!.name;
    const header = `# ${site.id} / ${cluster.file}: ${cluster.comment}.
# ${docs.length} hosts, ${first} … ${last}, one per YAML document; workflow \`${WORKFLOW_OF[cluster.role]}\`.
# Generated by sot-examples/generate-fleet.ts; edit the generator, not this file.
`;
    emit(`sites/${site.id}/${cluster.file}.yml`, header + docs.map((d) => d.text).join('\n---\n'));
  }
}

// ---------------------------------------------------------------------------------------------------
// Operating systems, boots, workflows
// ---------------------------------------------------------------------------------------------------

function generateCatalog(): void {
  emit(
    'os/rocky-9.yml',
    `# Rocky Linux 9 installer (Anaconda), from the mirror's images/pxeboot folder.
kernel: "{{ urls.assets }}/rocky/9/vmlinuz"
initrds: ["{{ urls.assets }}/rocky/9/initrd.img"]
cmdline:
  - initrd=initrd.img
  - console=tty0
  - console=ttyS1,115200n8
  - inst.stage2={{ urls.assets }}/rocky/9
  - inst.text
metadata:
  mirror: https://dl.rockylinux.org/pub/rocky/9 # read by the kickstart template
  release: "9.5" # informational only
`,
  );
  emit(
    'os/flatcar.yml',
    `# Flatcar Container Linux, PXE image (it runs from RAM and configures itself with Ignition).
kernel: "{{ urls.assets }}/flatcar/stable/flatcar_production_pxe.vmlinuz"
initrds: ["{{ urls.assets }}/flatcar/stable/flatcar_production_pxe_image.cpio.gz"]
cmdline:
  - initrd=flatcar_production_pxe_image.cpio.gz
  - console=tty0
  - console=ttyS1,115200n8
  - flatcar.first_boot=1
  - { flatcar.autologin: null } # a bare key
metadata:
  channel: stable # read by the Ignition template (update group)
`,
  );
  emit(
    'os/ubuntu-24.04.yml',
    `# Ubuntu 24.04 live server: casper boots the ISO over HTTP; cloud-init and subiquity read the
# configuration from cloud-config-url= (set by each boot).
kernel: "{{ urls.assets }}/ubuntu/24.04/vmlinuz"
initrds: ["{{ urls.assets }}/ubuntu/24.04/initrd"]
cmdline:
  - initrd=initrd
  - console=tty0
  - console=ttyS1,115200n8
  - ip=dhcp
  - url={{ urls.assets }}/ubuntu/24.04/ubuntu-24.04.1-live-server-amd64.iso
  - { root: /dev/ram0 }
metadata:
  codename: noble # informational only
`,
  );

  emit(
    'boot/burnin.yml',
    `# Burn-in: boot the Ubuntu live image and stress CPU, memory and the install disk before the machine
# takes real work. Stage 1 of \`compute\` and \`storage\`.
os: ubuntu-24.04
cmdline:
  - cloud-config-url={{ urls.config }}
unattended:
  type: cloud-config
  template: burnin.yml
metadata:
  burnin_minutes: 30
  packages: [stress-ng, fio, ipmitool]
`,
  );
  emit(
    'boot/rocky-install.yml',
    `# Install Rocky Linux 9 with a kickstart. Stage 2 of \`compute\`.
os: rocky-9
cmdline:
  - inst.ks={{ urls.config }}
unattended:
  type: kickstart
  template: rocky.ks
metadata:
  packages: [chrony, curl, tuned, lldpd]
`,
  );
  emit(
    'boot/flatcar-install.yml',
    `# Boot Flatcar from RAM with an Ignition config. Stage 2 of \`storage\`.
os: flatcar
cmdline:
  - ignition.config.url={{ urls.config }}
  - ignition.platform.id=metal
unattended:
  type: ignition
  template: flatcar.ign
metadata: {}
`,
  );
  emit(
    'boot/ubuntu-install.yml',
    `# Install Ubuntu 24.04 with subiquity's autoinstall. The only stage of \`edge\`.
os: ubuntu-24.04
cmdline:
  - autoinstall
  - cloud-config-url={{ urls.config }}
unattended:
  type: cloud-config
  template: autoinstall.yml
metadata:
  packages: [chrony, haproxy, lldpd]
`,
  );

  const timeouts = (checkpoint: number): string => `timeouts:
  power: 300
  dhcp: 300
  tftp: 120
  ipxe: 120
  kernel: 600
  config: 900
  checkpoint: ${checkpoint}
  validate: 1800`;
  emit(
    'workflows/compute.yml',
    `# Compute hosts: burn-in, then install Rocky Linux.
boots: [burnin, rocky-install]
policy:
  max_concurrent: 25
  min_standing: 10
  max_fail: 3
${timeouts(7200)}
power_retries: 2
`,
  );
  emit(
    'workflows/storage.yml',
    `# Storage hosts: burn-in, then Flatcar. Few at a time: each one holds replicas.
boots: [burnin, flatcar-install]
policy:
  max_concurrent: 10
  min_standing: 4
  max_fail: 1
${timeouts(7200)}
power_retries: 2
`,
  );
  emit(
    'workflows/edge.yml',
    `# Edge hosts: one Ubuntu install. They carry ingress for compute, so they wait until every compute
# host has finished.
boots: [ubuntu-install]
policy:
  max_concurrent: 15
  min_standing: 2
  max_fail: 2
  block_deps: [compute]
${timeouts(3600)}
power_retries: 2
`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Templates (LiquidJS). Written with String.raw so that "\n" inside JSON strings stays as written.
// ---------------------------------------------------------------------------------------------------

function generateAssets(): void {
  emit(
    'assets/kickstart/rocky.ks',
    String.raw`{% comment %}
  Kickstart for the rocky-install boot. Reads metadata: timezone, install_disk and ssh_key (site, or
  host overrides), mirror (os rocky-9), packages (boot rocky-install).
{% endcomment -%}
# Kickstart for {{ host.name }} in {{ site.id }}, rendered by vaquero (stage {{ stage.index }} of {{ stage.count }}).
text
lang en_US.UTF-8
keyboard us
timezone {{ metadata.timezone }} --utc
url --url={{ metadata.mirror }}/BaseOS/x86_64/os/
repo --name=AppStream --baseurl={{ metadata.mirror }}/AppStream/x86_64/os/
{% include 'network' -%}
{% include 'disk.ks' -%}
rootpw --lock
user --name=ops --groups=wheel --lock
sshkey --username=ops {{ metadata.ssh_key | json }}
selinux --enforcing
firewall --enabled --ssh
services --enabled=sshd,chronyd

%packages
@^minimal-environment
{% for p in metadata.packages -%}
{{ p }}
{% endfor -%}
%end

# Tell vaquero the install is done.
%post --nochroot --erroronfail
curl -fsS --retry 10 '{{ urls.checkpoint }}'
%end

reboot
`,
  );
  emit(
    'assets/kickstart/snippets/network.ks',
    `network --device={{ interface.mac }} --bootproto=static --ip={{ interface.ipv4 }} --netmask={{ subnet.netmask }} --gateway={{ subnet.gateway }} --nameserver={{ subnet.dns | join: ',' }} --hostname={{ host.name }}.{{ subnet.domain }} --activate
`,
  );
  emit(
    'assets/kickstart/snippets/disk.ks',
    `# Install on one disk (metadata.install_disk), LVM with a fixed root and /var taking the rest.
ignoredisk --only-use={{ metadata.install_disk }}
zerombr
clearpart --all --initlabel --drives={{ metadata.install_disk }}
bootloader --location=mbr --boot-drive={{ metadata.install_disk }}
reqpart --add-boot
part pv.01 --fstype=lvmpv --ondisk={{ metadata.install_disk }} --size=1 --grow
volgroup vg0 pv.01
logvol / --vgname=vg0 --name=root --fstype=xfs --size=20480
logvol /var --vgname=vg0 --name=var --fstype=xfs --size=1 --grow
`,
  );

  emit(
    'assets/ignition/flatcar.ign',
    String.raw`{% comment %}
  Ignition config for the flatcar-install boot; it must render to valid JSON. Reads metadata: ssh_key
  (site) and channel (os flatcar). One systemd-networkd file per physical interface: the prefix length
  comes from the interface's subnet in site.subnets, the gateway and DNS only on the boot interface.
{% endcomment -%}
{
  "ignition": { "version": "3.4.0" },
  "passwd": {
    "users": [{ "name": "core", "sshAuthorizedKeys": [{{ metadata.ssh_key | json }}] }]
  },
  "storage": {
    "files": [
      {
        "path": "/etc/hostname",
        "mode": 420,
        "overwrite": true,
        "contents": { "source": "data:,{{ host.name }}" }
      },
      {
        "path": "/etc/flatcar/update.conf",
        "mode": 420,
        "overwrite": true,
        "contents": { "source": "data:,GROUP%3D{{ metadata.channel }}%0A" }
      }
      {%- for i in host.interfaces %}
      {%- assign s = site.subnets | where: 'id', i.subnet | first %}
      {%- capture unit %}[Match]
MACAddress={{ i.mac }}

[Network]
Address={{ i.ipv4 }}/{{ s.cidr | split: '/' | last }}
{% if i.mac == interface.mac %}Gateway={{ subnet.gateway }}
{% for d in subnet.dns %}DNS={{ d }}
{% endfor %}Domains={{ subnet.domain }}
{% endif %}{% endcapture %},
      {
        "path": "/etc/systemd/network/{{ forloop.index | prepend: '1' }}-{{ i.subnet }}.network",
        "mode": 420,
        "overwrite": true,
        "contents": { "source": "data:,{{ unit | url_encode }}" }
      }
      {%- endfor %}
    ]
  },
  "systemd": {
    "units": [
      {% include 'checkpoint-unit' %}
    ]
  }
}
`,
  );
  emit(
    'assets/ignition/snippets/checkpoint-unit.ign',
    String.raw`{
        "name": "vaquero-checkpoint.service",
        "enabled": true,
        "contents": "[Unit]\nDescription=Tell vaquero that this machine is up\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/curl -fsS --retry 10 {{ urls.checkpoint }}\n\n[Install]\nWantedBy=multi-user.target\n"
      }
`,
  );

  emit(
    'assets/cloud-config/burnin.yml',
    `#cloud-config
{% comment %}
  cloud-config for the burnin boot (Ubuntu live). Reads metadata: ssh_key and install_disk (site, or
  host overrides), packages and burnin_minutes (boot burnin).
{% endcomment -%}
# Burn-in of {{ host.name }}: {{ metadata.burnin_minutes }} minutes of stress, a read-only disk test, then report to vaquero.
hostname: {{ host.name }}
{% include 'users' -%}
packages: {{ metadata.packages | json }}
runcmd:
  - [stress-ng, --cpu, "0", --vm, "2", --vm-bytes, "75%", --timeout, "{{ metadata.burnin_minutes }}m", --metrics-brief]
  - [fio, --name=burnin, --filename=/dev/{{ metadata.install_disk }}, --readonly, --rw=randread, --bs=4k, --runtime=300, --time_based]
  - [curl, -fsS, --retry, "10", "{{ urls.checkpoint }}"]
power_state:
  mode: poweroff
  condition: true
`,
  );
  emit(
    'assets/cloud-config/autoinstall.yml',
    `#cloud-config
{% comment %}
  Ubuntu autoinstall for the ubuntu-install boot. Reads metadata: timezone, install_disk (site),
  ssh_key (host: the edge team's key), packages (boot ubuntu-install).
{% endcomment -%}
autoinstall:
  version: 1
  locale: en_US.UTF-8
  keyboard: { layout: us }
  timezone: {{ metadata.timezone }}
  network:
    version: 2
    ethernets:
      boot:
        match: { macaddress: "{{ interface.mac }}" }
        addresses: ["{{ interface.ipv4 }}/{{ subnet.cidr | split: '/' | last }}"]
        routes: [{ to: default, via: {{ subnet.gateway }} }]
        nameservers: { addresses: {{ subnet.dns | json }}, search: [{{ subnet.domain }}] }
  storage:
    layout: { name: lvm, match: { path: /dev/{{ metadata.install_disk }} } }
  ssh:
    install-server: true
    allow-pw: false
    authorized-keys: [{{ metadata.ssh_key | json }}]
  packages: {{ metadata.packages | json }}
  user-data:
    hostname: {{ host.name }}
    fqdn: {{ host.name }}.{{ subnet.domain }}
    users:
      - { name: ops, groups: [sudo], shell: /bin/bash, lock_passwd: true, ssh_authorized_keys: [{{ metadata.ssh_key | json }}] }
  late-commands:
    # Tell vaquero the install is done.
    - curl -fsS --retry 10 '{{ urls.checkpoint }}'
`,
  );
  emit(
    'assets/cloud-config/snippets/users.yml',
    `users:
  - name: ops
    groups: [sudo]
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
    ssh_authorized_keys:
      - {{ metadata.ssh_key | json }}
`,
  );
}

// ---------------------------------------------------------------------------------------------------

for (const site of SITES) generateSite(site);
generateCatalog();
generateAssets();

rmSync(OUT, { recursive: true, force: true });
for (const [path, text] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
  const full = join(OUT, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
}
console.log(`wrote ${files.size} files to ${OUT}: ${totalHosts} hosts (${totalNever} never_provision)`);
