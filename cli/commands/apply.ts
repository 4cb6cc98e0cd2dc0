// `vaquero apply DIR`: start the rollout of a SoT folder on a running stack. With a server (--server or
// VAQUERO_SERVER): start the rollout of one of the server's SoTs (--sot, default the folder's name) at its
// current revision or --revision, and follow it with a progress bar.
import type { Command } from 'commander';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { cliExternals } from '../sot-externals.ts';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { followWithBar } from '../progress-bar.ts';
import { followRollout, summarize } from '../rollout-progress.ts';
import { ApiClient, serverTarget } from '../server-client.ts';
import type { ServerTarget } from '../server-client.ts';
import { connectClient } from '../stack-client.ts';
import { sotNameFor, startDirRollout } from '../../client/start-rollout.ts';

interface ApplyOpts {
  dataDir?: string;
  sot?: string;
  force?: boolean;
  wait?: boolean;
  json?: boolean;
  server?: string;
  revision?: string;
}

async function applyViaServer(
  target: ServerTarget,
  dir: string | undefined,
  opts: ApplyOpts,
): Promise<number> {
  if (!opts.sot && !dir) throw new Error("name the server's SoT with --sot NAME");
  const sot = opts.sot ?? sotNameFor(dir!);
  const api = new ApiClient(target);
  const { data: r } = await api.post<{
    sot: string;
    revision: string;
    workflowId: string;
    started: boolean;
    reason?: string;
  }>('/rollouts', {
    sot,
    ...(opts.revision ? { revision: opts.revision } : {}),
    ...(opts.force ? { force: true } : {}),
  });
  if (!opts.json)
    process.stdout.write(
      `rollout ${r.workflowId} ${r.started ? 'started' : `not started: ${r.reason ?? 'already running'}`}\n`,
    );
  if (!opts.wait) {
    if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  const status = await followWithBar(api, r.workflowId, opts.json ? { write: () => undefined } : {});
  if (opts.json) process.stdout.write(JSON.stringify({ ...r, status }) + '\n');
  return status.state === 'completed' ? 0 : 1;
}

export function register(program: Command): void {
  program
    .command('apply [dir]')
    .description('roll out a SoT folder on the running stack (validated first), or a SoT of a server')
    .option('--data-dir <dir>', 'state directory of the stack')
    .option('--sot <name>', 'name of the SoT (default: the folder name)')
    .option('--force', 'reprovision every host even if it already reached this revision')
    .option('--wait', 'follow the rollout until it ends')
    .option('--json', 'print {"workflowId","revision","started"} (and the final status with --wait)')
    .option(
      '--server <url>',
      'start it on a vaquero server (default $VAQUERO_SERVER; token from $VAQUERO_TOKEN or $VAQUERO_TOKEN_FILE)',
    )
    .option('--revision <rev>', 'with a server: the revision to roll out (default: the SoT as it is now)')
    .action(async (dir: string | undefined, opts: ApplyOpts) => {
      const target = await serverTarget(opts.server);
      if (target) {
        process.exitCode = await applyViaServer(target, dir, opts);
        return;
      }
      if (!dir) throw new Error('apply needs the SoT folder (or a server: --server URL --sot NAME)');
      const { diagnostics } = await validateSot(dir, {
        externals: await cliExternals(dir, { dataDir: resolveDataDir(opts.dataDir) }),
      });
      if (diagnostics.length > 0) {
        for (const d of diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
        process.stderr.write(
          `vaquero apply: ${dir} is invalid (${diagnostics.length} problem(s)); nothing started\n`,
        );
        process.exitCode = 1;
        return;
      }
      const { client, close, endpoint } = await connectClient(resolveDataDir(opts.dataDir));
      try {
        const r = await startDirRollout(client, {
          dir,
          ...(opts.sot !== undefined ? { sot: opts.sot } : {}),
          ...(opts.force !== undefined ? { force: opts.force } : {}),
        });
        if (!opts.json) {
          process.stdout.write(`rollout ${r.workflowId} ${r.started ? 'started' : 'already running'}\n`);
          if (endpoint.uiUrl) {
            process.stdout.write(
              `  ${endpoint.uiUrl}/namespaces/${endpoint.namespace}/workflows/${encodeURIComponent(r.workflowId)}\n`,
            );
          }
        }
        if (!opts.wait) {
          if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        const status = await followRollout(client, r.workflowId, opts.json ? { out: () => undefined } : {});
        if (opts.json) process.stdout.write(JSON.stringify({ ...r, status }) + '\n');
        else process.stdout.write(summarize(status) + '\n');
        process.exitCode = status.state === 'completed' ? 0 : 1;
      } finally {
        await close();
      }
    });
}
