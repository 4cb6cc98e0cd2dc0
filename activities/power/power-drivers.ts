// The BMC drivers a site worker (an agent, or a dev stack's sim site) offers besides `sim`. The container
// driver needs a container engine, so it is there only when one is given.
import type Docker from 'dockerode';
import type { PowerDriver } from './driver.ts';
import { ContainerDriver } from './container-driver.ts';
import { IpmiDriver } from './ipmi-driver.ts';
import { RedfishDriver } from './redfish-driver.ts';
import { SshDriver } from './ssh-driver.ts';

export function createPowerDrivers(
  opts: { docker?: Docker; ipmitool?: string } = {},
): Partial<Record<PowerDriver['name'], PowerDriver>> {
  return {
    ipmi: new IpmiDriver(opts.ipmitool !== undefined ? { ipmitool: opts.ipmitool } : {}),
    redfish: new RedfishDriver(),
    ssh: new SshDriver(),
    ...(opts.docker ? { container: new ContainerDriver(opts.docker) } : {}),
  };
}
