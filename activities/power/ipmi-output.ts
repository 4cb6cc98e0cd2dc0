// Parsers for ipmitool's text output and errors (ipmitool 1.8.19), kept pure so they can be table-tested.
import type { BootDevice, BootDeviceReading, PowerState } from './driver.ts';

export function parsePowerStatus(stdout: string): PowerState | undefined {
  const m = /Chassis Power is (on|off)/i.exec(stdout);
  return m ? (m[1]!.toLowerCase() as PowerState) : undefined;
}

/**
 * `chassis bootparam get 5` (boot flags). A selector without the valid bit is no override: the firmware boots its own
 * order. Some BMCs clear only that bit after the boot that used the override and leave the selector as it was.
 */
export function parseBootFlags(stdout: string): BootDeviceReading | undefined {
  const sel = /Boot Device Selector\s*:\s*(.+)/.exec(stdout);
  if (!sel) return undefined;
  const selector = sel[1]!.trim();
  const persistent = /Options apply to all future boots/i.test(stdout);
  if (/Boot Flag Invalid/i.test(stdout))
    return { device: 'none', persistent, raw: `${selector} (boot flag not valid)` };
  return { device: deviceOf(selector), persistent, raw: selector };
}

function deviceOf(selector: string): BootDevice {
  if (/^No override/i.test(selector)) return 'none';
  if (/^Force PXE/i.test(selector)) return 'network';
  if (/^Force Boot from default Hard-Drive/i.test(selector)) return 'disk';
  return 'other';
}

export type IpmiFailure = 'auth' | 'unreachable' | 'other';

/** What kind of failure ipmitool's stderr (run with -v) describes. */
export function classifyIpmiError(stderr: string): IpmiFailure {
  if (
    /RAKP 2 HMAC is invalid|unauthorized name|invalid authentication algorithm|Invalid user name|Authentication type \S+ not supported|insufficient resources for session/i.test(
      stderr,
    )
  ) {
    return 'auth';
  }
  if (
    /Get Auth Capabilities error|No response from remote controller|Unable to establish LAN session|Address lookup for .* failed/i.test(
      stderr,
    )
  ) {
    return 'unreachable';
  }
  return 'other';
}

/** The most useful line of ipmitool's stderr: the last one that is not verbose-mode chatter. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Loading IANA PEN Registry/.test(l) && !/^>>/.test(l));
  const reason = lines.find(
    (l) =>
      /RAKP|unauthorized|invalid|error|failed|not supported|timeout/i.test(l) &&
      !/^Error: Unable to establish/.test(l),
  );
  return reason ?? lines.at(-1) ?? 'no output';
}
