// `vaquero worker`: run the control worker and/or sim site workers against an existing Temporal (TEMPORAL_ADDRESS
// or a running `vaquero dev`), until SIGINT/SIGTERM.
import { NativeConnection } from '@temporalio/worker';
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { parseSimDelays } from '../../sim/sim-delays.ts';
import { tlsFromEnv } from '../../temporal/connection.ts';
import { connectClosable } from '../../temporal/closable-connection.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { tracingClientOptions } from '../../temporal/telemetry/temporal-tracing.ts';
import { startTracing } from '../../temporal/telemetry/tracing.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { findEndpoint, stackCodec } from '../stack-client.ts';

interface WorkerOpts {
  dataDir?: string;
  control?: boolean;
  simSites?: string;
  simDelays?: string;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('run workers against a running Temporal: --control and/or --sim-sites a,b')
    .option('--data-dir <dir>', 'state directory (revision store, power log)')
    .option('--control', 'run the control-plane worker (vaquero-control)')
    .option('--sim-sites <sites>', 'comma-separated sites to simulate with sim hosts')
    .option('--sim-delays <spec>', 'sim boot step delays in ms')
    .action(async (opts: WorkerOpts) => {
      const dataDir = resolveDataDir(opts.dataDir);
      const simSites = opts.simSites ? opts.simSites.split(',').filter(Boolean) : [];
      if (!opts.control && simSites.length === 0)
        throw new Error('nothing to run: pass --control and/or --sim-sites');
      installQuietRuntime();
      const tracing = startTracing('worker', process.env, (m) =>
        process.stderr.write(`vaquero worker: ${m}\n`),
      );
      const ep = await findEndpoint(dataDir);
      const tls = process.env.TEMPORAL_ADDRESS ? await tlsFromEnv(process.env) : {};
      const codec = await stackCodec(ep);
      const native = await NativeConnection.connect({ address: ep.address, ...tls });
      const { connection, close } = await connectClosable({ address: ep.address, ...tls });
      const client = new Client({
        connection,
        namespace: ep.namespace,
        dataConverter: codec.dataConverter,
        ...tracingClientOptions(),
      });
      const stack = await startWorkerStack({
        connection: native,
        client,
        dataConverter: codec.dataConverter,
        namespace: ep.namespace,
        dataDir,
        control: opts.control === true,
        simSites,
        simDelays: parseSimDelays(opts.simDelays),
      });
      const stop = () => void stack.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.write(`workers running (pid ${process.pid}) against ${ep.address}\n`);
      try {
        await stack.done;
      } finally {
        await close();
        await native.close();
        await tracing?.shutdown();
      }
    });
}
