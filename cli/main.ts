// The `vaquero` command line. Each command lives in its own file under commands/ and registers itself here.
import { Command } from 'commander';
import { register as registerValidate } from './commands/validate.ts';
import { register as registerRender } from './commands/render.ts';
import { register as registerPlan } from './commands/plan.ts';
import { runSetup } from './commands/setup.ts';
import { register as registerDev } from './commands/dev.ts';
import { register as registerApply } from './commands/apply.ts';
import { register as registerStatus } from './commands/status.ts';
import { register as registerRollout } from './commands/rollout.ts';
import { register as registerReprovision } from './commands/reprovision.ts';
import { register as registerWorker } from './commands/worker.ts';
import { register as registerServer } from './commands/server.ts';
import { register as registerAgent } from './commands/agent.ts';
import { register as registerLab } from './commands/lab.ts';

const program = new Command();
program
  .name('vaquero')
  .description('Bare-metal reprovisioning orchestrator on Temporal')
  .showHelpAfterError()
  // Usage errors exit 2 so that scripts can tell them from "the SoT is invalid" (exit 1).
  .exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
    process.exit(err.exitCode === 1 ? 2 : err.exitCode);
  });

registerValidate(program);
registerRender(program);
registerPlan(program);
registerDev(program);
registerApply(program);
registerStatus(program);
registerRollout(program);
registerReprovision(program);
registerWorker(program);
registerLab(program);
registerServer(program);
registerAgent(program);
program
  .command('setup')
  .description('install what vaquero needs on this machine (the Temporal CLI; with --lab, the lab packages)')
  .option('--lab', 'also install the network-boot lab packages (root)')
  .action(async (opts: { lab?: boolean }) => {
    await runSetup(opts.lab !== undefined ? { lab: opts.lab } : {});
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`vaquero: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
