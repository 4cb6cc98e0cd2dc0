// A virtual BMC for tests: OpenIPMI's ipmi_sim on 127.0.0.1 (a free UDP port) with a `chassis_control` hook
// (LAB.md §5). Power and the boot device live in files of the fixture's own directory; with `vmCommand` the
// hook also starts that command on power-on (in its own process group, BOOTDEV=<device> in its environment)
// and kills the group on power-off, which is how a QEMU VM gets driven through IPMI. ipmi_sim and every VM
// are ended by pid on stop().
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface IpmiSimOptions {
  username?: string;
  /** At most 20 characters (IPMI 2.0). Default: random. */
  password?: string;
  /** Shell command run on power-on (e.g. a QEMU wrapper that reads $BOOTDEV); power state = "it is alive". */
  vmCommand?: string;
  /** The BMC acknowledges boot device changes but keeps the old device (a BMC that ignores the override). */
  ignoreBootDevice?: boolean;
}

export interface IpmiSim {
  host: string;
  port: number;
  /** host:port, as a BMC interface's address. */
  address: string;
  username: string;
  password: string;
  dir: string;
  pid: number;
  /** What the hook holds: power 0/1 and the boot device ipmi_sim last set (pxe, default, …). */
  state(): Promise<{ power: 0 | 1; boot: string }>;
  /** Every hook call, e.g. `set power 1`, in order. */
  hookCalls(): Promise<string[]>;
  /** The boot device at each power-on, in order. */
  powerOns(): Promise<string[]>;
  /** Runs ipmitool against this BMC (lanplus, -C 3) with the given (or the right) password. */
  ipmitool(args: string[], password?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

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

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function hookScript(dir: string, o: IpmiSimOptions): string {
  return `#!/bin/sh
# chassis_control hook: ipmi_sim runs "get power|boot" and "set power|boot|reset|shutdown VALUE".
# It must return within about a second: ipmi_sim is single-threaded and ipmitool retransmits.
D=${q(dir)}
VM_CMD=${q(o.vmCommand ?? '')}
alive() { [ -f "$D/vm.pid" ] && kill -0 "$(cat "$D/vm.pid")" 2>/dev/null; }
power() { if [ -n "$VM_CMD" ]; then if alive; then echo 1; else echo 0; fi; else cat "$D/power" 2>/dev/null || echo 0; fi; }
boot() { cat "$D/boot" 2>/dev/null || echo default; }
start() {
  echo 1 > "$D/power"; boot >> "$D/power-ons"
  if [ -n "$VM_CMD" ] && ! alive; then
    BOOTDEV=$(boot) setsid sh -c "$VM_CMD" </dev/null >>"$D/vm.out" 2>&1 &
    echo $! > "$D/vm.pid"
  fi
}
stop() {
  echo 0 > "$D/power"
  if alive; then P=$(cat "$D/vm.pid"); kill -TERM -"$P" 2>/dev/null; (sleep 0.5; kill -KILL -"$P" 2>/dev/null) >/dev/null 2>&1 & fi
  rm -f "$D/vm.pid"
}
echo "$*" >> "$D/hook.log"
case "$1 $2" in
  "get power") echo "power:$(power)" ;;
  "get boot") echo "boot:$(boot)" ;;
  "set power") if [ "$3" = 1 ]; then start; else stop; fi ;;
  "set boot") ${o.ignoreBootDevice ? ':' : 'echo "$3" > "$D/boot"'} ;;
  "set reset") stop; start ;;
  "set shutdown") stop ;;
esac
exit 0
`;
}

export async function startIpmiSim(opts: IpmiSimOptions = {}): Promise<IpmiSim> {
  const username = opts.username ?? 'admin';
  const password = opts.password ?? randomBytes(8).toString('hex');
  if (password.length > 20) throw new Error('IPMI 2.0 passwords are at most 20 characters');
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-ipmi-'));
  const port = await freeUdpPort();
  const hook = path.join(dir, 'chassis.sh');
  await writeFile(hook, hookScript(dir, opts));
  await chmod(hook, 0o755);
  await mkdir(path.join(dir, 'state'));
  await writeFile(
    path.join(dir, 'lan.conf'),
    [
      'name "vaquero-test"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${port}`,
      '    priv_limit admin',
      ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} none md2 md5 straight`),
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  chassis_control "${hook}"`,
      `  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight`,
      '',
    ].join('\n'),
  );
  await writeFile(path.join(dir, 'sim.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n');
  // -n: no console (stdin is not a TTY; without it ipmi_sim aborts in epoll_ctl).
  const child: ChildProcess = spawn(
    'ipmi_sim',
    ['-c', path.join(dir, 'lan.conf'), '-f', path.join(dir, 'sim.emu'), '-s', path.join(dir, 'state'), '-n'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ipmitool = (args: string[], pw = password) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'ipmitool',
        ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(port), '-U', username, '-E', '-C', '3', ...args],
        { env: { PATH: process.env.PATH, IPMI_PASSWORD: pw }, timeout: 20_000 },
        (err, out, errOut) => resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout: out, stderr: errOut }),
      );
    });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // The VM first (its group), then ipmi_sim itself; both by pid.
    const vm = await readFile(path.join(dir, 'vm.pid'), 'utf8').catch(() => '');
    if (vm.trim()) {
      try {
        process.kill(-Number(vm.trim()), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ipmi_sim exited at start (${child.exitCode}): ${stderr}`);
      const r = await ipmitool(['chassis', 'power', 'status']);
      if (r.code === 0) break;
      if (Date.now() > deadline) throw new Error(`ipmi_sim on 127.0.0.1:${port} did not answer: ${r.stderr}`);
      await delay(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    username,
    password,
    dir,
    pid: child.pid!,
    async state() {
      const power = (await readFile(path.join(dir, 'power'), 'utf8').catch(() => '0')).trim() === '1' ? 1 : 0;
      const boot = (await readFile(path.join(dir, 'boot'), 'utf8').catch(() => 'default')).trim();
      return { power, boot };
    },
    async hookCalls() {
      return (await readFile(path.join(dir, 'hook.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
    async powerOns() {
      return (await readFile(path.join(dir, 'power-ons'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
    ipmitool,
    stop,
  };
}
