// The whole vaquero stack of a lab, in one process inside the lab namespace: the embedded Temporal dev server
// (on the namespace's own loopback), the control worker, and the agent serving DHCP and TFTP on the bridge and
// HTTP on the bridge address. The agent is made by startAgent(config) alone, as `vaquero agent --config` makes it:
// its BMC drivers (ipmi, redfish, ssh; container with a container engine) and its task runner come from the
// config (`tasks.engine`, a podman API socket the lab starts), and the BMC secrets from its secrets file. Its
// secrets directory (<dir>/secrets) holds the site's join token the lab's unattended config names
// (LAB_JOIN_TOKEN_REF), a random value per stack. Beside them runs the lab's `vaquero server` (lab/lab-server.ts):
// the REST API and the dashboard, with an operate and a read token in <dir>/server.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import type { RunningAgent } from '../agent/agent.ts';
import { startAgent } from '../agent/agent.ts';
import { loadAgentConfig } from '../agent/config.ts';
import { ZERO_DELAYS } from '../sim/sim-delays.ts';
import { connectTemporal } from '../temporal/connection.ts';
import type { TemporalConnection } from '../temporal/connection.ts';
import { startDevServer } from '../temporal/dev-server.ts';
import type { DevServer } from '../temporal/dev-server.ts';
import { freePort } from '../temporal/ports.ts';
import { workflowBundle } from '../workers/workflow-bundle.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';
import { LAB_JOIN_TOKEN_REF } from './sot.ts';
import { startWorkerStack } from '../workers/stack.ts';
import type { WorkerStack } from '../workers/stack.ts';
import { startLabServer } from './lab-server.ts';
import type { LabServer } from './lab-server.ts';

export interface LabStackOptions {
  /** Data of Temporal, the control worker and the agent (and the agent's log, agent.log). */
  dir: string;
  site: string;
  agentId: string;
  /** The bridge the agent serves, with its address and /24. */
  bridge: string;
  address: string;
  addressCidr: string;
  dhcpMode: 'server' | 'proxy';
  assetsDir: string;
  /** YAML secrets file holding the BMC credentials references. */
  secretsFile: string;
  /**
   * The agent config's `tasks`: a Docker-API endpoint (the lab's podman service) for the container BMC driver and
   * the task containers, their network and pull policy. Absent: the agent has neither.
   */
  tasks?: { engine: string; network?: string; pull?: 'if-missing' | 'always' | 'never' };
  tftpRoot?: string;
  httpPort?: number;
  /** Serve Temporal's Web UI (on a free port of the namespace's loopback); default false. */
  temporalUi?: boolean;
  logLevel?: 'debug' | 'info' | 'warn';
  /** The lab's server: the SoT folder it plans from, the socket it is reached by, the Temporal UI its links name. */
  server?: { sotDir?: string; socket?: string; temporalUiUrl?: string };
}

export interface LabStack {
  temporal: TemporalConnection;
  control: WorkerStack;
  agent: RunningAgent;
  /** `vaquero server` on the lab's Temporal: REST API and dashboard. */
  server: LabServer;
  /** The agent's base URL as VMs reach it. */
  agentUrl: string;
  /** The container engine the agent's config names (tasks.engine), if any. */
  tasksEngine?: string;
  /** Stats of the agent's boot services by name (dhcp, tftp). */
  serviceStats(): Record<string, Record<string, unknown>>;
  /** Stops the embedded Temporal server (an outage): the clients, the workers and the agent stay up. */
  stopTemporal(): Promise<void>;
  /** Starts the embedded server again on the same data directory and ports; stop() ends it. */
  restartTemporal(): Promise<DevServer>;
  stop(): Promise<void>;
}

/**
 * The SDK runtime for a lab process: WARN and up on stderr, and no shutdown signals. By default the SDK shuts
 * every worker down on SIGINT/SIGTERM by itself, and then a lab stopping on a signal could no longer query its
 * workflows for the report; the lab's own handler stops the stack in order instead.
 */
export function installLabRuntime(): void {
  try {
    Runtime.install({
      shutdownSignals: [],
      logger: new DefaultLogger('WARN', (e) => {
        if (!e.message.startsWith('No workflows registered'))
          process.stderr.write(`${e.level} ${e.message}\n`);
      }),
    });
  } catch {
    // Already installed by the embedding program: keep its choice.
  }
  installQuietRuntime();
}

/** The lab agent's secrets directory (agent/secrets/README.md: a folder of field files per reference). */
export function labSecretsDir(stackDir: string): string {
  return path.join(stackDir, 'secrets');
}

/** The join token of the stack in `stackDir` (made on its first start): what the tiny OS must be served. */
export async function labJoinToken(stackDir: string): Promise<string> {
  return (await readFile(path.join(labSecretsDir(stackDir), LAB_JOIN_TOKEN_REF, 'token'), 'utf8')).trim();
}

async function ensureJoinToken(stackDir: string): Promise<void> {
  const dir = path.join(labSecretsDir(stackDir), LAB_JOIN_TOKEN_REF);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': a restarted stack keeps the value its configs were served with.
    const h = await open(path.join(dir, 'token'), 'wx', 0o600);
    try {
      await h.writeFile(`K10${randomBytes(16).toString('hex')}::server:${randomBytes(8).toString('hex')}\n`);
    } finally {
      await h.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

export async function startLabStack(o: LabStackOptions): Promise<LabStack> {
  installLabRuntime();
  const httpPort = o.httpPort ?? 8080;
  const agentUrl = `http://${o.address}:${httpPort}`;
  const ports = {
    grpc: await freePort(),
    http: await freePort(),
    metrics: await freePort(),
    ui: await freePort(),
  };
  const temporalDir = path.join(o.dir, 'temporal');
  // Bundling the workflows takes seconds: it overlaps with the server's start.
  const bundling = workflowBundle();
  const temporal = await connectTemporal({
    dataDir: temporalDir,
    ui: o.temporalUi ?? false,
    ports,
    // Always the lab's own server on the namespace's loopback, whatever the caller's environment says.
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  // The server of the latest restartTemporal(); temporal.close() only knows the first one.
  let restarted: DevServer | undefined;
  const stops: (() => Promise<unknown>)[] = [
    async () => {
      await temporal.close();
      await restarted?.stop();
    },
  ];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    await bundling;
    const control = await startWorkerStack({
      connection: await temporal.nativeConnection(),
      client: temporal.client,
      dataConverter: temporal.dataConverter,
      namespace: temporal.namespace,
      dataDir: path.join(o.dir, 'control'),
      control: true,
      simSites: [],
      simDelays: ZERO_DELAYS,
    });
    stops.push(() => control.stop());
    // The server needs only Temporal: it starts (a few seconds on a busy machine) while the agent does.
    const serverStarting = startLabServer({
      dir: path.join(o.dir, 'server'),
      temporal: {
        address: temporal.address,
        namespace: temporal.namespace,
        codec: temporal.codec.settings,
      },
      ...(o.server?.sotDir !== undefined ? { sotDir: o.server.sotDir } : {}),
      ...(o.server?.socket !== undefined ? { socket: o.server.socket } : {}),
      ...((o.server?.temporalUiUrl ?? temporal.uiUrl) !== undefined
        ? { temporalUiUrl: (o.server?.temporalUiUrl ?? temporal.uiUrl)! }
        : {}),
    });
    serverStarting.catch(() => undefined); // awaited below; stopped on any failure before that
    stops.push(async () => (await serverStarting.catch(() => undefined))?.stop());
    // The agent's config as a file, loaded as `vaquero agent --config` loads it (no environment overrides: the
    // lab's Temporal, whatever the caller's environment says).
    const configFile = path.join(o.dir, 'agent.yaml');
    await mkdir(o.dir, { recursive: true });
    await ensureJoinToken(o.dir);
    await writeFile(
      configFile,
      stringify({
        agent_id: o.agentId,
        site: o.site,
        data_dir: path.join(o.dir, 'agent'),
        temporal: {
          address: temporal.address,
          namespace: temporal.namespace,
          codec: temporal.codec.settings,
        },
        interfaces: [{ name: o.bridge, address: o.address, cidr: o.addressCidr }],
        dhcp: { mode: o.dhcpMode },
        tftp: { root: o.tftpRoot ?? '/usr/lib/ipxe' },
        http: { listen: o.address, port: httpPort, public_url: agentUrl },
        assets: { root: o.assetsDir },
        secrets: { file: o.secretsFile, dir: labSecretsDir(o.dir) },
        ...(o.tasks ? { tasks: o.tasks } : {}),
        log_level: o.logLevel ?? 'info',
      }),
    );
    const config = await loadAgentConfig(configFile, {});
    const logger = pino(
      { level: config.log_level, base: { agent: config.agent_id } },
      pino.destination({ dest: path.join(o.dir, 'agent.log'), sync: false }),
    );
    // Only what a config file cannot say: where the log goes and how often gates are reconciled.
    const agent = await startAgent(config, { logger, reconcileEveryMs: 3_600_000 });
    stops.push(async () => {
      await agent.stop();
      logger.flush();
    });
    // The rollout publishes the site model to the site's queue before it starts hosts: the agent polls first.
    const deadline = Date.now() + 60_000;
    while (!agent.workerRunning()) {
      if (Date.now() > deadline)
        throw new Error('the agent did not connect to the lab Temporal server within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const server = await serverStarting;
    return {
      temporal,
      control,
      agent,
      server,
      agentUrl,
      ...(config.tasks.engine !== undefined ? { tasksEngine: config.tasks.engine } : {}),
      serviceStats: () => Object.fromEntries(agent.services.map((s) => [s.name, s.stats()])),
      async stopTemporal() {
        await (restarted ?? temporal.server)?.stop();
      },
      async restartTemporal() {
        if (!temporal.server) throw new Error('no embedded Temporal server to restart');
        await (restarted ?? temporal.server).stop();
        restarted = await startDevServer({
          dataDir: temporalDir,
          namespace: temporal.namespace,
          ui: o.temporalUi ?? false,
          ports,
        });
        return restarted;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
