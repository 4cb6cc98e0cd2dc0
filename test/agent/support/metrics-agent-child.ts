// An agent as `vaquero agent --config FILE` runs it (startAgent(loadAgentConfig(file))), inside the server namespace
// of a test: its DHCP, TFTP and HTTP serve the test's veth. The test drives it over IPC: put a site model or a gate
// into its model cache, fetch a path of its HTTP service from inside the namespace, stop. Its log lines are
// forwarded as they are written.
//   ip netns exec NS node --import tsx metrics-agent-child.ts CONFIG_FILE
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import type { RunningAgent } from '../../../agent/agent.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import type { NetbootGateInput } from '../../../domain/activity-contracts.ts';
import type { SiteModel } from '../../../domain/site-model.ts';

export type ToMetricsChild =
  | { id: number; op: 'siteModel'; model: SiteModel }
  | { id: number; op: 'gate'; gate: NetbootGateInput }
  | { id: number; op: 'get'; path: string }
  | { id: number; op: 'stop' };

export type FromMetricsChild =
  | { id: number; ok: true; status?: number; body?: string }
  | { id: number; ok: false; error: string }
  | { started: true }
  | { failed: string }
  | { log: string };

const send = (m: FromMetricsChild): void => {
  if (process.connected) process.send?.(m);
};

let agent: RunningAgent | undefined;
let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= agent?.stop().catch(() => undefined) ?? Promise.resolve();
  return stopping;
}

async function onMessage(m: ToMetricsChild): Promise<void> {
  try {
    switch (m.op) {
      case 'siteModel':
        await agent!.cache.setSiteModel(m.model);
        send({ id: m.id, ok: true });
        break;
      case 'gate':
        await agent!.cache.set(m.gate);
        send({ id: m.id, ok: true });
        break;
      case 'get': {
        const res = await fetch(`${agent!.httpUrl}${m.path}`);
        send({ id: m.id, ok: true, status: res.status, body: await res.text() });
        break;
      }
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

process.on('message', (m) => void onMessage(m as ToMetricsChild));
// The test's end of the channel closing means the test is gone: do not linger in the namespace.
process.on('disconnect', () => void stop().finally(() => process.exit(0)));

const file = process.argv[2]!;
const config = await loadAgentConfig(file);
const logger = pino({ level: 'info' }, { write: (line: string) => send({ log: line }) });
try {
  // No gate is reconciled away during the test (Temporal is nowhere).
  agent = await startAgent(config, { logger, reconcileEveryMs: 3_600_000 });
  send({ started: true });
} catch (err) {
  send({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
