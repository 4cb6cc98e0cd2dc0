// `vaquero reprovision HOST`: reprovision one host now, at the revision of the newest rollout of its SoT.
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { CONTROL_TASK_QUEUE } from '../../domain/temporal-names.ts';
import { HOST_WORKFLOW_TYPE, hostWorkflowId, ROLLOUT_WORKFLOW_TYPE } from '../../domain/workflow-api.ts';
import type { HostWorkflowInput } from '../../domain/host.ts';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { listHosts } from '../host-list.ts';
import { ApiClient, serverTarget } from '../server-client.ts';
import { connectClient } from '../stack-client.ts';

export function register(program: Command): void {
  program
    .command('reprovision <host>')
    .description('reprovision one host (NAME or SITE/NAME) at the newest rolled-out revision')
    .option('--data-dir <dir>', 'state directory of the stack')
    .option('--sot <name>', 'SoT whose newest rollout gives the revision (default: the newest of any)')
    .option('--force', 'with a server: reprovision a host whose never_provision is set too')
    .option(
      '--server <url>',
      'ask a vaquero server (default $VAQUERO_SERVER; token from $VAQUERO_TOKEN or $VAQUERO_TOKEN_FILE); HOST must be SITE/NAME',
    )
    .action(
      async (hostArg: string, opts: { dataDir?: string; sot?: string; server?: string; force?: boolean }) => {
        const target = await serverTarget(opts.server);
        if (target) {
          if (!hostArg.includes('/')) throw new Error('with a server, name the host as SITE/NAME');
          const { data } = await new ApiClient(target).post<{
            results: {
              host: string;
              workflowId: string;
              started: boolean;
              revision?: string;
              error?: string;
            }[];
          }>('/hosts/reprovision', {
            hosts: [hostArg],
            ...(opts.sot ? { sot: opts.sot } : {}),
            ...(opts.force ? { force: true } : {}),
          });
          for (const r of data.results) {
            process.stdout.write(
              r.started
                ? `${r.workflowId} started at revision ${r.revision}\n`
                : `${r.workflowId}: ${r.error}\n`,
            );
            if (!r.started) process.exitCode = 1;
          }
          return;
        }
        const { client, close } = await connectClient(resolveDataDir(opts.dataDir));
        try {
          let site: string | undefined;
          let host = hostArg;
          if (hostArg.includes('/')) [site, host] = hostArg.split('/', 2) as [string, string];
          if (!site) {
            const found = (await listHosts(client, { query: false })).filter((h) => h.host === host);
            if (found.length !== 1) {
              throw new Error(
                found.length === 0
                  ? `host ${host} has never been provisioned here: name it as SITE/${host}`
                  : `host ${host} exists in several sites: name it as SITE/${host}`,
              );
            }
            site = found[0]!.site;
          }
          let newest: { sot: string; revision: string; at: number } | undefined;
          for await (const wf of client.workflow.list({
            query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'`,
          })) {
            const m = /^rollout\/([^/]+)\/([^/]+)$/.exec(wf.workflowId);
            if (!m || (opts.sot && m[1] !== opts.sot)) continue;
            if (!newest || wf.startTime.getTime() > newest.at)
              newest = { sot: m[1]!, revision: m[2]!, at: wf.startTime.getTime() };
          }
          if (!newest) throw new Error('no rollout yet: `vaquero apply DIR` first');
          const input: HostWorkflowInput = { sot: newest.sot, revision: newest.revision, site, host };
          const workflowId = hostWorkflowId(site, host);
          try {
            await client.workflow.start(HOST_WORKFLOW_TYPE, {
              taskQueue: CONTROL_TASK_QUEUE,
              workflowId,
              args: [input],
            });
          } catch (err) {
            if (err instanceof WorkflowExecutionAlreadyStartedError)
              throw new Error(`${workflowId} is already being reprovisioned`, { cause: err });
            throw err;
          }
          process.stdout.write(`${workflowId} started at revision ${newest.revision} of ${newest.sot}\n`);
        } finally {
          await close();
        }
      },
    );
}
