// `vaquero status`: every host with its site, stage, state and revision (from Temporal, or from a server).
import type { Command } from 'commander';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { listHosts } from '../host-list.ts';
import type { HostRow } from '../host-list.ts';
import { ApiClient, serverTarget } from '../server-client.ts';
import { connectClient } from '../stack-client.ts';
import type { AgentStatusReport } from '../../domain/agent-status.ts';
import { agentStatusAlerts, listAgentStatuses } from '../../temporal/agent-status-rows.ts';

/** A host as the server lists it: the CLI's row plus when its stage began. */
type ServerHost = Omit<HostRow, 'secondsInStage' | 'attempt' | 'bootStage' | 'bootStages' | 'lastError'> & {
  stageSince: string;
};

/** Every host from the server's listing, page after page. */
async function serverHosts(api: ApiClient, site: string | undefined): Promise<HostRow[]> {
  const out: HostRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<{ hosts: ServerHost[]; nextCursor?: string }>('/hosts', {
      site,
      limit: 10000,
      cursor,
    });
    for (const h of page.hosts) {
      out.push({
        ...h,
        ...(h.state === 'running'
          ? { secondsInStage: Math.round((Date.now() - Date.parse(h.stageSince)) / 100) / 10 }
          : {}),
      });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** Every agent's status report (DHCP conflicts, a proxy's missing server), from the server's site listing. */
async function serverAgents(api: ApiClient, site: string | undefined): Promise<AgentStatusReport[]> {
  const { sites } = await api.get<{ sites: { site: string; agents?: AgentStatusReport[] }[] }>('/sites');
  return sites
    .filter((s) => site === undefined || s.site === site)
    .flatMap((s) =>
      (s.agents ?? []).map(({ site: at, agent, reportedAt, dhcp }) => ({
        site: at,
        agent,
        reportedAt,
        ...(dhcp ? { dhcp } : {}),
      })),
    );
}

/** The agents' alerts under the host table: what an operator must fix on a site's segment. */
function alertLines(agents: AgentStatusReport[]): string {
  const lines = agents.flatMap((r) =>
    agentStatusAlerts(r).map((a) => `site ${r.site} agent ${r.agent}: ${a}\n`),
  );
  return lines.length > 0 ? `\n${lines.join('')}` : '';
}

export function register(program: Command): void {
  program
    .command('status')
    .description(
      "list hosts with site, stage, state and revision, and the agents' alerts (DHCP conflicts, a missing DHCP server)",
    )
    .option('--data-dir <dir>', 'state directory of the stack')
    .option('--site <site>', 'only this site')
    .option(
      '--json',
      'print {"hosts":[{site,host,stage,state,revision,…}]}, with "agents":[{site,agent,reportedAt,dhcp}] when any agent reported',
    )
    .option(
      '--server <url>',
      'ask a vaquero server (default $VAQUERO_SERVER; token from $VAQUERO_TOKEN or $VAQUERO_TOKEN_FILE)',
    )
    .action(async (opts: { dataDir?: string; site?: string; json?: boolean; server?: string }) => {
      const target = await serverTarget(opts.server);
      const direct = target ? undefined : await connectClient(resolveDataDir(opts.dataDir));
      try {
        const hosts = target
          ? await serverHosts(new ApiClient(target), opts.site)
          : await listHosts(direct!.client, opts.site !== undefined ? { site: opts.site } : {});
        const agents = target
          ? await serverAgents(new ApiClient(target), opts.site)
          : (await listAgentStatuses(direct!.client)).filter(
              (r) => opts.site === undefined || r.site === opts.site,
            );
        if (opts.json) {
          process.stdout.write(JSON.stringify({ hosts, ...(agents.length > 0 ? { agents } : {}) }) + '\n');
          return;
        }
        if (hosts.length === 0) {
          process.stdout.write('no hosts have been reprovisioned yet\n' + alertLines(agents));
          return;
        }
        const rows = hosts.map((h) => [
          h.site,
          h.host,
          h.stage + (h.bootStages ? ` (${h.bootStage}/${h.bootStages})` : ''),
          h.state,
          h.revision,
          h.secondsInStage !== undefined ? `${h.secondsInStage}s` : '',
          h.lastError ?? '',
        ]);
        const header = ['SITE', 'HOST', 'STAGE', 'STATE', 'REVISION', 'IN STAGE', 'LAST ERROR'];
        const widths = header.map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i]!.length)));
        for (const r of [header, ...rows]) {
          process.stdout.write(
            r
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd() + '\n',
          );
        }
        process.stdout.write(alertLines(agents));
      } finally {
        await direct?.close();
      }
    });
}
