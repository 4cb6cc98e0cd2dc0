// podman's configuration for vaquero's task containers on lab machines (LAB.md §6), kept out of /etc: runc
// (crun refuses hybrid cgroups), rlimits below the machine's hard limits, cgroupfs and file events (no
// systemd). Point CONTAINERS_CONF at the file this writes.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { vaqueroCacheDir } from '../../temporal/cache-dir.ts';

export const PODMAN_CONTAINERS_CONF = `# written by vaquero (cli/setup/podman.ts)
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

/** Writes (when different) and returns the path of vaquero's containers.conf in the cache dir. */
export async function ensurePodmanConf(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = path.join(vaqueroCacheDir(env), 'podman', 'containers.conf');
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current !== PODMAN_CONTAINERS_CONF) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, PODMAN_CONTAINERS_CONF);
  }
  return file;
}
