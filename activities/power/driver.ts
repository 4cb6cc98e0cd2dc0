// The interface every BMC driver implements (ipmi, redfish, ssh, container, sim). Drivers do one BMC call per
// method; verification and retries live in cycle-to-network.ts so that every driver gets them alike.
import type { BmcRef } from '../../workflows/types.ts';

export type PowerState = 'on' | 'off';
export type BootDevice = 'network' | 'disk' | 'uefi-http' | 'none';

export interface BmcTarget {
  site: string;
  host: string;
  mac: string;
  bmc: BmcRef;
}

export interface PowerDriver {
  readonly name: BmcRef['driver'];
  powerStatus(t: BmcTarget): Promise<PowerState>;
  powerOn(t: BmcTarget): Promise<void>;
  powerOff(t: BmcTarget): Promise<void>;
  powerCycle(t: BmcTarget): Promise<void>;
  setBootDevice(t: BmcTarget, device: BootDevice, opts: { persistent: boolean }): Promise<void>;
  getBootDevice(t: BmcTarget): Promise<{ device: BootDevice; persistent: boolean }>;
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
