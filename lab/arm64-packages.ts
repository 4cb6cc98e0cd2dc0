// Debian's arm64 packages an arm64 lab VM boots from, unpacked (never installed: nothing arm64 runs on this
// machine): the signed arm64 shim and GRUB netboot image the agent serves, and the arm64 busybox of the tiny
// initrd. `apt-get download` fetches each .deb through apt's own sources (the machine needs arm64 as a foreign
// architecture: `vaquero setup --lab` adds it), `dpkg-deb -x` unpacks it into the cache; both run once per
// package version, so later calls are a directory listing.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';

const run = promisify(execFile);

/** The arm64 packages, with the one file of each the lab uses (a path inside the package). */
export const ARM64_PACKAGES = {
  shim: { pkg: 'shim-signed', file: 'usr/lib/shim/shimaa64.efi.signed' },
  grub: { pkg: 'grub-efi-arm64-signed', file: 'usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed' },
  busybox: { pkg: 'busybox-static', file: 'bin/busybox' },
} as const;

export type Arm64Part = keyof typeof ARM64_PACKAGES;

export interface Arm64Files {
  /** Absolute paths of the unpacked files, by part. */
  files: Record<Arm64Part, string>;
  /** The .deb each came from (its file name says the version), by part. */
  debs: Record<Arm64Part, string>;
}

export function arm64CacheDir(cacheDir?: string): string {
  return path.join(cacheDir ?? path.join(vaqueroCacheDir(), 'lab'), 'arm64');
}

/** Whether dpkg lists arm64 among its foreign architectures (apt then has the arm64 package lists). */
export async function arm64Enabled(): Promise<boolean> {
  const r = await run('dpkg', ['--print-foreign-architectures']).catch(() => ({ stdout: '' }));
  return r.stdout.split(/\s+/).includes('arm64');
}

/** The .deb of `pkg` for arm64 in `dir`: the one there, else downloaded by apt. */
async function debOf(pkg: string, dir: string): Promise<string> {
  const have = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('_arm64.deb'));
  if (have) return path.join(dir, have);
  if (!(await arm64Enabled()))
    throw new Error(
      `${pkg}:arm64 is not in the cache (${dir}) and apt has no arm64 packages: run \`vaquero setup --lab\` as root (dpkg --add-architecture arm64; apt-get update)`,
    );
  await run('apt-get', ['download', '-qq', `${pkg}:arm64`], { cwd: dir, maxBuffer: 16 * 2 ** 20 }).catch(
    (err: unknown) => {
      throw new Error(`apt-get download ${pkg}:arm64 failed: ${String(err)}`);
    },
  );
  const got = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('_arm64.deb'));
  if (!got) throw new Error(`apt-get download ${pkg}:arm64 left no ${pkg}_*_arm64.deb in ${dir}`);
  return path.join(dir, got);
}

/** The arm64 files, downloading and unpacking what the cache lacks. */
export async function ensureArm64Files(cacheDir?: string): Promise<Arm64Files> {
  const dir = arm64CacheDir(cacheDir);
  const debDir = path.join(dir, 'debs');
  await mkdir(debDir, { recursive: true });
  const files = {} as Record<Arm64Part, string>;
  const debs = {} as Record<Arm64Part, string>;
  for (const part of Object.keys(ARM64_PACKAGES) as Arm64Part[]) {
    const { pkg, file } = ARM64_PACKAGES[part];
    const deb = await debOf(pkg, debDir);
    // One folder per .deb (its name holds the version): a newer package unpacks beside, never over, the old one.
    const root = path.join(dir, 'root', path.basename(deb, '.deb'));
    const target = path.join(root, file);
    if (!(await stat(target).catch(() => undefined))) {
      const tmp = `${root}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      await run('dpkg-deb', ['-x', deb, tmp]);
      if (!(await stat(path.join(tmp, file)).catch(() => undefined)))
        throw new Error(`${path.basename(deb)} has no ${file}`);
      await rm(root, { recursive: true, force: true });
      await rename(tmp, root);
    }
    files[part] = target;
    debs[part] = path.basename(deb);
  }
  return { files, debs };
}
