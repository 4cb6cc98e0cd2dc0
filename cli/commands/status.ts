// `vaquero status`: every host with its site, stage, state and revision.
import type { Command } from 'commander';
import { resolveDataDir } from '../data-dir.ts';
import { listHosts } from '../host-list.ts';
import { connectClient } from '../stack-client.ts';

export function register(program: Command): void {
  program
    .command('status')
    .description('list hosts with site, stage, state and revision')
    .option('--data-dir <dir>', 'state directory of the stack')
    .option('--site <site>', 'only this site')
    .option('--json', 'print {"hosts":[{site,host,stage,state,revision,…}]}')
    .action(async (opts: { dataDir?: string; site?: string; json?: boolean }) => {
      const { client, connection } = await connectClient(resolveDataDir(opts.dataDir));
      try {
        const hosts = await listHosts(client, { site: opts.site });
        if (opts.json) {
          process.stdout.write(JSON.stringify({ hosts }) + '\n');
          return;
        }
        if (hosts.length === 0) {
          process.stdout.write('no hosts have been reprovisioned yet\n');
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
          process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
        }
      } finally {
        await connection.close();
      }
    });
}
