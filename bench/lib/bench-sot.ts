// A SoT of any size for benchmarks, written into a directory the caller owns (a temp dir: generated SoTs are
// never committed). One workflow with one stage (the tiny OS with a cloud-config, as sot-examples/lab's
// `configure` boot), sim BMCs, and one site per `hostsPerSite` hosts (a /21 each).
//
// Policy: every limit is as high as the number of hosts (workflow and site max_concurrent, site bmc_concurrency;
// max_fail too, so a failure is counted rather than halting the rollout), so a rollout starts every host at
// once and the rate is set by Temporal and the workers, not by policy. Stage timeouts are an hour: a host
// that waits its turn under load must not fail for it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchSotOptions {
  hosts: number;
  hostsPerSite?: number;
  /** The agent URL of site number i (booting hosts fetch scripts, configs and assets from it). */
  agentUrl?: (site: number) => string;
  /** The workflow's max_concurrent (default: every host at once). */
  maxConcurrent?: number;
}

export interface BenchSot {
  dir: string;
  sites: string[];
  hosts: number;
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

export function writeBenchSot(dir: string, opts: BenchSotOptions): BenchSot {
  const perSite = opts.hostsPerSite ?? 1000;
  if (perSite > 1500) throw new Error('at most 1500 hosts per site (one /21)');
  const siteCount = Math.max(1, Math.ceil(opts.hosts / perSite));
  if (siteCount > 150) throw new Error('at most 150 sites');
  const write = (rel: string, text: string): void => {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  write(
    'os/tiny.yml',
    [
      'kernel: "{{ urls.assets }}/linux"',
      'initrds: ["{{ urls.assets }}/initrd.gz"]',
      'cmdline:',
      '  - initrd=initrd.gz',
      '  - console=tty0',
      '  - console=ttyS0,115200',
      '  - quiet',
      '  - { panic: "-1" }',
      '  - callback={{ urls.checkpoint }}',
      '',
    ].join('\n'),
  );
  write(
    'boot/configure.yml',
    [
      'os: tiny',
      'cmdline:',
      '  - cloud-config-url={{ urls.config }}',
      'unattended:',
      '  type: cloud-config',
      '  template: configure.yml',
      'metadata:',
      '  packages: [curl, jq, chrony]',
      '',
    ].join('\n'),
  );
  write(
    'assets/cloud-config/configure.yml',
    [
      '#cloud-config',
      '# {{ host.name }}: stage {{ stage.index }} of {{ stage.count }} of the {{ host.workflow }} workflow.',
      'hostname: {{ host.name }}',
      'fqdn: {{ host.name }}.{{ subnet.domain }}',
      'timezone: {{ metadata.timezone }}',
      'users:',
      '  - name: ops',
      '    groups: [sudo]',
      '    shell: /bin/bash',
      '    lock_passwd: true',
      '    ssh_authorized_keys:',
      '      - {{ metadata.ssh_key | json }}',
      'ntp:',
      '  enabled: true',
      '  servers: {{ subnet.ntp | json }}',
      'packages: {{ metadata.packages | json }}',
      'write_files:',
      '  - path: /etc/motd',
      '    content: |',
      '      {{ host.name }} ({{ interface.ipv4 }}, {{ interface.mac }}) is managed by vaquero.',
      'runcmd:',
      '  - [curl, -fsS, --retry, "10", "{{ urls.checkpoint }}"]',
      '',
    ].join('\n'),
  );
  write(
    'workflows/bench.yml',
    [
      'boots: [configure]',
      'policy:',
      `  max_concurrent: ${opts.maxConcurrent ?? opts.hosts}`,
      '  min_standing: 0',
      `  max_fail: ${opts.hosts}`,
      'timeouts:',
      ...['power', 'dhcp', 'tftp', 'ipxe', 'kernel', 'config', 'checkpoint', 'validate'].map(
        (k) => `  ${k}: 3600`,
      ),
      'power_retries: 0',
      '',
    ].join('\n'),
  );
  const sites: string[] = [];
  for (let s = 0; s < siteCount; s++) {
    const site = `site-${pad(s + 1, 3)}`;
    sites.push(site);
    const hostsHere = Math.min(perSite, opts.hosts - s * perSite);
    const net = `10.${100 + s}`;
    write(
      `sites/${site}/env.yml`,
      [
        `description: benchmark site ${s + 1}`,
        'subnets:',
        '  - id: prov',
        `    cidr: ${net}.0.0/21`,
        `    gateway: ${net}.0.1`,
        `    dns: [${net}.0.1]`,
        `    ntp: [${net}.0.1]`,
        `    domain: ${site}.bench.example`,
        'agents:',
        `  - id: agent-${pad(s + 1, 3)}`,
        `    http_url: ${opts.agentUrl?.(s) ?? `http://${net}.0.2:8080`}`,
        '    dhcp_mode: server',
        'metadata:',
        '  timezone: Etc/UTC',
        '  ssh_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZhcXVlcm8tYmVuY2gtb3BzLWtleS1ub3QtcmVhbDAx ops@bench',
        'policy:',
        `  max_concurrent: ${hostsHere}`,
        `  bmc_concurrency: ${hostsHere}`,
        '',
      ].join('\n'),
    );
    const docs: string[] = [];
    for (let i = 0; i < hostsHere; i++) {
      const name = `s${pad(s + 1, 3)}-h${pad(i + 1, 4)}`;
      docs.push(
        [
          `name: ${name}`,
          'workflow: bench',
          'interfaces:',
          '  - type: physical',
          `    mac: 52:54:${hex2(s + 1)}:00:${hex2((i + 1) >> 8)}:${hex2((i + 1) & 0xff)}`,
          '    subnet: prov',
          `    ipv4: ${net}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
          '  - type: bmc',
          '    driver: sim',
          `    address: sim://${name}`,
          '',
        ].join('\n'),
      );
    }
    write(`sites/${site}/hosts.yml`, docs.join('---\n'));
  }
  return { dir, sites, hosts: opts.hosts };
}
