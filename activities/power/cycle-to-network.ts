// Set next boot to network (once), power-cycle, and verify both by reading them back. A BMC that answers but
// does not apply a change is the common failure of real hardware, so nothing is trusted without a read-back.
import type { BmcTarget, PowerDriver } from './driver.ts';
import { BmcError } from './driver.ts';

export interface CycleOptions {
  /** Read-back attempts for each change. */
  attempts?: number;
  /** Base delay between attempts (doubled each time). */
  backoffMs?: number;
  /** Called between steps so the activity heartbeats and notices cancellation. */
  progress?: (step: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function cycleToNetwork(driver: PowerDriver, t: BmcTarget, opts: CycleOptions = {}): Promise<string> {
  const attempts = opts.attempts ?? 3;
  const backoff = opts.backoffMs ?? 500;
  const progress = opts.progress ?? (() => undefined);

  let seen: string;
  for (let i = 1; ; i++) {
    progress(`set boot device network (attempt ${i})`);
    await driver.setBootDevice(t, 'network', { persistent: false });
    const got = await driver.getBootDevice(t);
    seen = got.device;
    if (got.device === 'network') break;
    if (i >= attempts) {
      throw new BmcError(`boot override not applied: BMC reports ${got.device} after ${attempts} attempts`, false);
    }
    await sleep(backoff * 2 ** (i - 1));
  }

  progress('power status');
  const before = await driver.powerStatus(t);
  progress(before === 'on' ? 'power cycle' : 'power on');
  if (before === 'on') await driver.powerCycle(t);
  else await driver.powerOn(t);
  for (let i = 1; ; i++) {
    const now = await driver.powerStatus(t);
    if (now === 'on') break;
    if (i >= attempts) throw new BmcError(`power on not applied: BMC reports ${now} after ${attempts} checks`, false);
    await sleep(backoff * 2 ** (i - 1));
  }
  return `next boot ${seen} (once), power ${before === 'on' ? 'cycled' : 'turned on'}, now on`;
}
