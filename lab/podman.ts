// The lab's container engine (LAB.md §6): `podman system service` on a unix socket in the run's directory,
// started inside the lab's network namespace (so a container with `network_mode: host` shares the namespace's
// loopback, where every ipmi_sim listens), with vaquero's containers.conf (runc, rlimits; cli/setup/podman.ts
// writes it and the caller passes its path). The agent reaches it only through its config's `tasks.engine`.
//
// `ip netns exec` gives its command a mount namespace with a fresh /sys, which hides the machine's cgroup mounts,
// and runc then fails with "no cgroup mount found in mountinfo". So the service runs in the mount namespace of
// the process that started the lab (nsenter --mount; the network namespace stays the lab's).
//
// Two images, made locally without a registry (a rootfs tar and `podman import`, as testkit/podman.ts does):
//   * the BMC image: busybox, ipmitool with the shared libraries `ldd` names, and /bmc.sh, which maps the
//     container driver's BMC_ACTION to ipmitool commands against BMC_ADDRESS (an ipmi_sim) and answers per the
//     driver's protocol (activities/power/container-driver.ts). Each call is appended to /log/calls.log when the
//     caller binds a directory there, so a run can show the containers really ran;
//   * the task image: busybox alone, for a boot's before_shutdown and validate tasks.
// Tags carry a hash of their content, so a changed script makes a new image instead of reusing a stale one.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const run = promisify(execFile);

export interface LabPodman {
  /** `unix:///…/podman.sock`: what the agent's `tasks.engine` names. */
  endpoint: string;
  socketPath: string;
  pid: number;
  /** The environment podman commands of this run use (CONTAINERS_CONF). */
  env: NodeJS.ProcessEnv;
  docker: Docker;
  /** Removes the containers labelled with this site and one of these hosts, then ends the service by pid. */
  stop(site: string, hosts: string[]): Promise<void>;
}

/**
 * A mount namespace that shows the cgroup hierarchies: none (this one) when /sys/fs/cgroup has them, else the
 * parent process's (the one that ran `ip netns exec`).
 */
export async function cgroupMountNamespace(): Promise<string | undefined> {
  const has = async (dir: string) => (await readdir(dir).catch(() => [])).length > 0;
  if (await has('/sys/fs/cgroup')) return undefined;
  const parent = `/proc/${process.ppid}`;
  if (await has(`${parent}/root/sys/fs/cgroup`)) return `${parent}/ns/mnt`;
  throw new Error(
    "no cgroup hierarchy in this mount namespace nor in the parent process's: podman cannot run containers",
  );
}

export async function startLabPodman(o: { dir: string; containersConf: string }): Promise<LabPodman> {
  await mkdir(o.dir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: o.containersConf };
  const socketPath = path.join(o.dir, 'podman.sock');
  const service = ['podman', 'system', 'service', '--time=0', `unix://${socketPath}`];
  const mountNs = await cgroupMountNamespace();
  // nsenter execs podman (no fork for a mount namespace): the child's pid is the service's.
  const argv = mountNs ? ['nsenter', `--mount=${mountNs}`, '--', ...service] : service;
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const docker = new Docker({ socketPath });
  let stopped = false;
  const end = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killed);
    }
  };
  const stop = async (site: string, hosts: string[]) => {
    if (stopped) return;
    stopped = true;
    const mine = await docker
      .listContainers({ all: true, filters: { label: [`vaquero.site=${site}`] } })
      .catch(() => []);
    for (const c of mine.filter((x) => hosts.includes(x.Labels['vaquero.host'] ?? '')))
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    await end();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`podman system service exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await end();
      throw new Error(`podman system service did not answer on ${socketPath} within 30 s: ${stderr}`);
    }
    await delay(100);
  }
  return { endpoint: `unix://${socketPath}`, socketPath, pid: child.pid!, env, docker, stop };
}

/** The BMC container's program (busybox sh): BMC_ACTION → ipmitool, answers as `key: value` lines. */
export const BMC_SCRIPT = `#!/bin/sh
# vaquero lab BMC container: one BMC action per run, against the ipmi_sim at BMC_ADDRESS (host:port).
# Protocol: activities/power/container-driver.ts. Exit 2 = permanent failure, other non-zero = retry.
log() { [ -d /log ] && echo "$(date +%s) $BMC_HOST $BMC_ACTION\${BMC_BOOT_DEVICE:+ $BMC_BOOT_DEVICE} $*" >> /log/calls.log; }
fail() { echo "$2" >&2; log "failed: $2"; exit "$1"; }
field() { sed -n "s/.*\\"$1\\":\\"\\([^\\"]*\\)\\".*/\\1/p" "$BMC_CREDENTIALS_FILE"; }
[ -r "$BMC_CREDENTIALS_FILE" ] || fail 2 "no credentials file (BMC_CREDENTIALS_FILE)"
U=$(field username); P=$(field password)
[ -n "$U" ] && [ -n "$P" ] || fail 2 "the credentials hold no username and password"
case "$BMC_ADDRESS" in *:*) H=\${BMC_ADDRESS%:*}; PORT=\${BMC_ADDRESS##*:} ;; *) H=$BMC_ADDRESS; PORT=623 ;; esac
ipmi() {
  OUT=$(IPMI_PASSWORD="$P" ipmitool -I lanplus -H "$H" -p "$PORT" -U "$U" -E -C 3 "$@" 2>/tmp/err) ||
    fail 1 "ipmitool $*: $(grep -v 'IANA PEN' /tmp/err | tail -n 2 | tr '\\n' ' ')"
}
case "$BMC_ACTION" in
  status)
    ipmi chassis power status
    case "$OUT" in
      *"is on"*) A="power: on" ;;
      *"is off"*) A="power: off" ;;
      *) fail 1 "unexpected power status: $OUT" ;;
    esac ;;
  on|off|cycle|reset)
    ipmi chassis power "$BMC_ACTION"; A="ok" ;;
  bootdev-set)
    case "$BMC_BOOT_DEVICE" in
      network) D=pxe ;; disk) D=disk ;; none) D=none ;;
      *) fail 2 "boot device $BMC_BOOT_DEVICE is not supported over IPMI" ;;
    esac
    if [ "$BMC_BOOT_PERSISTENT" = true ]; then ipmi chassis bootdev "$D" options=persistent
    else ipmi chassis bootdev "$D"; fi
    A="ok" ;;
  bootdev-get)
    ipmi chassis bootparam get 5
    SEL=$(echo "$OUT" | sed -n 's/.*Boot Device Selector *: *//p' | head -n 1)
    case "$SEL" in
      "Force PXE"*) B=network ;;
      "Force Boot from default Hard-Drive"*) B=disk ;;
      "No override"*) B=none ;;
      "") fail 1 "unexpected boot flags: $OUT" ;;
      *) B=$SEL ;;
    esac
    # Without the valid bit the selector is no override (some BMCs clear only that bit once it was used).
    case "$OUT" in *"Boot Flag Invalid"*) B=none ;; esac
    case "$OUT" in *"Options apply to all future boots"*) PER=true ;; *) PER=false ;; esac
    A="boot: $B
persistent: $PER" ;;
  *) fail 2 "unsupported action $BMC_ACTION" ;;
esac
echo "$A"
log "-> $(echo "$A" | tr '\\n' ' ')"
`;

/** Absolute paths of the shared libraries (and the loader) a binary needs, per `ldd`. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs].sort();
}

async function imageExists(tag: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return run('podman', ['image', 'exists', tag], { env }).then(
    () => true,
    () => false,
  );
}

/** `repo:<hash of the inputs>`: a new tag whenever what goes into the image changes. */
function contentTag(repo: string, inputs: string[]): string {
  return `${repo}:${createHash('sha256').update(inputs.join('\0')).digest('hex').slice(0, 12)}`;
}

/** Imports a rootfs with busybox and its applets (plus what `extra` adds) as `tag`, unless it exists. */
async function importImage(
  tag: string,
  env: NodeJS.ProcessEnv,
  extra: (rootfs: string) => Promise<void>,
  changes: string[],
): Promise<string> {
  if (await imageExists(tag, env)) return tag;
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-lab-image-'));
  try {
    const rootfs = path.join(dir, 'rootfs');
    const bin = path.join(rootfs, 'bin');
    await mkdir(bin, { recursive: true });
    await mkdir(path.join(rootfs, 'tmp'), { recursive: true, mode: 0o1777 });
    await copyFile('/bin/busybox', path.join(bin, 'busybox'));
    const { stdout } = await run('/bin/busybox', ['--list']);
    for (const applet of stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox'))
      await symlink('busybox', path.join(bin, applet));
    await extra(rootfs);
    const tar = path.join(dir, 'rootfs.tar');
    await run('tar', ['-C', rootfs, '-cf', tar, '.']);
    await run('podman', ['import', ...changes.flatMap((c) => ['--change', c]), tar, tag], { env });
    return tag;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The BMC image: busybox, ipmitool (with what `ldd` says it loads) and BMC_SCRIPT as its command. */
export async function labBmcImage(env: NodeJS.ProcessEnv, ipmitool = '/usr/bin/ipmitool'): Promise<string> {
  const libs = await sharedLibraries(ipmitool);
  const binary = await readFile(ipmitool);
  const inputs = [BMC_SCRIPT, createHash('sha256').update(binary).digest('hex'), ...libs];
  return importImage(
    contentTag('localhost/vaquero-lab-bmc', inputs),
    env,
    async (rootfs) => {
      await mkdir(path.join(rootfs, 'usr', 'bin'), { recursive: true });
      await copyFile(ipmitool, path.join(rootfs, 'usr', 'bin', 'ipmitool'));
      for (const lib of libs) {
        await mkdir(path.join(rootfs, path.dirname(lib)), { recursive: true });
        await copyFile(lib, path.join(rootfs, lib));
      }
      await writeFile(path.join(rootfs, 'bmc.sh'), BMC_SCRIPT);
      await chmod(path.join(rootfs, 'bmc.sh'), 0o755);
    },
    ['CMD ["/bin/sh", "/bmc.sh"]', 'ENV PATH=/usr/bin:/bin'],
  );
}

/** The task image's name: busybox alone, so one tag serves every run (and a SoT can name it up front). */
export const LAB_TASK_IMAGE = 'localhost/vaquero-lab-busybox:1';

/** Makes LAB_TASK_IMAGE if it is missing; returns its name. */
export function labTaskImage(env: NodeJS.ProcessEnv): Promise<string> {
  return importImage(LAB_TASK_IMAGE, env, () => Promise.resolve(), ['CMD ["/bin/sh"]', 'ENV PATH=/bin']);
}
