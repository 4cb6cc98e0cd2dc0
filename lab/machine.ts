// One lab machine: a QEMU VM that only its BMC starts. The BMC (ipmi_sim + chassis hook) runs the VM's script
// on power-on with the boot device it was given, so the host workflow's power stage is what boots the VM.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IpmiBmc, PowerLogEntry } from './ipmi-bmc.ts';
import { freeUdpPort, hookCalls, powerLog, powerOns, startIpmiBmc } from './ipmi-bmc.ts';
import type { Firmware } from './qemu-vm.ts';
import { vmScript } from './qemu-vm.ts';

export interface LabMachineSpec {
  /** The machine's directory: BMC files, vm.sh, serial.log. */
  dir: string;
  name: string;
  firmware: Firmware;
  mac: string;
  tap: string;
  /** Seconds a VM may run before `timeout` ends it. */
  vmTimeoutS: number;
  memoryMb?: number;
  /** BMC UDP port on 127.0.0.1; default a free one. */
  bmcPort?: number;
  /** A raw disk image file for the VM (lab/qemu-vm.ts VmSpec.disk). */
  disk?: string;
}

export interface LabMachineReport {
  name: string;
  firmware: Firmware;
  mac: string;
  bmc: string;
  powerLog: PowerLogEntry[];
  hookCalls: string[];
  powerOns: string[];
  /** The serial console with control sequences removed, last 8 kB. */
  serial: string;
}

export interface LabMachine {
  name: string;
  firmware: Firmware;
  mac: string;
  bmc: IpmiBmc;
  /** The credentials reference of the BMC and the secret it stands for (for the agent's secrets file). */
  credentials: { ref: string; username: string; password: string };
  serialLog: string;
  report(): Promise<LabMachineReport>;
  /** Kills the VM (if on) and the BMC, by pid. */
  stop(): Promise<void>;
}

export async function startLabMachine(spec: LabMachineSpec): Promise<LabMachine> {
  await mkdir(spec.dir, { recursive: true });
  const serialLog = path.join(spec.dir, 'serial.log');
  const script = path.join(spec.dir, 'vm.sh');
  await writeFile(
    script,
    vmScript({
      firmware: spec.firmware,
      tap: spec.tap,
      mac: spec.mac,
      serialLog,
      timeoutS: spec.vmTimeoutS,
      ...(spec.memoryMb !== undefined ? { memoryMb: spec.memoryMb } : {}),
      ...(spec.disk !== undefined ? { disk: spec.disk } : {}),
    }),
  );
  await chmod(script, 0o755);
  const credentials = {
    ref: `${spec.name}-bmc`,
    username: 'admin',
    password: randomBytes(8).toString('hex'),
  };
  const bmc = await startIpmiBmc({
    dir: path.join(spec.dir, 'bmc'),
    port: spec.bmcPort ?? (await freeUdpPort()),
    username: credentials.username,
    password: credentials.password,
    // exec: the hook's pid file then names the VM's `timeout` process, the leader of its process group.
    vmCommand: `exec ${script}`,
  });
  return {
    name: spec.name,
    firmware: spec.firmware,
    mac: spec.mac,
    bmc,
    credentials,
    serialLog,
    async report() {
      return {
        name: spec.name,
        firmware: spec.firmware,
        mac: spec.mac,
        bmc: bmc.address,
        powerLog: await powerLog(bmc.dir),
        hookCalls: await hookCalls(bmc.dir),
        powerOns: await powerOns(bmc.dir),
        serial: cleanSerial(await readFile(serialLog, 'latin1').catch(() => '')).slice(-8000),
      };
    },
    stop: () => bmc.stop(),
  };
}

/** Serial output without ANSI sequences and carriage returns (SeaBIOS and iPXE redraw their lines). */
export function cleanSerial(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>c]/g, '')
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
  );
}
