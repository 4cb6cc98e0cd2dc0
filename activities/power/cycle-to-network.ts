// Set next boot to network (once), power-cycle, and verify both by reading them back. A BMC that answers but
// does not apply a change is the common failure of real hardware, so nothing is trusted without a read-back:
// every write is read back, re-issued with backoff when the BMC did not take it, and after the last attempt
// fails with what the BMC reported, in words an operator can act on.
import type { BmcTarget, BootDevice, PowerDriver, PowerState } from './driver.ts';
import { BmcError } from './driver.ts';
import { sleep } from './wait.ts';

export interface CycleOptions {
  /** Attempts for each change (write + read-back); default 3. */
  attempts?: number;
  /** Delay before the second attempt, doubled for each further one; default 500 ms. */
  backoffMs?: number;
  /** How long a power change may take to show in the power status (BMCs apply it asynchronously); default 30 s. */
  settleMs?: number;
  /** Power status polling interval while it settles; default 1 s. */
  pollMs?: number;
  /** Which network boot: PXE (default) or UEFI HTTP boot. */
  device?: Extract<BootDevice, 'network' | 'uefi-http'>;
  /** Called between steps so the activity heartbeats and notices cancellation. */
  progress?: (step: string) => void;
}

export async function cycleToNetwork(
  driver: PowerDriver,
  t: BmcTarget,
  opts: CycleOptions = {},
): Promise<string> {
  const attempts = Math.max(1, opts.attempts ?? 3);
  const backoff = opts.backoffMs ?? 500;
  const settle = opts.settleMs ?? 30_000;
  const poll = Math.max(10, opts.pollMs ?? 1000);
  const device = opts.device ?? 'network';
  const progress = opts.progress ?? (() => undefined);
  const pause = (attempt: number) => sleep(backoff * 2 ** (attempt - 1), t.signal);
  if (driver.softReboot) return driver.softReboot(t, progress);

  let seen: string;
  for (let i = 1; ; i++) {
    progress(`set boot device ${device} (attempt ${i})`);
    await driver.setBootDevice(t, device, { persistent: false });
    const got = await driver.getBootDevice(t);
    seen = got.raw ?? got.device;
    if (got.device === device) break;
    if (i >= attempts) {
      throw new BmcError(`boot override not applied: BMC reports ${seen} after ${attempts} attempts`, false);
    }
    await pause(i);
  }

  progress('power status');
  const before = await driver.powerStatus(t);
  let now: PowerState;
  for (let i = 1; ; i++) {
    // A host that is on is cycled; one that is off (or stayed off after a cycle) is turned on.
    const cycle = i === 1 && before === 'on';
    progress(`${cycle ? 'power cycle' : 'power on'} (attempt ${i})`);
    if (cycle) await driver.powerCycle(t);
    else await driver.powerOn(t);
    now = await waitForPower(driver, t, 'on', settle, poll, progress);
    if (now === 'on') break;
    if (i >= attempts) {
      throw new BmcError(`power on not applied: BMC reports ${now} after ${attempts} attempts`, false);
    }
    await pause(i);
  }
  return `next boot ${seen} (once), power ${before === 'on' ? 'cycled' : 'turned on'}, now ${now}`;
}

/** Polls the power status until it reads `want` or `settleMs` passed; returns the last reading. */
async function waitForPower(
  driver: PowerDriver,
  t: BmcTarget,
  want: PowerState,
  settleMs: number,
  pollMs: number,
  progress: (step: string) => void,
): Promise<PowerState> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const state = await driver.powerStatus(t);
    if (state === want || Date.now() >= deadline) return state;
    progress(`waiting for power ${want} (BMC reports ${state})`);
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), t.signal);
  }
}
