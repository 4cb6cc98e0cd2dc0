// Small SoT folders for workflow tests: the shared OS profiles, boots and templates of
// test/fixtures/workflows/base, plus one site, its hosts and the workflows a test describes.
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const BASE_SOT = fileURLToPath(new URL('../test/fixtures/workflows/base', import.meta.url));

/** Seconds. Short, so a stalled host fails within seconds; generous enough for a loaded 2-core machine. */
export const FAST_TIMEOUTS = {
  pre_shutdown: 20,
  power: 20,
  dhcp: 4,
  tftp: 4,
  ipxe: 4,
  kernel: 4,
  config: 4,
  checkpoint: 6,
  validate: 20,
} as const;

export interface WorkflowFixture {
  /** Boot ids of test/fixtures/workflows/base/boot: install, configure (both with a config), quick (none). */
  boots: string[];
  policy?: {
    max_concurrent?: number;
    min_standing?: number;
    max_fail?: number;
    block_deps?: string[];
    windows?: string[];
    time_zone?: string;
  };
  timeouts?: Partial<Record<keyof typeof FAST_TIMEOUTS, number>>;
  power_retries?: number;
  on_failure?: 'power_off' | 'leave';
}

export interface HostFixture {
  name: string;
  workflow: string;
  /** sim driver knobs: never_dhcp, stall_at, fail_validation, flaky_bmc. */
  options?: Record<string, unknown>;
  never_provision?: boolean;
}

export interface SotFixture {
  /** SoT name (rollout ids are rollout/<sot>/<revision>); unique per test so rollouts never supersede each other. */
  sot: string;
  /** Site id; unique per test so host workflow ids (host/<site>/<host>) never collide. */
  site: string;
  siteMaxConcurrent?: number;
  /** Agent ids of the site (default: one, `<site>-agent`); all serve the one subnet at the same URL. */
  agents?: string[];
  workflows: Record<string, WorkflowFixture>;
  hosts: HostFixture[];
}

export interface WrittenSot {
  dir: string;
  sot: string;
  site: string;
  /** Boot MAC of each host, by name. */
  macs: Map<string, string>;
}

/** Writes the SoT into a new folder under `parent` (default: a new temp dir). */
export async function writeSot(f: SotFixture, parent?: string): Promise<WrittenSot> {
  const root = parent ?? (await mkdtemp(path.join(tmpdir(), 'vaq-sot-')));
  const dir = path.join(root, f.sot);
  await mkdir(dir, { recursive: true });
  await cp(BASE_SOT, dir, { recursive: true });
  const siteDir = path.join(dir, 'sites', f.site);
  await mkdir(siteDir, { recursive: true });
  await mkdir(path.join(dir, 'workflows'), { recursive: true });
  await writeFile(
    path.join(siteDir, 'env.yml'),
    stringify({
      description: `workflow test site ${f.site}`,
      subnets: [
        {
          id: 'prov',
          cidr: '10.20.0.0/16',
          gateway: '10.20.0.1',
          dns: ['10.20.0.1'],
          domain: `${f.site}.test`,
        },
      ],
      agents: (f.agents ?? [`${f.site}-agent`]).map((id) => ({
        id,
        http_url: 'http://10.20.0.2:8080',
        dhcp_mode: 'server',
      })),
      ...(f.siteMaxConcurrent ? { policy: { max_concurrent: f.siteMaxConcurrent } } : {}),
    }),
  );
  const macs = new Map<string, string>();
  const docs = f.hosts.map((h, i) => {
    const n = i + 1;
    const mac = `52:54:00:aa:${hex(Math.floor(n / 256))}:${hex(n % 256)}`;
    macs.set(h.name, mac);
    return stringify({
      name: h.name,
      workflow: h.workflow,
      ...(h.never_provision ? { never_provision: true } : {}),
      interfaces: [
        {
          type: 'physical',
          mac,
          subnet: 'prov',
          ipv4: `10.20.${Math.floor(n / 200) + 1}.${(n % 200) + 10}`,
          hostname: h.name,
        },
        {
          type: 'bmc',
          driver: 'sim',
          address: `sim://${h.name}`,
          credentials: 'test-bmc',
          ...(h.options ? { options: h.options } : {}),
        },
      ],
    });
  });
  await writeFile(path.join(siteDir, 'hosts.yml'), docs.join('---\n'));
  for (const [id, wf] of Object.entries(f.workflows)) {
    await writeFile(
      path.join(dir, 'workflows', `${id}.yml`),
      stringify({
        boots: wf.boots,
        ...(wf.policy ? { policy: wf.policy } : {}),
        timeouts: { ...FAST_TIMEOUTS, ...wf.timeouts },
        ...(wf.power_retries !== undefined ? { power_retries: wf.power_retries } : {}),
        ...(wf.on_failure !== undefined ? { on_failure: wf.on_failure } : {}),
      }),
    );
  }
  return { dir, sot: f.sot, site: f.site, macs };
}

/** A change that alters what every host booting `os` boots (its kernel URL), as an operator's commit would. */
export async function changeKernel(dir: string, os: string, suffix: string): Promise<void> {
  const file = path.join(dir, 'os', `${os}.yml`);
  const text = await readFile(file, 'utf8');
  const next = text.replace(/^kernel: "(.*)"$/m, (_m, url: string) => `kernel: "${url}-${suffix}"`);
  if (next === text) throw new Error(`no kernel line in ${file}`);
  await writeFile(file, next);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
