// `vaquero server`: the REST API, GitOps webhooks and the control-plane worker, until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { loadServerConfig, parseListen } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import { startTracing } from '../../temporal/telemetry/tracing.ts';

interface ServerOpts {
  config?: string;
  listen?: string;
  dataDir?: string;
  worker?: boolean;
}

export function register(program: Command): void {
  program
    .command('server')
    .description(
      'run the REST API, GitHub webhooks and the control-plane worker (see server/config.ts for the file)',
    )
    .option('--config <file>', 'YAML configuration (tokens, SoTs, GitHub, Temporal)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option('--data-dir <dir>', 'state directory (revision snapshots, git mirrors)')
    .option('--no-worker', 'do not run the control-plane worker in this process')
    .action(async (opts: ServerOpts) => {
      const config = await loadServerConfig(opts.config);
      if (opts.listen) config.listen = parseListen(opts.listen);
      if (opts.dataDir) config.dataDir = opts.dataDir;
      if (opts.worker === false) config.controlWorker = false;
      const tracing = startTracing('server', process.env, (m) =>
        process.stderr.write(`vaquero server: ${m}\n`),
      );
      const server = await startServer(config);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
      await tracing?.shutdown();
    });
}
