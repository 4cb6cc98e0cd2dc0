// The SoT of a lab: one site whose subnet is the lab bridge's /24, one agent (the lab's, at the bridge address),
// and one host per VM with its MAC and its ipmi_sim BMC, all booting the tiny OS once (one boot stage).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

export const LAB_OS = 'tiny';
export const LAB_WORKFLOW = 'tiny';
export const LAB_SUBNET = 'lab-net';

export interface LabSotHost {
  name: string;
  mac: string;
  /** Reserved address (server mode hands it out; in proxy mode the site's DHCP server decides). */
  ipv4: string;
  bmc: { address: string; credentials: string; options?: Record<string, unknown> };
  metadata?: Record<string, unknown>;
}

export interface LabSotSpec {
  sot: string;
  site: string;
  agentId: string;
  /** How VMs reach the agent, e.g. http://10.77.9.1:8080. */
  agentUrl: string;
  dhcpMode: 'server' | 'proxy';
  /** The bridge's subnet and address (gateway and DNS of the hosts). */
  cidr: string;
  gateway: string;
  hosts: LabSotHost[];
  /** Seconds per stage; the defaults fit TCG boots on 2 cores with room to spare. */
  timeouts?: Partial<Record<'power' | 'dhcp' | 'tftp' | 'ipxe' | 'kernel' | 'checkpoint', number>>;
  powerRetries?: number;
}

export const LAB_TIMEOUTS = {
  power: 120,
  dhcp: 60,
  tftp: 60,
  ipxe: 60,
  kernel: 60,
  checkpoint: 120,
} as const;

/** The tiny OS: the d-i kernel and the tiny initrd from the agent's assets; the init calls `callback`. */
export const TINY_OS = {
  kernel: '{{ urls.assets }}/linux',
  initrds: ['{{ urls.assets }}/tiny-initrd.gz'],
  cmdline: ['console=ttyS0', 'quiet', 'panic=-1', 'callback={{ urls.checkpoint }}'],
};

/** Writes the SoT into `<parent>/<sot>` and returns that folder. */
export async function writeLabSot(parent: string, spec: LabSotSpec): Promise<string> {
  const dir = path.join(parent, spec.sot);
  const siteDir = path.join(dir, 'sites', spec.site);
  for (const d of [siteDir, path.join(dir, 'os'), path.join(dir, 'boot'), path.join(dir, 'workflows')]) {
    await mkdir(d, { recursive: true });
  }
  const n = spec.hosts.length;
  await writeFile(
    path.join(siteDir, 'env.yml'),
    stringify({
      description: `vaquero lab ${spec.site}`,
      subnets: [
        { id: LAB_SUBNET, cidr: spec.cidr, gateway: spec.gateway, dns: [spec.gateway], domain: 'lab.test' },
      ],
      agents: [{ id: spec.agentId, http_url: spec.agentUrl, dhcp_mode: spec.dhcpMode }],
      policy: { max_concurrent: Math.max(1, n), bmc_concurrency: Math.max(1, n) },
    }),
  );
  await writeFile(
    path.join(siteDir, 'machines.yml'),
    spec.hosts
      .map((h) =>
        stringify({
          name: h.name,
          workflow: LAB_WORKFLOW,
          ...(h.metadata ? { metadata: h.metadata } : {}),
          interfaces: [
            { type: 'physical', mac: h.mac, subnet: LAB_SUBNET, ipv4: h.ipv4, hostname: h.name },
            {
              type: 'bmc',
              driver: 'ipmi',
              address: h.bmc.address,
              credentials: h.bmc.credentials,
              ...(h.bmc.options ? { options: h.bmc.options } : {}),
            },
          ],
        }),
      )
      .join('---\n'),
  );
  await writeFile(
    path.join(dir, 'os', `${LAB_OS}.yml`),
    `# The lab's tiny OS (lab/tiny-initrd.ts): DHCP, checkpoint, power off.\n${stringify(TINY_OS)}`,
  );
  await writeFile(path.join(dir, 'boot', `${LAB_OS}.yml`), stringify({ os: LAB_OS }));
  await writeFile(
    path.join(dir, 'workflows', `${LAB_WORKFLOW}.yml`),
    stringify({
      boots: [LAB_OS],
      policy: { max_concurrent: Math.max(1, n) },
      timeouts: { ...LAB_TIMEOUTS, ...spec.timeouts },
      power_retries: spec.powerRetries ?? 1,
    }),
  );
  return dir;
}
