// The ipmi driver against a real virtual BMC (ipmi_sim), cross-checked with ipmitool itself.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { cycleToNetwork } from '../../../activities/power/cycle-to-network.ts';
import type { BmcTarget } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';
import { IpmiDriver } from '../../../activities/power/ipmi-driver.ts';
import { hookScript } from '../../../lab/ipmi-bmc.ts';
import { startIpmiSim } from '../../../testkit/ipmi-sim.ts';
import type { IpmiSim } from '../../../testkit/ipmi-sim.ts';

let bmc: IpmiSim;
const driver = new IpmiDriver();
before(async () => {
  bmc = await startIpmiSim();
});
after(() => bmc?.stop());

const target = (sim: IpmiSim, password = sim.password, options: Record<string, unknown> = {}): BmcTarget => ({
  site: 's',
  host: 'h',
  mac: '52:54:00:00:00:01',
  bmc: { driver: 'ipmi', address: sim.address, credentials: 'lab-bmc', options },
  credentials: { username: sim.username, password },
});

const ipmitoolPower = async (sim: IpmiSim) => {
  const r = await sim.ipmitool(['chassis', 'power', 'status']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
};

test('power status, on, off, cycle and reset agree with ipmitool and reach the chassis', async () => {
  const t = target(bmc);
  assert.equal(await driver.powerStatus(t), 'off');
  assert.equal(await ipmitoolPower(bmc), 'Chassis Power is off');

  await driver.powerOn(t);
  assert.equal(await driver.powerStatus(t), 'on');
  assert.equal(await ipmitoolPower(bmc), 'Chassis Power is on');
  assert.equal((await bmc.state()).power, 1);

  await driver.powerOff(t);
  assert.equal(await driver.powerStatus(t), 'off');
  assert.equal(await ipmitoolPower(bmc), 'Chassis Power is off');

  await driver.powerOn(t);
  const before = (await bmc.hookCalls()).length;
  await driver.powerCycle(t);
  await driver.powerReset(t);
  const calls = (await bmc.hookCalls()).slice(before);
  // ipmi_sim implements a cycle as "off", polls until off, then "on"; a reset goes to the hook as is.
  assert.ok(calls.includes('set power 0'), calls.join(', '));
  assert.ok(calls.includes('set reset 1'), calls.join(', '));
});

test('boot device: network once and disk persistent, read back by the driver and by ipmitool', async () => {
  const t = target(bmc);
  await driver.setBootDevice(t, 'network', { persistent: false });
  const got = await driver.getBootDevice(t);
  assert.equal(got.device, 'network');
  assert.equal(got.raw, 'Force PXE');
  const r = await bmc.ipmitool(['chassis', 'bootparam', 'get', '5']);
  assert.match(r.stdout, /Boot Device Selector : Force PXE/);
  assert.equal((await bmc.state()).boot, 'pxe');

  await driver.setBootDevice(t, 'disk', { persistent: true });
  assert.equal((await driver.getBootDevice(t)).device, 'disk');
  assert.equal((await bmc.state()).boot, 'default');

  await driver.setBootDevice(t, 'none', { persistent: false });
  assert.equal((await driver.getBootDevice(t)).device, 'none');

  await assert.rejects(driver.setBootDevice(t, 'uefi-http', { persistent: false }), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable);
    assert.match(e.message, /IPMI cannot select uefi-http/);
    return true;
  });
});

test('cycle to network: boot override read back, host powered on and booted from PXE', async () => {
  const t = target(bmc);
  await driver.setBootDevice(t, 'disk', { persistent: false });
  await driver.powerOff(t);
  const steps: string[] = [];
  const detail = await cycleToNetwork(driver, t, { progress: (s) => steps.push(s), pollMs: 200 });
  assert.equal(detail, 'next boot Force PXE (once), power turned on, now on');
  assert.equal(await ipmitoolPower(bmc), 'Chassis Power is on');
  assert.equal((await bmc.powerOns()).at(-1), 'pxe');
  assert.ok(steps.includes('set boot device network (attempt 1)'), steps.join(', '));
});

test('a wrong password fails at once with a clear, non-retryable error that does not contain it', async () => {
  const wrong = 'not-the-password-42';
  await assert.rejects(driver.powerStatus(target(bmc, wrong)), (e: unknown) => {
    assert.ok(e instanceof BmcError, String(e));
    assert.equal(e.retryable, false);
    assert.match(
      e.message,
      new RegExp(
        `^IPMI BMC 127\\.0\\.0\\.1:${bmc.port}: login as admin refused — wrong username or password`,
      ),
    );
    assert.ok(!e.message.includes(wrong));
    return true;
  });
  // ipmitool agrees that this password is wrong.
  const r = await bmc.ipmitool(['chassis', 'power', 'status'], wrong);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Unable to establish IPMI v2 \/ RMCP\+ session/);
});

test('a BMC that acknowledges but ignores the boot override fails with what it reports, after 3 attempts', async () => {
  const deaf = await startIpmiSim({ ignoreBootDevice: true });
  try {
    const t = target(deaf);
    await assert.rejects(cycleToNetwork(driver, t, { backoffMs: 10 }), (e: unknown) => {
      assert.ok(e instanceof BmcError && !e.retryable, String(e));
      assert.equal(
        e.message,
        'boot override not applied: BMC reports Force Boot from default Hard-Drive (boot flag not valid) after 3 attempts',
      );
      return true;
    });
    const sets = (await deaf.hookCalls()).filter((c) => c.startsWith('set boot'));
    assert.equal(sets.length, 3);
    // Never powered on with the wrong boot device.
    assert.deepEqual(await deaf.powerOns(), []);
  } finally {
    await deaf.stop();
  }
});

test('ipmitool gets lanplus, the cipher suite and the efiboot flag as arguments, and the password only in its environment', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-fake-ipmitool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fake = path.join(dir, 'ipmitool');
  await writeFile(
    fake,
    `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\necho "$IPMI_PASSWORD" > ${dir}/env\necho 'Set Boot Device to pxe'\n`,
  );
  await chmod(fake, 0o755);
  const secret = 'Sup3r-Secret-PW';
  const bt: BmcTarget = {
    ...target(bmc, secret, { cipher_suite: 17, efi_boot: true }),
    bmc: {
      driver: 'ipmi',
      address: '10.0.0.9',
      credentials: 'x',
      options: { cipher_suite: 17, efi_boot: true },
    },
  };
  await new IpmiDriver({ ipmitool: fake }).setBootDevice(bt, 'network', { persistent: true });
  const argv = (await readFile(path.join(dir, 'argv'), 'utf8')).trim().split('\n');
  assert.ok(!argv.some((a) => a.includes(secret)), argv.join(' '));
  const at = (flag: string) => argv[argv.indexOf(flag) + 1];
  assert.equal(at('-I'), 'lanplus');
  assert.equal(at('-C'), '17');
  assert.equal(at('-H'), '10.0.0.9');
  assert.equal(at('-p'), '623');
  assert.ok(argv.includes('-E'));
  assert.deepEqual(argv.slice(-4), ['chassis', 'bootdev', 'pxe', 'options=efiboot,persistent']);
  assert.equal((await readFile(path.join(dir, 'env'), 'utf8')).trim(), secret);
});

test('with a VM command, power on starts it (BOOTDEV from the boot device) and power off ends its process group', async () => {
  // A stand-in for the QEMU wrapper: records its boot device and runs until killed.
  const vm = await startIpmiSim({ vmCommand: 'echo "booting from $BOOTDEV"; exec sleep 300' });
  try {
    const t = target(vm);
    await cycleToNetwork(driver, t, { pollMs: 100 });
    assert.equal(await driver.powerStatus(t), 'on');
    const pid = Number((await readFile(path.join(vm.dir, 'vm.pid'), 'utf8')).trim());
    assert.ok(pid > 0 && isAlive(pid));
    await driver.powerOff(t);
    assert.equal(await driver.powerStatus(t), 'off');
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isAlive(pid), false, 'the VM process is gone after power off');
    assert.deepEqual(await vm.powerOns(), ['pxe']);
    assert.equal((await readFile(path.join(vm.dir, 'vm.out'), 'utf8')).trim(), 'booting from pxe');
  } finally {
    await vm.stop();
  }
});

/** The power-changing hook calls, consecutive repeats (ipmitool retransmissions) folded. */
const powerSets = async (sim: IpmiSim) =>
  (await sim.hookCalls())
    .filter((c) => /^set (power|shutdown|reset) /.test(c))
    .filter((c, i, all) => c !== all[i - 1]);

test('soft off honoured: chassis power soft reaches the chassis as a shutdown, no forced off, on from PXE', async () => {
  const sim = await startIpmiSim();
  try {
    const t = target(sim, sim.password, { soft_reboot: true, soft_timeout_s: 30 });
    await driver.powerOn(t);
    const steps: string[] = [];
    const detail = await cycleToNetwork(driver, t, { pollMs: 200, progress: (s) => steps.push(s) });
    assert.match(detail, /^next boot Force PXE \(once\), soft off took [\d.]+s, power turned on, now on$/);
    // ipmi_sim hands `chassis power soft` to the chassis hook as `set shutdown 1` (the lab hook then powers off).
    assert.deepEqual(await powerSets(sim), ['set power 1', 'set shutdown 1', 'set power 1']);
    assert.ok(steps.includes('soft power off (ACPI shutdown)'), steps.join(', '));
    assert.equal(await ipmitoolPower(sim), 'Chassis Power is on');
    assert.deepEqual(await sim.powerOns(), ['default', 'pxe']);
  } finally {
    await sim.stop();
  }
});

test('soft off ignored by the OS: after soft_timeout_s chassis power off, read back off, then on from PXE', async () => {
  const sim = await startIpmiSim();
  try {
    // An OS that ignores the ACPI request: the hook records the shutdown and keeps the power on. A new file
    // renamed over the hook, as ipmi_sim may run it at any moment.
    const stock = hookScript({ dir: sim.dir });
    const deaf = stock.replace('"set shutdown") stop ;;', '"set shutdown") : ;;');
    assert.notEqual(deaf, stock, 'the lab hook still handles "set shutdown" as expected');
    await writeFile(path.join(sim.dir, 'chassis.sh.new'), deaf, { mode: 0o755 });
    await rename(path.join(sim.dir, 'chassis.sh.new'), path.join(sim.dir, 'chassis.sh'));

    const t = target(sim, sim.password, { soft_reboot: true, soft_timeout_s: 2 });
    await driver.powerOn(t);
    const steps: string[] = [];
    const detail = await cycleToNetwork(driver, t, { pollMs: 200, progress: (s) => steps.push(s) });
    assert.equal(
      detail,
      'next boot Force PXE (once), soft off timed out after 2s, forced off, power turned on, now on',
    );
    assert.deepEqual(await powerSets(sim), ['set power 1', 'set shutdown 1', 'set power 0', 'set power 1']);
    assert.ok(
      steps.some((s) => /^waiting for soft off: [\d.]+s of 2s \(BMC reports on\)$/.test(s)),
      steps.join(', '),
    );
    assert.ok(steps.includes('soft off timed out after 2s: forced power off (attempt 1)'), steps.join(', '));
    assert.equal(await ipmitoolPower(sim), 'Chassis Power is on');
    assert.deepEqual(await sim.powerOns(), ['default', 'pxe']);
  } finally {
    await sim.stop();
  }
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
