// The lab BMC's boot overrides behave as a real BMC's (IPMI boot flags, parameter 5 of Set System Boot Options):
// a one-time override is used by the next power-on and then cleared, a persistent one stays; ipmitool and the
// product's ipmi driver read back the valid, persistent and EFI bits they set. Real ipmi_sim, real ipmitool.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BmcTarget } from '../../activities/power/driver.ts';
import { IpmiDriver } from '../../activities/power/ipmi-driver.ts';
import { startIpmiSim } from '../../testkit/ipmi-sim.ts';
import type { IpmiSim } from '../../testkit/ipmi-sim.ts';

let bmc: IpmiSim;
before(async () => {
  // A stand-in for the VM: prints the boot device it was started with and runs until powered off.
  bmc = await startIpmiSim({ vmCommand: 'echo "boot $BOOTDEV"; exec sleep 300' });
});
after(() => bmc?.stop());

const driver = new IpmiDriver();
const target = (options: Record<string, unknown> = {}): BmcTarget => ({
  site: 's',
  host: 'h',
  mac: '52:54:00:00:00:02',
  bmc: { driver: 'ipmi', address: bmc.address, credentials: 'lab-bmc', options },
  credentials: { username: bmc.username, password: bmc.password },
});

async function ipmitool(...args: string[]): Promise<string> {
  const r = await bmc.ipmitool(args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** Power off (and wait until the hook saw it), then on: one boot. */
async function powerCycle(): Promise<void> {
  await ipmitool('chassis', 'power', 'off');
  await ipmitool('chassis', 'power', 'on');
}

test('a one-time override (what the ipmi driver sets) boots once, then the machine boots its own order', async () => {
  const t = target();
  await driver.setBootDevice(t, 'network', { persistent: false });
  const flags = await ipmitool('chassis', 'bootparam', 'get', '5');
  assert.match(flags, /Boot Flag Valid/);
  assert.match(flags, /Options apply to only next boot/);
  assert.match(flags, /Boot Device Selector : Force PXE/);
  assert.deepEqual(await driver.getBootDevice(t), { device: 'network', persistent: false, raw: 'Force PXE' });

  await ipmitool('chassis', 'power', 'on');
  assert.deepEqual(await bmc.powerOns(), ['pxe']);
  // Used by that boot: invalid now, no override left.
  const cleared = await ipmitool('chassis', 'bootparam', 'get', '5');
  assert.match(cleared, /Boot Flag Invalid/);
  assert.match(cleared, /Boot Device Selector : No override/);
  assert.equal((await driver.getBootDevice(t)).device, 'none');

  await powerCycle();
  assert.deepEqual(await bmc.powerOns(), ['pxe', 'default']);
  // A power-on request while the machine is on boots nothing, so it uses up nothing.
  await driver.setBootDevice(t, 'network', { persistent: false });
  await ipmitool('chassis', 'power', 'on');
  assert.deepEqual(await bmc.powerOns(), ['pxe', 'default']);
  assert.match(await ipmitool('chassis', 'bootparam', 'get', '5'), /Boot Flag Valid/);
  await powerCycle();
  assert.deepEqual(await bmc.powerOns(), ['pxe', 'default', 'pxe']);
});

test('a persistent override applies to every boot until replaced; the EFI bit is kept and read back', async () => {
  const t = target({ efi_boot: true });
  await driver.setBootDevice(t, 'network', { persistent: true });
  const flags = await ipmitool('chassis', 'bootparam', 'get', '5');
  assert.match(flags, /Options apply to all future boots/);
  assert.match(flags, /BIOS EFI boot/);
  assert.equal((await driver.getBootDevice(t)).persistent, true);
  const before = (await bmc.powerOns()).length;
  await powerCycle();
  await powerCycle();
  assert.deepEqual((await bmc.powerOns()).slice(before), ['pxe', 'pxe']);
  assert.match(await ipmitool('chassis', 'bootparam', 'get', '5'), /Boot Flag Valid/);

  // Replaced by a one-time disk override: used once, then the machine's own order.
  await driver.setBootDevice(t, 'disk', { persistent: false });
  await powerCycle();
  await powerCycle();
  assert.deepEqual((await bmc.powerOns()).slice(before), ['pxe', 'pxe', 'default', 'default']);
  assert.ok(
    (await bmc.state()).boot === 'none',
    'the one-time override was cleared after the boot that used it',
  );
  await ipmitool('chassis', 'power', 'off');
});

test('a selector left without its valid bit is no override: the driver reads none and says why', async () => {
  // What some BMCs leave after the boot that used a one-time override: the device kept, only the valid bit cleared.
  await ipmitool('raw', '0x00', '0x08', '0x05', '0x00', '0x04', '0x00', '0x00', '0x00');
  const flags = await ipmitool('chassis', 'bootparam', 'get', '5');
  assert.match(flags, /Boot Flag Invalid/);
  assert.match(flags, /Boot Device Selector : Force PXE/);
  assert.deepEqual(await driver.getBootDevice(target()), {
    device: 'none',
    persistent: false,
    raw: 'Force PXE (boot flag not valid)',
  });
  // The BMC agrees: a power-on boots the machine's own order.
  const before = (await bmc.powerOns()).length;
  await ipmitool('chassis', 'power', 'on');
  assert.deepEqual((await bmc.powerOns()).slice(before), ['default']);
  await ipmitool('chassis', 'power', 'off');
});
