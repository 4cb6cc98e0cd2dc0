// `vaquero apply DIR`: start the rollout of a SoT folder on a running stack.
import type { Command } from 'commander';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { resolveDataDir } from '../data-dir.ts';
import { followRollout, summarize } from '../rollout-progress.ts';
import { connectClient } from '../stack-client.ts';
import { startDirRollout } from '../start-rollout.ts';

export function register(program: Command): void {
  program
    .command('apply <dir>')
    .description('roll out a SoT folder on the running stack (validated first)')
    .option('--data-dir <dir>', 'state directory of the stack')
    .option('--sot <name>', 'name of the SoT (default: the folder name)')
    .option('--force', 'reprovision every host even if it already reached this revision')
    .option('--wait', 'follow the rollout until it ends')
    .option('--json', 'print {"workflowId","revision","started"} (and the final status with --wait)')
    .action(async (dir: string, opts: { dataDir?: string; sot?: string; force?: boolean; wait?: boolean; json?: boolean }) => {
      const { diagnostics } = await validateSot(dir);
      if (diagnostics.length > 0) {
        for (const d of diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
        process.stderr.write(`vaquero apply: ${dir} is invalid (${diagnostics.length} problem(s)); nothing started\n`);
        process.exitCode = 1;
        return;
      }
      const { client, connection, endpoint } = await connectClient(resolveDataDir(opts.dataDir));
      try {
        const r = await startDirRollout(client, { dir, sot: opts.sot, force: opts.force });
        if (!opts.json) {
          process.stdout.write(`rollout ${r.workflowId} ${r.started ? 'started' : 'already running'}\n`);
          if (endpoint.uiUrl) {
            process.stdout.write(`  ${endpoint.uiUrl}/namespaces/${endpoint.namespace}/workflows/${encodeURIComponent(r.workflowId)}\n`);
          }
        }
        if (!opts.wait) {
          if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        const status = await followRollout(client, r.workflowId, { out: opts.json ? () => undefined : undefined });
        if (opts.json) process.stdout.write(JSON.stringify({ ...r, status }) + '\n');
        else process.stdout.write(summarize(status) + '\n');
        process.exitCode = status.state === 'completed' ? 0 : 1;
      } finally {
        await connection.close();
      }
    });
}
