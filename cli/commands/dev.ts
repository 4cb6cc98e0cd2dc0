// `vaquero dev`: the whole stack on one machine — embedded Temporal with its UI, the control worker, a sim site
// worker per site, the REST API (as `vaquero server` serves it, with an operate token kept in the data directory)
// — then the rollout of a SoT (sot-examples/lab by default) with a live progress view.
import type { Command } from 'commander';
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { validateSot } from '../../sot/validate.ts';
import { parseSimDelays } from '../../sim/sim-delays.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { startSimAgentSite } from '../../sim/sim-agent-site.ts';
import type { SimAgentSite } from '../../sim/sim-agent-site.ts';
import { resolveDataDir } from '../../temporal/data-dir.ts';
import { followRollout, summarize } from '../rollout-progress.ts';
import { forgetEndpoint, recordEndpoint } from '../stack-client.ts';
import { startDirRollout } from '../../client/start-rollout.ts';
import { startServer } from '../../server/main.ts';
import type { RunningServer } from '../../server/main.ts';
import { devApiToken } from '../dev-api-token.ts';
import { startTracing } from '../../temporal/telemetry/tracing.ts';

/** Where Debian's ipxe package puts its boot files, which the agents serve. */
const IPXE_DIR = '/usr/lib/ipxe';
/** How long stopping waits for activities in flight before the workers give up on them. */
const WORKER_STOP_FORCE_MS = 15_000;
const DEFAULT_SOT = fileURLToPath(new URL('../../sot-examples/lab', import.meta.url));

interface DevOptions {
  dataDir?: string;
  sot?: string;
  sotName?: string;
  simDelays?: string;
  port?: string;
  apiPort?: string;
  force?: boolean;
  exitWhenDone?: boolean;
  agent?: boolean;
}

export function register(program: Command): void {
  program
    .command('dev')
    .description('run the embedded stack (Temporal + UI, control worker, simulated sites) and roll out a SoT')
    .option('--data-dir <dir>', 'state directory (default: $VAQUERO_DATA_DIR or ~/.local/share/vaquero)')
    .option('--sot <dir>', 'SoT folder to roll out', DEFAULT_SOT)
    .option('--sot-name <name>', 'name of the SoT (default: the folder name)')
    .option(
      '--sim-delays <spec>',
      'sim boot step delays in ms: one number, or step=ms,… (steps: bmc,dhcp,tftp,ipxe,kernel,initrd,config,checkpoint,task)',
    )
    .option('--port <port>', 'Temporal frontend port (UI on port+1000)', '7233')
    .option('--api-port <port>', 'REST API port on 127.0.0.1', '7280')
    .option('--force', 'reprovision every host even if it already reached this revision')
    .option('--exit-when-done', 'stop the stack once the rollout has finished')
    .option(
      '--agent',
      'run a real agent per site on loopback; sim hosts boot through it over DHCP (via a relay), TFTP and HTTP',
    )
    .action(async (opts: DevOptions) => {
      process.exitCode = await runDev(opts);
    });
}

async function runDev(opts: DevOptions): Promise<number> {
  const out = (line: string) => process.stdout.write(line + '\n');
  const dataDir = resolveDataDir(opts.dataDir);
  const sotDir = path.resolve(opts.sot ?? DEFAULT_SOT);
  const t0 = Date.now();
  const { model, diagnostics } = await validateSot(sotDir);
  if (diagnostics.length > 0) {
    for (const d of diagnostics) out(formatDiagnostic(d));
    out(`vaquero dev: ${sotDir} is invalid (${diagnostics.length} problem(s))`);
    return 1;
  }
  const sites = [...model.sites.keys()];
  if (opts.agent) {
    // The agents serve the boot files of Debian's ipxe package over TFTP: say what is missing before anything starts.
    const missing = await access(path.join(IPXE_DIR, 'undionly.kpxe')).then(
      () => false,
      () => true,
    );
    if (missing) {
      out(
        `vaquero dev --agent: ${IPXE_DIR}/undionly.kpxe is missing: install Debian's ipxe package (\`sudo apt-get install ipxe\`, or \`npx vaquero setup --lab\`), or run without --agent`,
      );
      return 1;
    }
  }
  await mkdir(dataDir, { recursive: true });
  out(`vaquero dev: data in ${dataDir}`);
  // Before any client or worker exists: they take the interceptors only when tracing is on (OTEL_*).
  const tracing = startTracing('dev', process.env, out);
  const grpc = Number(opts.port ?? 7233);
  installQuietRuntime();
  const temporal = await connectTemporal({
    dataDir: path.join(dataDir, 'temporal'),
    ui: true,
    ports: { grpc },
    // The UI decodes payloads through the API's codec endpoint (started below, on this port).
    uiCodecEndpoint: `http://127.0.0.1:${Number(opts.apiPort ?? 7280)}/codec`,
    log: (m) => out(`temporal: ${m}`),
  });
  let stack: Awaited<ReturnType<typeof startWorkerStack>> | undefined;
  const agentSites: SimAgentSite[] = [];
  let api: RunningServer | undefined;
  let stopping: Promise<void> | undefined;
  // Each part stops in turn; one that is slow or fails says so, so a stop that hangs shows where.
  const stopPart = async (what: string, stop: () => Promise<unknown>) => {
    const t = Date.now();
    const slow = setInterval(
      () => out(`vaquero dev: still stopping ${what} (${((Date.now() - t) / 1000).toFixed(0)} s)`),
      10_000,
    );
    try {
      await stop();
    } catch (err) {
      out(`vaquero dev: stopping ${what}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearInterval(slow);
    }
    const s = (Date.now() - t) / 1000;
    if (s >= 2) out(`vaquero dev: stopped ${what} in ${s.toFixed(1)} s`);
  };
  const shutdown = () => {
    stopping ??= (async () => {
      out('vaquero dev: stopping (Ctrl-C again to stop at once)');
      await stopPart('the API', async () => api?.close());
      if (agentSites.length > 0)
        await stopPart('the agents', async () => {
          for (const a of agentSites) await a.stop();
        });
      await stopPart('the workers', async () => stack?.stop());
      await forgetEndpoint(dataDir);
      await stopPart('Temporal', () => temporal.close());
      if (tracing) await stopPart('traces', () => tracing.shutdown());
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = () => {
    // The SDK's runtime listens to these signals too, so Node's default (end at once) never applies: say it here.
    if (++signals > 1) {
      out('vaquero dev: stopped at once');
      process.exit(130);
    }
    void shutdown().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    out(
      `Temporal ${temporal.address} (namespace ${temporal.namespace})${temporal.uiUrl ? `, UI ${temporal.uiUrl}` : ''}`,
    );
    const delays = parseSimDelays(opts.simDelays);
    stack = await startWorkerStack({
      connection: await temporal.nativeConnection(),
      client: temporal.client,
      dataConverter: temporal.dataConverter,
      namespace: temporal.namespace,
      dataDir,
      control: true,
      simSites: opts.agent ? [] : sites,
      // A sim site stands in for every agent its SoT lists.
      simSiteAgents: Object.fromEntries(
        [...model.sites].map(([site, entity]) => [site, entity.spec.agents.map((a) => a.id)]),
      ),
      simDelays: delays,
      // Ctrl-C on a demo should not wait out a boot in flight: its workflow retries it on the next start.
      stopForceMs: WORKER_STOP_FORCE_MS,
    });
    if (opts.agent) {
      for (const [site, entity] of model.sites) {
        const a = entity.spec.agents[0]!;
        const s = await startSimAgentSite({
          site,
          agentId: a.id,
          sotHttpUrl: a.http_url,
          dataDir,
          temporalAddress: temporal.address,
          namespace: temporal.namespace,
          codec: temporal.codec.settings,
          delays,
          // Their installers post a few log lines, so a host's page shows installer logs as a real one would.
          installerLog: true,
        });
        agentSites.push(s);
        out(`agent ${a.id} (site ${site}): DHCP, TFTP and HTTP (${s.agent.httpUrl}) on loopback`);
      }
    }
    // The REST API as `vaquero server` serves it, on this stack's Temporal; the control worker is the stack's.
    const token = await devApiToken(dataDir);
    const readToken = await devApiToken(dataDir, 'api-read-token');
    api = await startServer(
      {
        listen: { host: '127.0.0.1', port: Number(opts.apiPort ?? 7280) },
        dataDir,
        temporal: {
          address: temporal.address,
          namespace: temporal.namespace,
          codec: temporal.codec.settings,
        },
        // The embedded UI decodes payloads through this API's codec endpoint.
        ...(temporal.uiUrl !== undefined ? { codecEndpoint: { corsOrigins: [temporal.uiUrl] } } : {}),
        ...(temporal.uiUrl !== undefined ? { temporalUiUrl: temporal.uiUrl } : {}),
        controlWorker: false,
        auth: {
          tokens: [
            { name: 'dev', role: 'operate', token: token.value },
            { name: 'dev-read', role: 'read', token: readToken.value },
          ],
          open: ['/live', '/ready', '/metrics', '/docs'],
        },
        sots: [
          {
            name: opts.sotName ?? path.basename(sotDir),
            kind: 'dir',
            path: sotDir,
            watch: false,
            autoRollout: false,
          },
        ],
        indexRefreshMs: 1000,
        watchDebounceMs: 500,
        logLevel: 'warn',
      },
      { log: (m) => out(`api: ${m}`) },
    );
    out(`API ${api.url} (OpenAPI UI ${api.url}/docs; operate token in ${token.file})`);
    out(`dashboard ${api.url}/ (sign in with a token; read-only token in ${readToken.file})`);
    await recordEndpoint(dataDir, {
      address: temporal.address,
      namespace: temporal.namespace,
      ...(temporal.uiUrl !== undefined ? { uiUrl: temporal.uiUrl } : {}),
      pid: process.pid,
      codec: temporal.codec.settings,
    });
    out(
      `workers: control (vaquero-control), ${opts.agent ? 'agents' : 'sim sites'} ${sites.map((s) => `site-${s}`).join(', ')}`,
    );
    const r = await startDirRollout(temporal.client, {
      dir: sotDir,
      ...(opts.sotName !== undefined ? { sot: opts.sotName } : {}),
      ...(opts.force !== undefined ? { force: opts.force } : {}),
    });
    out(`rollout ${r.workflowId} ${r.started ? 'started' : 'already running'}`);
    if (temporal.uiUrl)
      out(
        `  ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(r.workflowId)}`,
      );
    const status = await followRollout(temporal.client, r.workflowId, { out });
    out(`${((Date.now() - t0) / 1000).toFixed(1)}s  ${summarize(status)}`);
    if (status.unchanged > 0 && status.hosts.length === 0)
      out('  (every host already reached this revision; --force reprovisions anyway)');
    const ok = status.state === 'completed';
    if (opts.exitWhenDone) return ok ? 0 : 1;
    out('stack running: `vaquero status`, `vaquero apply DIR`; Ctrl-C stops everything');
    await stack.done;
    return 0;
  } finally {
    await shutdown();
  }
}
