// The agent's asset folder for a lab: the d-i kernel as `linux` and the tiny initrd as `tiny-initrd.gz`, the
// names lab/sot.ts's OS refers to. Copies, not symlinks: the agent refuses to serve a symlink that leaves its
// asset root (agent/http/app.ts), which is the right rule for a production asset folder.
import { copyFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TinyInitrdOptions } from './tiny-initrd.ts';
import { buildTinyInitrd, DI_KERNEL } from './tiny-initrd.ts';

export interface LabAssets {
  dir: string;
  kernel: string;
  initrd: string;
  initrdBytes: number;
  /** False when the tiny initrd came from the cache. */
  initrdBuilt: boolean;
}

export async function prepareLabAssets(
  dir: string,
  opts: TinyInitrdOptions & { kernel?: string } = {},
): Promise<LabAssets> {
  await mkdir(dir, { recursive: true });
  const tiny = await buildTinyInitrd(opts);
  const kernel = path.join(dir, 'linux');
  const initrd = path.join(dir, 'tiny-initrd.gz');
  await copyFile(opts.kernel ?? DI_KERNEL, kernel);
  await copyFile(tiny.path, initrd);
  return { dir, kernel, initrd, initrdBytes: (await stat(initrd)).size, initrdBuilt: tiny.built };
}
