// A virtual BMC per lab machine (LAB.md §5): OpenIPMI's ipmi_sim on 127.0.0.1:<port> with a `chassis_control`
// hook. The hook keeps power and boot device in files of the BMC's directory; given a VM command it starts
// the VM on power-on (own session, BOOTDEV=<device> in its environment, pid in vm.pid) and kills its process
// group on power-off, so "power is on" means "the VM runs". It returns at once in every case: ipmi_sim is
// single-threaded and ipmitool retransmits after about a second, so a slow hook sees every command twice.
//
// Boot overrides behave as on a real BMC (IPMI "Set System Boot Options", boot flags): ipmi_sim alone hands its
// hook the device and drops the valid and persistent bits, so a module of ours (ipmi-sim-boot-flags.c, built
// once into the cache with gcc) passes them on. A power-on boots the override while its valid bit is set and
// clears it unless it is persistent: a one-time "force PXE" applies to the next boot only, and the boot after it
// follows the machine's own order ("default": disk first, then network).
//
// Files in the BMC's directory: hook.log (every hook call, as called), power.log (timestamped hook calls and
// VM starts/stops), power-ons (the boot device at each power-on), vm.out (the VM command's output), boot and
// boot-flags (the override: device, and boot flags byte 1 in hex: 80 valid, 40 persistent, 20 EFI).
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';

export interface BmcSpec {
  /** The BMC's own directory (created if missing). */
  dir: string;
  /** UDP port on 127.0.0.1. */
  port: number;
  username: string;
  /** At most 20 characters (IPMI 2.0). */
  password: string;
  /** Shell command run on power-on (e.g. a lab VM's script, which reads $BOOTDEV). */
  vmCommand?: string;
  /** The BMC acknowledges boot device changes but keeps the old device (a BMC that ignores the override). */
  ignoreBootDevice?: boolean;
}

export interface BmcFiles {
  lanConf: string;
  /** The boot flags module ipmi_sim loads. */
  bootFlagsModule: string;
  simEmu: string;
  hook: string;
  stateDir: string;
}

export interface PowerLogEntry {
  /** Epoch ms. */
  at: number;
  /** `set power 1`, `get power`, `vm start pid=123 boot=pxe`, `vm stop pid=123`, … */
  what: string;
}

export interface IpmiBmc {
  host: '127.0.0.1';
  port: number;
  /** host:port, as a BMC interface's address in the SoT. */
  address: string;
  username: string;
  password: string;
  dir: string;
  /** ipmi_sim's pid. */
  pid: number;
  /** Runs ipmitool against this BMC (lanplus, -C 3) with the given (or the right) password. */
  ipmitool(args: string[], password?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kills the VM's process group (if one runs), then ipmi_sim, by pid. Idempotent; keeps the directory. */
  stop(): Promise<void>;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function hookScript(spec: Pick<BmcSpec, 'dir' | 'vmCommand' | 'ignoreBootDevice'>): string {
  return `#!/bin/sh
# chassis_control hook: ipmi_sim runs "get power|boot" and "set power|boot|reset|shutdown VALUE".
# It must return within about a second: ipmi_sim is single-threaded and ipmitool retransmits.
D=${q(spec.dir)}
VM_CMD=${q(spec.vmCommand ?? '')}
log() { echo "$(date +%s.%N) $*" >> "$D/power.log"; }
# A VM that exited but was not reaped yet still answers kill -0: a zombie counts as off.
alive() {
  [ -f "$D/vm.pid" ] || return 1
  P=$(cat "$D/vm.pid")
  [ -r "/proc/$P/stat" ] || return 1
  [ "$(sed 's/.*) //' "/proc/$P/stat" | cut -d' ' -f1)" != Z ]
}
power() { if [ -n "$VM_CMD" ]; then if alive; then echo 1; else echo 0; fi; else cat "$D/power" 2>/dev/null || echo 0; fi; }
boot() { cat "$D/boot" 2>/dev/null || echo default; }
# Boot flags byte 1 (hex): 80 valid, 40 persistent, 20 EFI; none set before the first override.
flags() { cat "$D/boot-flags" 2>/dev/null || echo 00; }
# What this power-on boots: the override while valid, cleared once used unless persistent; else the machine's own
# order (default).
next_boot() {
  F=$((0x$(flags)))
  if [ $((F & 128)) -eq 0 ]; then echo default; return; fi
  boot
  if [ $((F & 64)) -eq 0 ]; then
    log "one-time boot override $(boot) used; cleared"
    echo none > "$D/boot"; echo 00 > "$D/boot-flags"
  fi
}
start() {
  # Already on: nothing boots, so nothing is used up.
  [ "$(power)" = 1 ] && return
  echo 1 > "$D/power"
  DEV=$(next_boot)
  echo "$DEV" >> "$D/power-ons"
  if [ -n "$VM_CMD" ]; then
    BOOTDEV=$DEV setsid sh -c "$VM_CMD" </dev/null >>"$D/vm.out" 2>&1 &
    echo $! > "$D/vm.pid"
    log "vm start pid=$! boot=$DEV"
  fi
}
stop() {
  echo 0 > "$D/power"
  if alive; then
    P=$(cat "$D/vm.pid"); kill -TERM -"$P" 2>/dev/null
    (sleep 0.5; kill -KILL -"$P" 2>/dev/null) >/dev/null 2>&1 &
    log "vm stop pid=$P"
  fi
  rm -f "$D/vm.pid"
}
echo "$*" >> "$D/hook.log"
[ "$1" = set ] && log "$*"
case "$1 $2" in
  "get power") echo "power:$(power)" ;;
  "get boot") echo "boot:$(boot)"; echo "flags:$(flags)" ;;
  "set power") if [ "$3" = 1 ]; then start; else stop; fi ;;
  # IPMI_BOOT_FLAGS comes from the boot flags module (byte 1 as set); without it, ipmi_sim's own handler ran.
  "set boot") ${spec.ignoreBootDevice ? ':' : 'echo "$3" > "$D/boot"; echo "${IPMI_BOOT_FLAGS:-80}" > "$D/boot-flags"'} ;;
  "set reset") stop; start ;;
  "set shutdown") stop ;;
esac
exit 0
`;
}

export function lanConf(
  spec: Pick<BmcSpec, 'port' | 'username' | 'password'>,
  hook: string,
  bootFlagsModule: string,
): string {
  return [
    'name "vaquero-lab"',
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr 127.0.0.1 ${spec.port}`,
    '    priv_limit admin',
    ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} none md2 md5 straight`),
    '    guid a123456789abcdefa123456789abcdef',
    '  endlan',
    `  chassis_control "${hook}"`,
    `  user 2 true "${spec.username}" "${spec.password}" admin 10 none md2 md5 straight`,
    `loadlib "${bootFlagsModule}" "${hook}"`,
    '',
  ].join('\n');
}

export const SIM_EMU =
  'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n';

export async function writeBmcFiles(spec: BmcSpec): Promise<BmcFiles> {
  if (spec.password.length > 20) throw new Error('IPMI 2.0 passwords are at most 20 characters');
  if (/["\s]/.test(spec.username + spec.password))
    throw new Error('BMC username and password must not hold quotes or spaces');
  const files: BmcFiles = {
    lanConf: path.join(spec.dir, 'lan.conf'),
    bootFlagsModule: await buildBootFlagsModule(),
    simEmu: path.join(spec.dir, 'sim.emu'),
    hook: path.join(spec.dir, 'chassis.sh'),
    stateDir: path.join(spec.dir, 'state'),
  };
  await mkdir(files.stateDir, { recursive: true });
  await writeFile(files.hook, hookScript(spec));
  await chmod(files.hook, 0o755);
  await writeFile(files.lanConf, lanConf(spec, files.hook, files.bootFlagsModule));
  await writeFile(files.simEmu, SIM_EMU);
  return files;
}

const BOOT_FLAGS_SOURCE = fileURLToPath(new URL('./ipmi-sim-boot-flags.c', import.meta.url));

/**
 * The boot flags module for ipmi_sim, compiled once per source into <vaquero cache>/lab (content-addressed), so
 * every later BMC start is a stat.
 */
export async function buildBootFlagsModule(cacheDir = path.join(vaqueroCacheDir(), 'lab')): Promise<string> {
  const source = await readFile(BOOT_FLAGS_SOURCE);
  const key = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const target = path.join(cacheDir, `ipmi-sim-boot-flags-${key}.so`);
  if (await stat(target).catch(() => undefined)) return target;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await promisify(execFile)('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, BOOT_FLAGS_SOURCE]);
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr || String(err);
    throw new Error(
      `building the lab BMC's boot flags module needs gcc and libopenipmi-dev (apt-get install gcc libopenipmi-dev): ${detail}`,
      { cause: err },
    );
  }
  await rename(tmp, target);
  return target;
}

/** ipmi_sim's arguments; -n (no console) because stdin is not a TTY: without it ipmi_sim aborts in epoll_ctl. */
export function ipmiSimArgs(files: BmcFiles): string[] {
  return ['-c', files.lanConf, '-f', files.simEmu, '-s', files.stateDir, '-n'];
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
export async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

export function runIpmitool(
  bmc: Pick<BmcSpec, 'port' | 'username' | 'password'>,
  args: string[],
  password = bmc.password,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ipmitool',
      // -C 3: without it ipmitool first asks for cipher suites, which ipmi_sim lacks (10 s per call).
      [
        '-I',
        'lanplus',
        '-H',
        '127.0.0.1',
        '-p',
        String(bmc.port),
        '-U',
        bmc.username,
        '-E',
        '-C',
        '3',
        ...args,
      ],
      { env: { PATH: process.env.PATH, IPMI_PASSWORD: password }, timeout: 20_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr }),
    );
  });
}

/** Writes the BMC's files, starts ipmi_sim (in this process's namespace) and waits until it answers. */
export async function startIpmiBmc(spec: BmcSpec): Promise<IpmiBmc> {
  const files = await writeBmcFiles(spec);
  const child: ChildProcess = spawn('ipmi_sim', ipmiSimArgs(files), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await killVm(spec.dir);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const ipmitool = (args: string[], password?: string) => runIpmitool(spec, args, password);
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ipmi_sim exited at start (${child.exitCode}): ${stderr}`);
      const r = await ipmitool(['chassis', 'power', 'status']);
      if (r.code === 0) break;
      if (Date.now() > deadline)
        throw new Error(`ipmi_sim on 127.0.0.1:${spec.port} did not answer: ${r.stderr}`);
      await delay(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host: '127.0.0.1',
    port: spec.port,
    address: `127.0.0.1:${spec.port}`,
    username: spec.username,
    password: spec.password,
    dir: spec.dir,
    pid: child.pid!,
    ipmitool,
    stop,
  };
}

/** Kills the process group of the VM the hook started (its pid file), if one is recorded. */
export async function killVm(dir: string): Promise<number | undefined> {
  const pid = Number((await readFile(path.join(dir, 'vm.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  return pid;
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** Every hook call, e.g. `set power 1`, in order. */
export function hookCalls(dir: string): Promise<string[]> {
  return lines(path.join(dir, 'hook.log'));
}

/** The boot device at each power-on, in order. */
export function powerOns(dir: string): Promise<string[]> {
  return lines(path.join(dir, 'power-ons'));
}

/** Timestamped power changes and VM starts/stops. */
export async function powerLog(dir: string): Promise<PowerLogEntry[]> {
  return (await lines(path.join(dir, 'power.log'))).flatMap((l) => {
    const m = /^(\d+(?:\.\d+)?) (.*)$/.exec(l);
    return m ? [{ at: Math.round(Number(m[1]) * 1000), what: m[2]! }] : [];
  });
}

/**
 * What the hook holds: power 0/1 and the boot override's device (pxe, default, …; none once a one-time override
 * was used).
 */
export async function bmcState(dir: string): Promise<{ power: 0 | 1; boot: string }> {
  const power = (await readFile(path.join(dir, 'power'), 'utf8').catch(() => '0')).trim() === '1' ? 1 : 0;
  const boot = (await readFile(path.join(dir, 'boot'), 'utf8').catch(() => 'default')).trim();
  return { power, boot };
}
