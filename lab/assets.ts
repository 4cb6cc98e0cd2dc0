// The agent's asset folder for a lab: the d-i kernel as `linux` and the tiny initrd as `tiny-initrd.gz`, the
// names lab/sot.ts's OS refers to, and for machines with a disk the image the tiny installer writes to it
// (lab/disk-image.ts) as `disk.img`. Copies, not symlinks: the agent refuses to serve a symlink that leaves its
// asset root (agent/http/app.ts), which is the right rule for a production asset folder.
import { copyFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { buildDiskImage } from './disk-image.ts';
import type { TinyInitrdOptions } from './tiny-initrd.ts';
import { buildTinyInitrd, DI_KERNEL, DISK_IMAGE_ASSET } from './tiny-initrd.ts';

export interface LabAssets {
  dir: string;
  kernel: string;
  initrd: string;
  initrdBytes: number;
  /** False when the tiny initrd came from the cache. */
  initrdBuilt: boolean;
  /** The installed system's image, when asked for. */
  diskImage?: { path: string; bytes: number; built: boolean };
}

export async function prepareLabAssets(
  dir: string,
  opts: TinyInitrdOptions & { kernel?: string; diskImage?: boolean } = {},
): Promise<LabAssets> {
  await mkdir(dir, { recursive: true });
  const tiny = await buildTinyInitrd(opts);
  const kernel = path.join(dir, 'linux');
  const initrd = path.join(dir, 'tiny-initrd.gz');
  await copyFile(opts.kernel ?? DI_KERNEL, kernel);
  await copyFile(tiny.path, initrd);
  const assets: LabAssets = {
    dir,
    kernel,
    initrd,
    initrdBytes: (await stat(initrd)).size,
    initrdBuilt: tiny.built,
  };
  if (opts.diskImage) {
    const { diskImage: _, ...imageOpts } = opts;
    const image = await buildDiskImage(imageOpts);
    const file = path.join(dir, DISK_IMAGE_ASSET);
    await copyFile(image.path, file);
    assets.diskImage = { path: file, bytes: image.bytes, built: image.built };
  }
  return assets;
}
