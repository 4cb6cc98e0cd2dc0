// The `ipmi` driver: IPMI 2.0 (RMCP+, `lanplus`) through ipmitool. Options (the BMC interface's `options`):
//   cipher_suite  number, default 3 (always passed: probing suites costs 10 s per call on some BMCs)
//   interface     lanplus (default) | lan (IPMI 1.5)
//   privilege     ADMINISTRATOR (default) | OPERATOR | USER
//   efi_boot      true: boot device overrides ask for an EFI boot (options=efiboot); default legacy BIOS
//   timeout_s     per ipmitool call, default 20
//   soft_reboot, soft_timeout_s: an ACPI shutdown (chassis power soft) first, see cycle-to-network.ts
// The address is host[:port] (port 623 by default). The password reaches ipmitool through its environment
// (`-E`), never its arguments, so it does not show in `ps`.
import { execFile } from 'node:child_process';
import type { BmcTarget, BootDevice, BootDeviceReading, PowerDriver, PowerState } from './driver.ts';
import { BmcError, splitHostPort } from './driver.ts';
import { optBool, optNumber, optString } from './bmc-options.ts';
import { classifyIpmiError, lastErrorLine, parseBootFlags, parsePowerStatus } from './ipmi-output.ts';

export interface IpmiDriverOptions {
  /** ipmitool binary; default `ipmitool` on PATH. */
  ipmitool?: string;
}

export class IpmiDriver implements PowerDriver {
  readonly name = 'ipmi' as const;
  private readonly bin: string;

  constructor(opts: IpmiDriverOptions = {}) {
    this.bin = opts.ipmitool ?? 'ipmitool';
  }

  async powerStatus(t: BmcTarget): Promise<PowerState> {
    const out = await this.run(t, ['chassis', 'power', 'status']);
    const state = parsePowerStatus(out);
    if (!state)
      throw new BmcError(
        `IPMI BMC ${t.bmc.address}: unexpected power status answer: ${out.trim().slice(0, 200)}`,
      );
    return state;
  }

  async powerOn(t: BmcTarget): Promise<void> {
    await this.run(t, ['chassis', 'power', 'on']);
  }

  async powerOff(t: BmcTarget): Promise<void> {
    await this.run(t, ['chassis', 'power', 'off']);
  }

  /** ACPI soft shutdown (ipmi_sim hands it to its chassis hook as `set shutdown 1`). */
  async powerSoftOff(t: BmcTarget): Promise<void> {
    await this.run(t, ['chassis', 'power', 'soft']);
  }

  async powerCycle(t: BmcTarget): Promise<void> {
    await this.run(t, ['chassis', 'power', 'cycle']);
  }

  async powerReset(t: BmcTarget): Promise<void> {
    await this.run(t, ['chassis', 'power', 'reset']);
  }

  async setBootDevice(
    t: BmcTarget,
    device: Exclude<BootDevice, 'other'>,
    opts: { persistent: boolean },
  ): Promise<void> {
    const dev = { network: 'pxe', disk: 'disk', none: 'none' }[device as string];
    if (!dev)
      throw new BmcError(
        `IPMI cannot select ${device} as the boot device (use the redfish driver for UEFI HTTP boot)`,
        false,
      );
    const flags = [
      ...(optBool(t.bmc.options, 'efi_boot', false) ? ['efiboot'] : []),
      ...(opts.persistent ? ['persistent'] : []),
    ];
    await this.run(t, [
      'chassis',
      'bootdev',
      dev,
      ...(flags.length > 0 ? [`options=${flags.join(',')}`] : []),
    ]);
  }

  async getBootDevice(t: BmcTarget): Promise<BootDeviceReading> {
    const out = await this.run(t, ['chassis', 'bootparam', 'get', '5']);
    const r = parseBootFlags(out);
    if (!r)
      throw new BmcError(
        `IPMI BMC ${t.bmc.address}: unexpected boot flags answer: ${out.trim().slice(0, 200)}`,
      );
    return r;
  }

  /** Runs one ipmitool command against the target's BMC; resolves with stdout. */
  private run(t: BmcTarget, command: string[]): Promise<string> {
    const o = t.bmc.options;
    const { host, port } = splitHostPort(t.bmc.address, 623);
    const user = t.credentials?.username;
    const password = t.credentials?.password;
    if (user === undefined || password === undefined) {
      throw new BmcError(
        `IPMI BMC ${t.bmc.address} needs a username and password (credentials reference: ${t.bmc.credentials ?? 'none'})`,
        false,
      );
    }
    const iface = optString(o, 'interface', 'lanplus');
    const args = [
      '-v',
      '-I',
      iface,
      '-H',
      host,
      '-p',
      String(port),
      '-U',
      user,
      '-E',
      '-L',
      optString(o, 'privilege', 'ADMINISTRATOR'),
      ...(iface === 'lanplus' ? ['-C', String(optNumber(o, 'cipher_suite', 3))] : []),
      ...command,
    ];
    const timeout = optNumber(o, 'timeout_s', 20) * 1000;
    const where = `IPMI BMC ${host}:${port}`;
    return new Promise((resolve, reject) => {
      execFile(
        this.bin,
        args,
        {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: password },
          timeout,
          killSignal: 'SIGKILL',
          signal: t.signal,
          maxBuffer: 1 << 20,
        },
        (err, stdout, stderr) => {
          if (!err) {
            resolve(stdout);
            return;
          }
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          if (t.signal?.aborted) reject(t.signal.reason instanceof Error ? t.signal.reason : err);
          else if (e.code === 'ENOENT')
            reject(new BmcError(`${this.bin} not found on this agent (apt-get install ipmitool)`, false));
          else if (e.killed)
            reject(
              new BmcError(`${where}: ipmitool ${command.join(' ')} timed out after ${timeout / 1000}s`),
            );
          else {
            const kind = classifyIpmiError(stderr);
            const line = lastErrorLine(stderr);
            if (kind === 'auth') {
              reject(
                new BmcError(
                  `${where}: login as ${user} refused — wrong username or password, or cipher suite not allowed (${line})`,
                  false,
                ),
              );
            } else if (kind === 'unreachable') {
              reject(new BmcError(`${where}: no answer (${line})`));
            } else {
              reject(new BmcError(`${where}: ipmitool ${command.join(' ')} failed: ${line}`));
            }
          }
        },
      );
    });
  }
}
