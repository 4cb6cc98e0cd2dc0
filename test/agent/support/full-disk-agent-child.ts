// A whole agent (startAgent, as `vaquero agent` runs it, with its DHCP from agentBootServices) inside the server
// namespace of a test, together with the Temporal dev server it delivers its events to (on the namespace's own
// loopback, which the test process cannot reach: the questions about Temporal are asked here, over IPC).
// Each host's workflow is a bare run on a task queue no worker polls: Temporal takes its signals into its history,
// where they are read back. The agent's log lines are forwarded as they are written.
//   ip netns exec NS node --import tsx full-disk-agent-child.ts
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import type { RunningAgent } from '../../../agent/agent.ts';
import { agentBootServices } from '../../../agent/boot-services.ts';
import { agentConfigSchema } from '../../../agent/config.ts';
import type { BootEvent } from '../../../domain/boot-events.ts';
import { bootEventSignal } from '../../../domain/workflow-api.ts';
import { startDevServer } from '../../../temporal/dev-server.ts';
import type { DevServer } from '../../../temporal/dev-server.ts';
import { freeServerPorts } from '../../../testkit/stack.ts';

export interface FullDiskAgentSpec {
  /** The agent's data dir (cache/ already filled by the test). */
  dataDir: string;
  /** The Temporal dev server's data dir (on the real disk; the test removes it). */
  temporalDir: string;
  interface: { name: string; address: string; cidr: string };
  /** One bare workflow per id is started before the agent. */
  workflowIds: string[];
}

export type ToChild =
  | { id: number; op: 'start'; spec: FullDiskAgentSpec }
  | { id: number; op: 'stats' }
  | { id: number; op: 'signals' }
  | { id: number; op: 'stop' };

export interface ChildStats {
  outbox: ReturnType<RunningAgent['outbox']['stats']>;
  recorder: ReturnType<RunningAgent['recorder']['stats']>;
  dhcp: Record<string, unknown>;
}

export type FromChild =
  | { id: number; ok: true; stats?: ChildStats; signals?: Record<string, string[]> }
  | { id: number; ok: false; error: string }
  | { log: string };

const TASK_QUEUE = 'full-disk-test-nobody-polls';
const send = (m: FromChild): void => {
  if (process.connected) process.send?.(m);
};

let server: DevServer | undefined;
let client: Client | undefined;
let agent: RunningAgent | undefined;
let workflowIds: string[] = [];

async function start(spec: FullDiskAgentSpec): Promise<void> {
  workflowIds = spec.workflowIds;
  // Temporal's own files are on the real disk: only the agent's data dir is full.
  server = await startDevServer({ dataDir: spec.temporalDir, ui: false, ports: await freeServerPorts() });
  client = new Client({
    connection: await Connection.connect({ address: server.address }),
    namespace: server.namespace,
  });
  for (const workflowId of spec.workflowIds)
    await client.workflow.start('fullDiskSink', { workflowId, taskQueue: TASK_QUEUE, args: [] });

  const config = agentConfigSchema.parse({
    agent_id: 'full-disk-agent',
    site: 'lab',
    data_dir: spec.dataDir,
    // In clear: this test reads the signals' payloads itself, and is about the outbox, not the codec.
    temporal: { address: server.address, namespace: server.namespace, codec: { off: true } },
    interfaces: [spec.interface],
    dhcp: { enabled: true, mode: 'server' },
    tftp: { enabled: false },
    http: { listen: '127.0.0.1', port: 8080 },
    log_level: 'info',
  });
  const logger = pino(
    { level: 'info', base: { agent: config.agent_id } },
    { write: (line: string) => send({ log: line }) },
  );
  agent = await startAgent(config, {
    services: agentBootServices,
    logger,
    // No gate is reconciled away during the test (its workflows are not host workflows).
    reconcileEveryMs: 3_600_000,
    outboxRetryPauses: { firstMs: 100, maxMs: 1000 },
  });
}

function stats(): ChildStats {
  const dhcp = agent!.services.find((s) => s.name === 'dhcp');
  return { outbox: agent!.outbox.stats(), recorder: agent!.recorder.stats(), dhcp: dhcp?.stats() ?? {} };
}

/** The boot event ids each workflow received as signals, in the order of its history. */
async function signals(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const wf of workflowIds) {
    const history = await client!.workflow.getHandle(wf).fetchHistory();
    out[wf] = (history.events ?? []).flatMap((e) => {
      const a = e.workflowExecutionSignaledEventAttributes;
      if (!a || a.signalName !== bootEventSignal.name) return [];
      const payload = a.input?.payloads?.[0];
      return payload ? [defaultPayloadConverter.fromPayload<BootEvent>(payload).id] : [];
    });
  }
  return out;
}

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    await agent?.stop().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
  })();
  return stopping;
}

async function onMessage(m: ToChild): Promise<void> {
  try {
    switch (m.op) {
      case 'start':
        await start(m.spec);
        send({ id: m.id, ok: true });
        break;
      case 'stats':
        send({ id: m.id, ok: true, stats: stats() });
        break;
      case 'signals':
        send({ id: m.id, ok: true, signals: await signals() });
        break;
      case 'stop':
        await stop();
        send({ id: m.id, ok: true });
        process.disconnect?.();
        break;
    }
  } catch (err) {
    send({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

process.on('message', (m) => void onMessage(m as ToChild));
// The test's end of the channel closing means the test is gone: do not linger in the namespace.
process.on('disconnect', () => void stop().finally(() => process.exit(0)));
