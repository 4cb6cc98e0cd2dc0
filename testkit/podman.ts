// podman's Docker-compatible API for dockerode tests (LAB.md §6): `podman system service` on a unix socket in
// a temp dir with vaquero's containers.conf, and a 2 MB busybox image made locally by `podman import` (no
// registry). The service is ended by pid on stop(); containers the tests made are removed by their label.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { ensurePodmanConf } from '../cli/setup/podman.ts';

const run = promisify(execFile);

export const BUSYBOX_IMAGE = 'localhost/vaquero-test-busybox:1';

export interface Podman {
  socketPath: string;
  docker: Docker;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

async function ensureBusyboxImage(env: NodeJS.ProcessEnv): Promise<void> {
  const have = await run('podman', ['image', 'exists', BUSYBOX_IMAGE], { env }).then(
    () => true,
    () => false,
  );
  if (have) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-busybox-'));
  try {
    const bin = path.join(dir, 'rootfs', 'bin');
    await mkdir(bin, { recursive: true });
    await copyFile('/bin/busybox', path.join(bin, 'busybox'));
    for (const a of ['sh', 'echo', 'cat', 'ls', 'sleep', 'env', 'printf', 'test', 'true', 'false'])
      await symlink('busybox', path.join(bin, a));
    await run('tar', ['-C', path.join(dir, 'rootfs'), '-cf', path.join(dir, 'rootfs.tar'), '.']);
    await run(
      'podman',
      [
        'import',
        '--change',
        'CMD ["/bin/sh"]',
        '--change',
        'ENV PATH=/bin',
        path.join(dir, 'rootfs.tar'),
        BUSYBOX_IMAGE,
      ],
      { env },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startPodman(): Promise<Podman> {
  const env = { ...process.env, CONTAINERS_CONF: await ensurePodmanConf() };
  await ensureBusyboxImage(env);
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-podman-'));
  const socketPath = path.join(dir, 'podman.sock');
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that dies without stop() must not leave this server behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const docker = new Docker({ socketPath });
  const stop = async () => {
    const mine = await docker
      .listContainers({ all: true, filters: { label: ['vaquero.site'] } })
      .catch(() => []);
    for (const c of mine)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    process.removeListener('exit', reap);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`podman system service exited (${child.exitCode}): ${stderr}`);
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${socketPath}: ${stderr}`);
    }
    await delay(100);
  }
  return { socketPath, docker, env, stop };
}
