// `vaquero rollout list|status|follow|pause|resume|abort [ID]`: operate on rollouts (default: the newest running
// one), on Temporal directly or through a server (--server or VAQUERO_SERVER).
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import {
  abortUpdate,
  pauseUpdate,
  resumeUpdate,
  ROLLOUT_WORKFLOW_TYPE,
  rolloutStatusQuery,
} from '../../domain/workflow-api.ts';
import type { RolloutStatus } from '../../domain/rollout.ts';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { followWithBar } from '../progress-bar.ts';
import { followRollout, summarize } from '../rollout-progress.ts';
import { ApiClient, rolloutPath, serverTarget } from '../server-client.ts';
import { connectClient } from '../stack-client.ts';

interface Opts {
  dataDir?: string;
  json?: boolean;
  server?: string;
}

type Backend = { kind: 'temporal'; client: Client } | { kind: 'server'; api: ApiClient };

interface ServerRollout {
  id: string;
  state: string;
  status: string;
  startedAt: string;
  closedAt?: string;
}

async function newestRollout(b: Backend, runningOnly: boolean): Promise<string> {
  if (b.kind === 'server') {
    const { rollouts } = await b.api.get<{ rollouts: ServerRollout[] }>('/rollouts', { limit: 1000 });
    const found = rollouts.find((r) => !runningOnly || r.status === 'running');
    if (!found) throw new Error(runningOnly ? 'no running rollout' : 'no rollout yet');
    return found.id;
  }
  let best: { id: string; at: number } | undefined;
  const q =
    `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'` + (runningOnly ? ` AND ExecutionStatus = 'Running'` : '');
  for await (const wf of b.client.workflow.list({ query: q })) {
    const at = wf.startTime.getTime();
    if (!best || at > best.at) best = { id: wf.workflowId, at };
  }
  if (!best) throw new Error(runningOnly ? 'no running rollout' : 'no rollout yet');
  return best.id;
}

async function withBackend(opts: Opts, fn: (b: Backend) => Promise<void>): Promise<void> {
  const target = await serverTarget(opts.server);
  if (target) return fn({ kind: 'server', api: new ApiClient(target) });
  const { client, close } = await connectClient(resolveDataDir(opts.dataDir));
  try {
    await fn({ kind: 'temporal', client });
  } finally {
    await close();
  }
}

async function rolloutStatus(b: Backend, id: string): Promise<RolloutStatus> {
  if (b.kind === 'server') return b.api.get<RolloutStatus>(rolloutPath(id));
  return b.client.workflow.getHandle(id).query(rolloutStatusQuery);
}

const SERVER_HELP =
  'use a vaquero server (default $VAQUERO_SERVER; token from $VAQUERO_TOKEN or $VAQUERO_TOKEN_FILE)';

export function register(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('list, inspect, follow, pause, resume or abort rollouts');
  rollout
    .command('list')
    .option('--data-dir <dir>')
    .option('--json')
    .option('--server <url>', SERVER_HELP)
    .action((opts: Opts) =>
      withBackend(opts, async (b) => {
        const rows: { workflowId: string; status: string; startedAt: string; closedAt?: string }[] = [];
        if (b.kind === 'server') {
          let cursor: string | undefined;
          do {
            const page = await b.api.get<{ rollouts: ServerRollout[]; nextCursor?: string }>('/rollouts', {
              limit: 1000,
              cursor,
            });
            for (const r of page.rollouts)
              rows.push({
                workflowId: r.id,
                status: r.state,
                startedAt: r.startedAt,
                ...(r.closedAt ? { closedAt: r.closedAt } : {}),
              });
            cursor = page.nextCursor;
          } while (cursor);
        } else {
          for await (const wf of b.client.workflow.list({
            query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'`,
          })) {
            rows.push({
              workflowId: wf.workflowId,
              status: wf.status.name.toLowerCase(),
              startedAt: wf.startTime.toISOString(),
              ...(wf.closeTime ? { closedAt: wf.closeTime.toISOString() } : {}),
            });
          }
        }
        rows.sort((a, c) => (a.startedAt < c.startedAt ? 1 : -1));
        if (opts.json) process.stdout.write(JSON.stringify({ rollouts: rows }) + '\n');
        else
          for (const r of rows)
            process.stdout.write(`${r.startedAt}  ${r.status.padEnd(10)} ${r.workflowId}\n`);
      }),
    );
  rollout
    .command('status [id]')
    .option('--data-dir <dir>')
    .option('--json')
    .option('--server <url>', SERVER_HELP)
    .action((id: string | undefined, opts: Opts) =>
      withBackend(opts, async (b) => {
        const wid = id ?? (await newestRollout(b, false));
        const s = await rolloutStatus(b, wid);
        if (opts.json) {
          process.stdout.write(JSON.stringify(s) + '\n');
          return;
        }
        process.stdout.write(`${wid}\n${summarize(s)}${s.reason ? `\nreason: ${s.reason}` : ''}\n`);
        for (const h of s.hosts)
          process.stdout.write(
            `  ${`${h.site}/${h.host}`.padEnd(30)} ${h.state}${h.error ? `: ${h.error}` : ''}\n`,
          );
        // A fleet's rollout lists its running and newest finished hosts; the counts above cover every host.
        if (s.total !== undefined && s.total > s.hosts.length)
          process.stdout.write(
            `  (${s.hosts.length} of ${s.total} shown: running and most recently finished)\n`,
          );
        const listed = new Set(s.hosts.filter((h) => h.state === 'failed').map((h) => `${h.site}/${h.host}`));
        for (const f of s.failedHosts ?? [])
          if (!listed.has(f.host))
            process.stdout.write(`  ${f.host.padEnd(30)} failed${f.error ? `: ${f.error}` : ''}\n`);
      }),
    );
  rollout
    .command('follow [id]')
    .description('follow a rollout until it ends (default: the newest running one); exit 0 if it completed')
    .option('--data-dir <dir>')
    .option('--server <url>', SERVER_HELP)
    .action((id: string | undefined, opts: Opts) =>
      withBackend(opts, async (b) => {
        const wid = id ?? (await newestRollout(b, true));
        process.stdout.write(`${wid}\n`);
        const s =
          b.kind === 'server'
            ? ((await followWithBar(b.api, wid)) as unknown as RolloutStatus)
            : await followRollout(b.client, wid);
        process.stdout.write(summarize(s) + '\n');
        process.exitCode = s.state === 'completed' ? 0 : 1;
      }),
    );
  const action = (name: 'pause' | 'resume' | 'abort') =>
    rollout
      .command(`${name} [id]`)
      .description(`${name} a rollout (default: the newest running one)`)
      .option('--data-dir <dir>')
      .option('--reason <text>')
      .option('--server <url>', SERVER_HELP)
      .action((id: string | undefined, opts: Opts & { reason?: string }) =>
        withBackend(opts, async (b) => {
          const wid = id ?? (await newestRollout(b, true));
          let state: string;
          if (b.kind === 'server') {
            const body = name === 'resume' || !opts.reason ? {} : { reason: opts.reason };
            state = (await b.api.post<{ state: string }>(`${rolloutPath(wid)}/${name}`, body)).data.state;
          } else {
            const h = b.client.workflow.getHandle(wid);
            state =
              name === 'pause'
                ? await h.executeUpdate(pauseUpdate, { args: [opts.reason ?? ''] })
                : name === 'resume'
                  ? await h.executeUpdate(resumeUpdate, { args: [] })
                  : await h.executeUpdate(abortUpdate, { args: [opts.reason ?? ''] });
          }
          process.stdout.write(`${wid}: ${state}\n`);
        }),
      );
  action('pause');
  action('resume');
  action('abort');
}
