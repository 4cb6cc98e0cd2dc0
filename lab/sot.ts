// The SoT of a lab: one site whose subnet is the lab bridge's /24, its agents (the lab's at the bridge address, and
// a second one at another address of the bridge when the scenario runs one),
// and one host per VM with its MAC and its BMC (ipmi_sim through the ipmi driver by default; a BMC container or
// an sshd through the container and ssh drivers), each booting a tiny OS once (one boot stage). There are
// two OS profiles (hosts alternate between them), so a change to one profile reprovisions only some hosts. The
// folder is a git repository: the demo's changes are commits, and `vaquero plan --repo` compares them.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';

/** The two OS profiles; host i uses LAB_OSES[i % 2] (through the workflow of the same name). */
export const LAB_OSES = ['tiny-a', 'tiny-b'] as const;
export type LabOs = (typeof LAB_OSES)[number];
export const LAB_SUBNET = 'lab-net';

export function labOsOf(hostIndex: number): LabOs {
  return LAB_OSES[hostIndex % LAB_OSES.length]!;
}

export interface LabSotHost {
  name: string;
  mac: string;
  /** Reserved address (server mode hands it out; in proxy mode the site's DHCP server decides). */
  ipv4: string;
  /** driver: default ipmi. */
  bmc: {
    driver?: 'ipmi' | 'container' | 'ssh';
    address: string;
    credentials: string;
    options?: Record<string, unknown>;
  };
  metadata?: Record<string, unknown>;
  /** Its firmware enforces Secure Boot: `secure_boot: true`, so it boots through shim and GRUB. */
  secureBoot?: boolean;
  /** Its stages boot through GRUB (`loader: grub`) without Secure Boot: the arm64 VMs (lab/arm64-assets.ts). */
  loader?: 'grub';
}

/** A boot's task containers (sot/FORMAT.md), as boot/<os>.yml lists them. */
export interface LabTask {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  /** Text, or a reference to a secret of the agent's store (`{ secret: REF }`), resolved as the task starts. */
  env?: Record<string, string | { secret: string; field?: string }>;
  timeout_s?: number;
  retries?: number;
}

export interface LabBootTasks {
  before_shutdown?: LabTask[];
  validate?: LabTask[];
  /**
   * The boot serves the lab's unattended config (LAB_CONFIG_TEMPLATE: its join token is the secret reference
   * LAB_JOIN_TOKEN_REF, which the lab agent's store resolves) and its command line names it (`config=`): the tiny
   * OS fetches it, as an installer fetches its preseed or kickstart, before it calls back.
   */
  unattended?: boolean;
}

/** The secret the lab's unattended config names; lab/stack.ts gives the lab agent a value for it. */
export const LAB_JOIN_TOKEN_REF = 'lab-join-token';
/** A line only the rendered lab config has (with the host's name after it). */
export const LAB_CONFIG_MARK = 'vaquero lab unattended config for';
/** assets/untyped/tiny.cfg: what a real unattended config carries, a cluster join token among it. */
export const LAB_CONFIG_TEMPLATE = [
  `# ${LAB_CONFIG_MARK} {{ host.name }}`,
  'hostname={{ interface.hostname }}',
  `join_token={{ "${LAB_JOIN_TOKEN_REF}" | secret }}`,
  '',
].join('\n');

export interface LabSotSpec {
  sot: string;
  site: string;
  agentId: string;
  /** How VMs reach the agent, e.g. http://10.77.9.1:8080. */
  agentUrl: string;
  /** More agents of the site on the same bridge (each with its own URL). */
  moreAgents?: { id: string; httpUrl: string }[];
  dhcpMode: 'server' | 'proxy';
  /** The bridge's subnet and address (gateway and DNS of the hosts). */
  cidr: string;
  gateway: string;
  hosts: LabSotHost[];
  /** Seconds per stage; the defaults fit TCG boots on 2 cores with room to spare. */
  timeouts?: Partial<Record<'power' | 'dhcp' | 'tftp' | 'ipxe' | 'kernel' | 'checkpoint', number>>;
  powerRetries?: number;
  /** Failed hosts a rollout tolerates per workflow before it halts (SoT default when absent). */
  maxFail?: number;
  /** Task containers of a boot: every host of that OS profile (host i has LAB_OSES[i % 2]) runs them. */
  bootTasks?: Partial<Record<LabOs, LabBootTasks>>;
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
  const configDir = path.join(dir, 'assets', 'untyped');
  for (const d of [
    siteDir,
    configDir,
    path.join(dir, 'os'),
    path.join(dir, 'boot'),
    path.join(dir, 'workflows'),
  ]) {
    await mkdir(d, { recursive: true });
  }
  if (Object.values(spec.bootTasks ?? {}).some((b) => b.unattended)) {
    await writeFile(path.join(configDir, 'tiny.cfg'), LAB_CONFIG_TEMPLATE);
  }
  const n = spec.hosts.length;
  await writeFile(
    path.join(siteDir, 'env.yml'),
    stringify({
      description: `vaquero lab ${spec.site}`,
      subnets: [
        { id: LAB_SUBNET, cidr: spec.cidr, gateway: spec.gateway, dns: [spec.gateway], domain: 'lab.test' },
      ],
      agents: [
        { id: spec.agentId, http_url: spec.agentUrl, dhcp_mode: spec.dhcpMode },
        ...(spec.moreAgents ?? []).map((a) => ({ id: a.id, http_url: a.httpUrl, dhcp_mode: spec.dhcpMode })),
      ],
      policy: { max_concurrent: Math.max(1, n), bmc_concurrency: Math.max(1, n) },
    }),
  );
  await writeFile(
    path.join(siteDir, 'machines.yml'),
    spec.hosts
      .map((h) =>
        stringify({
          name: h.name,
          workflow: labOsOf(spec.hosts.indexOf(h)),
          ...(h.metadata ? { metadata: h.metadata } : {}),
          ...(h.secureBoot ? { secure_boot: true } : {}),
          ...(h.loader ? { loader: h.loader } : {}),
          interfaces: [
            { type: 'physical', mac: h.mac, subnet: LAB_SUBNET, ipv4: h.ipv4, hostname: h.name },
            {
              type: 'bmc',
              driver: h.bmc.driver ?? 'ipmi',
              address: h.bmc.address,
              credentials: h.bmc.credentials,
              ...(h.bmc.options ? { options: h.bmc.options } : {}),
            },
          ],
        }),
      )
      .join('---\n'),
  );
  for (const os of LAB_OSES) {
    await writeFile(
      path.join(dir, 'os', `${os}.yml`),
      `# A tiny OS of the lab (lab/tiny-initrd.ts): DHCP, checkpoint with /proc/cmdline, power off.\n${stringify(TINY_OS)}`,
    );
    const { unattended, ...tasks } = spec.bootTasks?.[os] ?? {};
    await writeFile(
      path.join(dir, 'boot', `${os}.yml`),
      stringify({
        os,
        ...(unattended
          ? {
              cmdline: ['config={{ urls.config }}'],
              unattended: { type: 'untyped', template: 'tiny.cfg' },
            }
          : {}),
        ...tasks,
      }),
    );
    await writeFile(
      path.join(dir, 'workflows', `${os}.yml`),
      stringify({
        boots: [os],
        policy: {
          max_concurrent: Math.max(1, n),
          ...(spec.maxFail !== undefined ? { max_fail: spec.maxFail } : {}),
        },
        // A Secure Boot host's GRUB fetches the kernel by TFTP in lock-step 1 KB blocks: minutes on a busy machine.
        timeouts: {
          ...LAB_TIMEOUTS,
          ...(spec.hosts.some((h) => h.secureBoot) ? { kernel: 240 } : {}),
          ...spec.timeouts,
        },
        power_retries: spec.powerRetries ?? 1,
      }),
    );
  }
  git(dir, 'init', '-q', '-b', 'main');
  commitAll(dir, 'lab SoT');
  return dir;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync(
    'git',
    [
      '-c',
      'user.name=vaquero lab',
      '-c',
      'user.email=lab@vaquero.invalid',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  ).trim();
}

/** Commits every change of the lab SoT; returns the commit. */
export function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Appends `tokens` to an OS profile's command line (the demo's change). */
export async function appendOsCmdline(dir: string, os: LabOs, tokens: string[]): Promise<void> {
  const file = path.join(dir, 'os', `${os}.yml`);
  const doc = parse(await readFile(file, 'utf8')) as { cmdline: string[] };
  doc.cmdline.push(...tokens);
  await writeFile(file, stringify(doc));
}
