// `vaquero setup`: prepares this machine. For now that means a Temporal CLI (the embedded dev
// server); system packages for the lab come later.
import { ensureTemporalCli, temporalCliVersion } from '../../temporal/cli-binary.ts';

export async function runSetup(opts: { lab?: boolean }): Promise<void> {
  const say = (msg: string) => process.stdout.write(`setup: ${msg}\n`);
  say('looking for the Temporal CLI');
  const cli = await ensureTemporalCli({ log: say });
  say(`Temporal CLI ready: ${cli} (${await temporalCliVersion(cli)})`);
  if (opts.lab) say('lab packages: not handled by setup yet');
}
