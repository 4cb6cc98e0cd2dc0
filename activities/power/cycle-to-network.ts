// Set next boot to network (once), power-cycle, and verify both by reading them back. A BMC that answers but
// does not apply a change is the common failure of real hardware, so nothing is trusted without a read-back:
// every write is read back, re-issued with backoff when the BMC did not take it, and after the last attempt
// fails with what the BMC reported, in words an operator can act on.
//
// A graceful power-off first, when the BMC interface's options ask for it (every driver with powerSoftOff):
//   soft_reboot     true: a host that is on is asked to shut down (ACPI) instead of being cycled; the power
//                   status is polled until it reads off, then the host is forced off if it still is not, and
//                   turned on. Default false (a hard cycle).
//   soft_timeout_s  how long the OS may take to shut down, default 120.
// A driver without powerSoftOff, or a BMC that refuses a soft off, gets the hard path, and the detail says so.
import type { BmcTarget, BootDevice, PowerDriver, PowerState } from './driver.ts';
import { BmcError } from './driver.ts';
import { optBool, optNumber } from './bmc-options.ts';
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
  // Read before any write: an option of the wrong type is the SoT's mistake, and touches no BMC.
  const wantSoft = optBool(t.bmc.options, 'soft_reboot', false);
  const softMs = optNumber(t.bmc.options, 'soft_timeout_s', 120) * 1000;

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
  // A soft off asked for: what happened on the way off (then the host is off, and only turned on), or why not.
  let off: string | undefined;
  let state = before;
  if (before === 'on' && wantSoft) {
    const soft = driver.powerSoftOff?.bind(driver);
    if (soft) {
      off = await softThenHardOff(driver, soft, t, { softMs, settle, poll, attempts, progress, pause });
      state = 'off';
    } else off = `no soft off in the ${driver.name} driver`;
  }
  let now: PowerState;
  for (let i = 1; ; i++) {
    // A host that is on is cycled; one that is off (or stayed off after a cycle) is turned on.
    const cycle = i === 1 && state === 'on';
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
  const power = state === 'on' ? 'power cycled' : 'power turned on';
  return `next boot ${seen} (once), ${off !== undefined ? `${off}, ` : ''}${power}, now ${now}`;
}

/**
 * Soft off, a wait of up to `softMs` for the power status to read off, then a forced off (read back, re-issued
 * like every other write) if it still reads on. Returns what happened, for the detail.
 */
async function softThenHardOff(
  driver: PowerDriver,
  softOff: (t: BmcTarget) => Promise<void>,
  t: BmcTarget,
  o: {
    softMs: number;
    settle: number;
    poll: number;
    attempts: number;
    progress: (step: string) => void;
    pause: (attempt: number) => Promise<void>;
  },
): Promise<string> {
  const secs = (ms: number) => `${Math.round(ms / 100) / 10}s`;
  let soft: string;
  o.progress('soft power off (ACPI shutdown)');
  try {
    await softOff(t);
    const start = Date.now();
    const state = await waitForPower(driver, t, 'off', o.softMs, o.poll, o.progress, (s) =>
      o.progress(`waiting for soft off: ${secs(Date.now() - start)} of ${secs(o.softMs)} (BMC reports ${s})`),
    );
    if (state === 'off') return `soft off took ${secs(Date.now() - start)}`;
    soft = `soft off timed out after ${secs(o.softMs)}`;
  } catch (err) {
    // A BMC that refuses a soft off (no GracefulShutdown, an IPMI completion code) still gets the host off,
    // the hard way; one that does not answer at all fails that too, with its own error. Cancellation is no
    // BmcError and ends the operation.
    if (!(err instanceof BmcError)) throw err;
    soft = `soft off refused (${err.message})`;
  }
  for (let i = 1; ; i++) {
    o.progress(`${soft}: forced power off (attempt ${i})`);
    await driver.powerOff(t);
    const state = await waitForPower(driver, t, 'off', o.settle, o.poll, o.progress);
    if (state === 'off') return `${soft}, forced off`;
    if (i >= o.attempts) {
      throw new BmcError(
        `${soft}, and power off not applied: BMC reports ${state} after ${o.attempts} attempts`,
        false,
      );
    }
    await o.pause(i);
  }
}

/** Polls the power status until it reads `want` or `settleMs` passed; returns the last reading. */
export async function waitForPower(
  driver: PowerDriver,
  t: BmcTarget,
  want: PowerState,
  settleMs: number,
  pollMs: number,
  progress: (step: string) => void,
  /** The heartbeat while waiting; default `waiting for power <want> (BMC reports <state>)`. */
  waiting: (state: PowerState) => void = (state) =>
    progress(`waiting for power ${want} (BMC reports ${state})`),
): Promise<PowerState> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const state = await driver.powerStatus(t);
    if (state === want || Date.now() >= deadline) return state;
    waiting(state);
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), t.signal);
  }
}
