// Verify-after-write with retries, against a scripted driver: what is re-issued, when it gives up and with
// which words, and that cancellation stops it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cycleToNetwork } from '../../../activities/power/cycle-to-network.ts';
import type { BmcTarget, BootDevice, PowerDriver, PowerState } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';

/** A BMC that takes the boot override on the n-th write and turns on after m power-on requests. */
function scripted(opts: { bootTakesAt?: number; onTakesAt?: number; power?: PowerState }) {
  const calls: string[] = [];
  let boot: BootDevice = 'disk';
  let power: PowerState = opts.power ?? 'on';
  let sets = 0;
  let ons = 0;
  const driver: PowerDriver = {
    name: 'sim',
    powerStatus: async () => (calls.push('status'), power),
    powerOn: async () => {
      calls.push('on');
      if (++ons >= (opts.onTakesAt ?? 1)) power = 'on';
    },
    powerOff: async () => void calls.push('off'),
    powerCycle: async () => {
      calls.push('cycle');
      power = (opts.onTakesAt ?? 1) <= 1 ? 'on' : 'off';
    },
    powerReset: async () => void calls.push('reset'),
    setBootDevice: async (_t, d) => {
      calls.push(`set ${d}`);
      if (++sets >= (opts.bootTakesAt ?? 1)) boot = d;
    },
    getBootDevice: async () => (
      calls.push('get'),
      { device: boot, persistent: false, raw: boot === 'disk' ? 'Hdd' : 'Pxe' }
    ),
  };
  return { driver, calls };
}

const t: BmcTarget = { site: 's', host: 'h', mac: 'm', bmc: { driver: 'sim', address: 'a', options: {} } };
const fast = { backoffMs: 1, settleMs: 0, pollMs: 10 };

test('a boot override taken on the second write: re-issued once, then the host is cycled', async () => {
  const { driver, calls } = scripted({ bootTakesAt: 2 });
  assert.equal(await cycleToNetwork(driver, t, fast), 'next boot Pxe (once), power cycled, now on');
  assert.deepEqual(calls, ['set network', 'get', 'set network', 'get', 'status', 'cycle', 'status']);
});

test('a boot override never taken: fails with what the BMC reports, not retryable, never powered', async () => {
  const { driver, calls } = scripted({ bootTakesAt: 99 });
  await assert.rejects(cycleToNetwork(driver, t, { ...fast, attempts: 4 }), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable);
    assert.equal(e.message, 'boot override not applied: BMC reports Hdd after 4 attempts');
    return true;
  });
  assert.ok(!calls.some((c) => c === 'on' || c === 'cycle'));
});

test('a host that stays off after the cycle is powered on again; one that never comes on fails with the reason', async () => {
  const late = scripted({ onTakesAt: 2 });
  assert.equal(await cycleToNetwork(late.driver, t, fast), 'next boot Pxe (once), power cycled, now on');
  assert.deepEqual(late.calls.slice(2), ['status', 'cycle', 'status', 'on', 'status', 'on', 'status']);

  const dead = scripted({ onTakesAt: 99, power: 'off' });
  await assert.rejects(
    cycleToNetwork(dead.driver, t, fast),
    /^BmcError: power on not applied: BMC reports off after 3 attempts$/,
  );
  assert.equal(dead.calls.filter((c) => c === 'on').length, 3);
});

test('a slow BMC: the power status is polled until it settles', async () => {
  const { driver, calls } = scripted({ power: 'off' });
  let reads = 0;
  const slow: PowerDriver = {
    ...driver,
    powerStatus: async (x) => (++reads < 4 ? 'off' : driver.powerStatus(x)),
  };
  const steps: string[] = [];
  assert.equal(
    await cycleToNetwork(slow, t, { ...fast, settleMs: 5000, progress: (s) => steps.push(s) }),
    'next boot Pxe (once), power turned on, now on',
  );
  assert.equal(calls.filter((c) => c === 'on').length, 1, 'one power-on: the read-back waited for it');
  assert.ok(steps.includes('waiting for power on (BMC reports off)'), steps.join(', '));
});

test('cancellation during the backoff ends the operation with the abort reason', async () => {
  const { driver } = scripted({ bootTakesAt: 99 });
  const ac = new AbortController();
  const run = cycleToNetwork(driver, { ...t, signal: ac.signal }, { backoffMs: 60_000 });
  setImmediate(() => ac.abort(new Error('activity cancelled')));
  await assert.rejects(run, /activity cancelled/);
});
