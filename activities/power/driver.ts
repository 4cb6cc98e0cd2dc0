// The interface every BMC driver implements (ipmi, redfish, ssh, container, sim). Drivers do one BMC call per
// method; verification and retries live in cycle-to-network.ts so that every driver gets them alike.
import type { Secret } from '../../domain/secret.ts';
import type { BmcRef } from '../../domain/host.ts';

export type PowerState = 'on' | 'off';
/** `other` is only ever read back (a BMC set to CD, BIOS setup, …); nobody asks for it. */
export type BootDevice = 'network' | 'disk' | 'uefi-http' | 'none' | 'other';

/**
 * What the agent's secret store holds for a credentials reference. Lives only in the agent's memory for the
 * duration of one BMC operation: it never crosses the workflow boundary.
 */
export type BmcCredentials = Secret;

export interface BmcTarget {
  site: string;
  host: string;
  mac: string;
  bmc: BmcRef;
  /** Resolved from `bmc.credentials` just before the call; absent when the BMC needs none. */
  credentials?: BmcCredentials;
  /** Aborts calls in flight (activity cancelled or timed out). */
  signal?: AbortSignal;
}

export interface BootDeviceReading {
  device: BootDevice;
  persistent: boolean;
  /** The BMC's own word for the device (`Hdd`, `Force PXE`, …), shown to operators as is. */
  raw?: string;
}

export interface PowerDriver {
  readonly name: BmcRef['driver'];
  /** True for drivers that never authenticate (sim): a credentials reference is then not resolved at all. */
  readonly credentialless?: boolean;
  powerStatus(t: BmcTarget): Promise<PowerState>;
  powerOn(t: BmcTarget): Promise<void>;
  powerOff(t: BmcTarget): Promise<void>;
  /**
   * Asks the host's OS to shut down, as a short press of the power button does (ACPI): IPMI `chassis power
   * soft`, Redfish `GracefulShutdown`. Resolves once the BMC took the request; the host may go off in seconds,
   * minutes or never, so cycle-to-network.ts polls the power status and forces it off after `soft_timeout_s`.
   */
  powerSoftOff?(t: BmcTarget): Promise<void>;
  /** Off, then on (a hard cycle). */
  powerCycle(t: BmcTarget): Promise<void>;
  /** A warm reset without passing through off. */
  powerReset(t: BmcTarget): Promise<void>;
  setBootDevice(
    t: BmcTarget,
    device: Exclude<BootDevice, 'other'>,
    opts: { persistent: boolean },
  ): Promise<void>;
  getBootDevice(t: BmcTarget): Promise<BootDeviceReading>;
  /**
   * Drivers with no BMC (ssh) reboot the host from inside its OS instead of set-boot-device + power cycle, and
   * verify what they can (the host went down); returns what happened, for the timeline.
   */
  softReboot?(t: BmcTarget, progress: (step: string) => void): Promise<string>;
  /** Ends whatever the driver keeps open for this target (a Redfish session); called after every operation. */
  release?(t: BmcTarget): Promise<void>;
}

/** A BMC problem an operator can act on; the message is shown as is. */
export class BmcError extends Error {
  constructor(
    message: string,
    readonly retryable = true,
  ) {
    super(message);
    this.name = 'BmcError';
  }
}

/** `host:port` with a default port; IPv6 in brackets. */
export function splitHostPort(address: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) throw new BmcError(`BMC address "${address}" is not host[:port]`, false);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/** Throws the abort reason when the operation was cancelled. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw signal.reason instanceof Error ? signal.reason : new Error('BMC operation cancelled');
}
