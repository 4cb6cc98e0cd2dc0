// `vaquero rollout list|status|pause|resume|abort [ID]`: operate on rollouts (default: the newest running one).
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import {
  abortUpdate,
  pauseUpdate,
  resumeUpdate,
  ROLLOUT_WORKFLOW_TYPE,
  rolloutStatusQuery,
} from '../../workflows/definitions.ts';
import { resolveDataDir } from '../data-dir.ts';
import { summarize } from '../rollout-progress.ts';
import { connectClient } from '../stack-client.ts';

interface Opts {
  dataDir?: string;
  json?: boolean;
}

async function newestRollout(client: Client, runningOnly: boolean): Promise<string> {
  let best: { id: string; at: number } | undefined;
  const q = `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` + (runningOnly ? ` AND ExecutionStatus = 'Running'` : '');
  for await (const wf of client.workflow.list({ query: q })) {
    const at = wf.startTime.getTime();
    if (!best || at > best.at) best = { id: wf.workflowId, at };
  }
  if (!best) throw new Error(runningOnly ? 'no running rollout' : 'no rollout yet');
  return best.id;
}

async function withClient(opts: Opts, fn: (client: Client) => Promise<void>): Promise<void> {
  const { client, connection } = await connectClient(resolveDataDir(opts.dataDir));
  try {
    await fn(client);
  } finally {
    await connection.close();
  }
}

export function register(program: Command): void {
  const rollout = program.command('rollout').description('list, inspect, pause, resume or abort rollouts');
  rollout
    .command('list')
    .option('--data-dir <dir>')
    .option('--json')
    .action((opts: Opts) =>
      withClient(opts, async (client) => {
        const rows: { workflowId: string; status: string; startedAt: string; closedAt?: string }[] = [];
        for await (const wf of client.workflow.list({ query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` })) {
          rows.push({ workflowId: wf.workflowId, status: wf.status.name.toLowerCase(), startedAt: wf.startTime.toISOString(), closedAt: wf.closeTime?.toISOString() });
        }
        rows.sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
        if (opts.json) process.stdout.write(JSON.stringify({ rollouts: rows }) + '\n');
        else for (const r of rows) process.stdout.write(`${r.startedAt}  ${r.status.padEnd(10)} ${r.workflowId}\n`);
      }),
    );
  rollout
    .command('status [id]')
    .option('--data-dir <dir>')
    .option('--json')
    .action((id: string | undefined, opts: Opts) =>
      withClient(opts, async (client) => {
        const wid = id ?? (await newestRollout(client, false));
        const s = await client.workflow.getHandle(wid).query(rolloutStatusQuery);
        if (opts.json) {
          process.stdout.write(JSON.stringify(s) + '\n');
          return;
        }
        process.stdout.write(`${wid}\n${summarize(s)}${s.reason ? `\nreason: ${s.reason}` : ''}\n`);
        for (const h of s.hosts) process.stdout.write(`  ${`${h.site}/${h.host}`.padEnd(30)} ${h.state}${h.error ? `: ${h.error}` : ''}\n`);
      }),
    );
  const action = (name: 'pause' | 'resume' | 'abort') =>
    rollout
      .command(`${name} [id]`)
      .description(`${name} a rollout (default: the newest running one)`)
      .option('--data-dir <dir>')
      .option('--reason <text>')
      .action((id: string | undefined, opts: Opts & { reason?: string }) =>
        withClient(opts, async (client) => {
          const wid = id ?? (await newestRollout(client, true));
          const h = client.workflow.getHandle(wid);
          const state =
            name === 'pause'
              ? await h.executeUpdate(pauseUpdate, { args: [opts.reason ?? ''] })
              : name === 'resume'
                ? await h.executeUpdate(resumeUpdate, { args: [] })
                : await h.executeUpdate(abortUpdate, { args: [opts.reason ?? ''] });
          process.stdout.write(`${wid}: ${state}\n`);
        }),
      );
  action('pause');
  action('resume');
  action('abort');
}
