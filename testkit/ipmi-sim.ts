// A virtual BMC for tests: lab/ipmi-bmc.ts's ipmi_sim with its chassis hook (LAB.md §5) on a free UDP port of
// 127.0.0.1, in a temp directory of its own that stop() removes. With `vmCommand` the hook also starts that
// command on power-on and kills its process group on power-off, which is how a QEMU VM gets driven through IPMI.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bmcState, freeUdpPort, hookCalls, powerOns, startIpmiBmc } from '../lab/ipmi-bmc.ts';

export { freeUdpPort };

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

export async function startIpmiSim(opts: IpmiSimOptions = {}): Promise<IpmiSim> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-ipmi-'));
  try {
    const bmc = await startIpmiBmc({
      dir,
      port: await freeUdpPort(),
      username: opts.username ?? 'admin',
      password: opts.password ?? randomBytes(8).toString('hex'),
      ...(opts.vmCommand !== undefined ? { vmCommand: opts.vmCommand } : {}),
      ...(opts.ignoreBootDevice !== undefined ? { ignoreBootDevice: opts.ignoreBootDevice } : {}),
    });
    return {
      ...bmc,
      state: () => bmcState(dir),
      hookCalls: () => hookCalls(dir),
      powerOns: () => powerOns(dir),
      async stop() {
        await bmc.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
