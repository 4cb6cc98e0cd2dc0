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

/** A host that is on, whose OS shuts down `downAfter` status reads after a soft off (never, with Infinity). */
function softScripted(opts: { downAfter: number; offTakes?: boolean; refuse?: BmcError }) {
  const base = scripted({ power: 'on' });
  const { calls } = base;
  let power: PowerState = 'on';
  let countdown = Infinity;
  const driver: PowerDriver = {
    ...base.driver,
    powerStatus: async () => {
      calls.push('status');
      if (--countdown <= 0) power = 'off';
      return power;
    },
    powerSoftOff: async () => {
      calls.push('soft');
      if (opts.refuse) throw opts.refuse;
      countdown = opts.downAfter;
    },
    powerOff: async () => {
      calls.push('off');
      if (opts.offTakes ?? true) power = 'off';
    },
    powerOn: async () => {
      calls.push('on');
      power = 'on';
      countdown = Infinity;
    },
    powerCycle: async () => void calls.push('cycle'),
  };
  return { driver, calls };
}

const soft = (options: Record<string, unknown>): BmcTarget => ({
  ...t,
  bmc: { ...t.bmc, options: { soft_reboot: true, ...options } },
});

test('soft off honoured: the host goes off by itself, is never forced off, and is turned on', async () => {
  const { driver, calls } = softScripted({ downAfter: 3 });
  const steps: string[] = [];
  const detail = await cycleToNetwork(driver, soft({ soft_timeout_s: 60 }), {
    ...fast,
    progress: (s) => steps.push(s),
  });
  assert.match(detail, /^next boot Pxe \(once\), soft off took [\d.]+s, power turned on, now on$/);
  assert.deepEqual(calls, [
    'set network',
    'get',
    'status',
    'soft',
    'status',
    'status',
    'status',
    'on',
    'status',
  ]);
  assert.ok(
    steps.some((s) => /^waiting for soft off: [\d.]+s of 60s \(BMC reports on\)$/.test(s)),
    steps.join(', '),
  );
});

test('soft off ignored: after soft_timeout_s the host is forced off, read back off, then turned on', async () => {
  const { driver, calls } = softScripted({ downAfter: Infinity });
  const steps: string[] = [];
  const detail = await cycleToNetwork(driver, soft({ soft_timeout_s: 0.2 }), {
    ...fast,
    progress: (s) => steps.push(s),
  });
  assert.equal(
    detail,
    'next boot Pxe (once), soft off timed out after 0.2s, forced off, power turned on, now on',
  );
  const tail = calls.slice(calls.indexOf('soft'));
  assert.deepEqual(tail.slice(-5), ['status', 'off', 'status', 'on', 'status']);
  assert.ok(!calls.includes('cycle'));
  assert.ok(steps.includes('soft off timed out after 0.2s: forced power off (attempt 1)'), steps.join(', '));
});

test('a forced off that never shows: fails with what the BMC reports, never powered on', async () => {
  const { driver, calls } = softScripted({ downAfter: Infinity, offTakes: false });
  await assert.rejects(cycleToNetwork(driver, soft({ soft_timeout_s: 0 }), fast), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable, String(e));
    assert.equal(
      e.message,
      'soft off timed out after 0s, and power off not applied: BMC reports on after 3 attempts',
    );
    return true;
  });
  assert.equal(calls.filter((c) => c === 'off').length, 3);
  assert.ok(!calls.includes('on') && !calls.includes('cycle'));
});

test('a BMC that refuses the soft off: forced off at once, and the detail says why', async () => {
  const { driver, calls } = softScripted({
    downAfter: 1,
    refuse: new BmcError('BMC allows no ResetType for power soft off', false),
  });
  const detail = await cycleToNetwork(driver, soft({}), fast);
  assert.equal(
    detail,
    'next boot Pxe (once), soft off refused (BMC allows no ResetType for power soft off), forced off, power turned on, now on',
  );
  assert.deepEqual(calls.slice(2), ['status', 'soft', 'off', 'status', 'on', 'status']);
});

test('soft off asked of a driver without one: a hard cycle, and the detail says so', async () => {
  const { driver, calls } = scripted({});
  const detail = await cycleToNetwork(driver, soft({}), fast);
  assert.equal(detail, 'next boot Pxe (once), no soft off in the sim driver, power cycled, now on');
  assert.deepEqual(calls.slice(2), ['status', 'cycle', 'status']);
});

test('soft off asked for a host that is off: just turned on; a soft_reboot that is no boolean fails at once', async () => {
  const { driver, calls } = softScripted({ downAfter: 1 });
  await driver.powerOff(t);
  calls.length = 0;
  assert.equal(await cycleToNetwork(driver, soft({}), fast), 'next boot Pxe (once), power turned on, now on');
  assert.ok(!calls.includes('soft'));

  const on = softScripted({ downAfter: 1 });
  await assert.rejects(cycleToNetwork(on.driver, soft({ soft_reboot: 'yes' }), fast), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable);
    assert.equal(e.message, 'BMC option soft_reboot must be true or false, not "yes"');
    return true;
  });
  assert.deepEqual(on.calls, [], 'no BMC call at all');
});

test('cancellation while waiting for the soft off ends the operation; the host is not forced off', async () => {
  const { driver, calls } = softScripted({ downAfter: Infinity });
  const ac = new AbortController();
  const run = cycleToNetwork(
    driver,
    { ...soft({ soft_timeout_s: 600 }), signal: ac.signal },
    {
      ...fast,
      pollMs: 60_000,
      progress: (s) => {
        if (s.startsWith('waiting for soft off'))
          setImmediate(() => ac.abort(new Error('activity cancelled')));
      },
    },
  );
  await assert.rejects(run, /activity cancelled/);
  assert.ok(calls.includes('soft'));
  assert.ok(!calls.includes('off') && !calls.includes('on') && !calls.includes('cycle'));
});
