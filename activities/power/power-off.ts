// Powers a host off and reads it back: a failed host is left in a known state (the workflow's `on_failure:
// power_off`), not looping in its firmware asking for a network boot that will not come. Like every BMC write,
// it is read back and re-issued when the BMC did not take it.
import type { BmcTarget, PowerDriver } from './driver.ts';
import { BmcError } from './driver.ts';
import { waitForPower } from './cycle-to-network.ts';
import { sleep } from './wait.ts';

export interface PowerOffOptions {
  /** Attempts (write + read-back); default 3. */
  attempts?: number;
  /** How long the power status may take to read off; default 30 s. */
  settleMs?: number;
  pollMs?: number;
  progress?: (step: string) => void;
}

export async function powerOffVerified(
  driver: PowerDriver,
  t: BmcTarget,
  opts: PowerOffOptions = {},
): Promise<string> {
  const attempts = Math.max(1, opts.attempts ?? 3);
  const settle = opts.settleMs ?? 30_000;
  const poll = Math.max(10, opts.pollMs ?? 1000);
  const progress = opts.progress ?? (() => undefined);
  progress('power status');
  if ((await driver.powerStatus(t)) === 'off') return 'already off';
  for (let i = 1; ; i++) {
    progress(`power off (attempt ${i})`);
    await driver.powerOff(t);
    const state = await waitForPower(driver, t, 'off', settle, poll, progress);
    if (state === 'off') return 'powered off';
    if (i >= attempts)
      throw new BmcError(`power off not applied: BMC reports ${state} after ${attempts} attempts`, false);
    await sleep(500 * 2 ** (i - 1), t.signal);
  }
}
