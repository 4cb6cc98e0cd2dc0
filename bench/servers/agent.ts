// The agent's boot services as a benchmark target, run standalone inside the server namespace:
//   ip netns exec NS node --import tsx bench/servers/agent.ts SPEC.json
// Started by the function `vaquero agent` starts its boot services with (agent/boot-serving.ts): the same config
// schema and defaults, the model cache loaded from disk (the runner fills it), the event recorder and the durable
// outbox, DHCP and TFTP from agentBootServices and HTTP with the agent's request logger. Only Temporal is left out.
// Driven over IPC: it sends {ready} once serving, and on {op: 'stop'} stops, sends {stats} and exits (which
// also lets `node --cpu-prof` write its profile).
import { readFile } from 'node:fs/promises';
import pino from 'pino';
import { agentBootServices } from '../../agent/boot-services.ts';
import { startBootServing } from '../../agent/boot-serving.ts';
import { agentConfigSchema } from '../../agent/config.ts';

export interface AgentServerSpec {
  services: ('dhcp' | 'tftp' | 'http')[];
  /** Holds cache/ (site-model.json and netboot.json, written by the runner) and outbox/. */
  dataDir: string;
  interfaces: { name: string; address: string; cidr: string }[];
  tftpRoot?: string;
  assetsRoot?: string;
  http?: { listen: string; port: number };
  /** The agent's default is info (fastify logs every request); the log goes to a file the runner names. */
  logLevel?: 'info' | 'warn';
  /** Overrides of the agent's `dhcp` config section (e.g. its flood limits). */
  dhcp?: Record<string, unknown>;
}

const spec = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as AgentServerSpec;
const send = (m: unknown): void => {
  if (process.connected) process.send?.(m);
};

const config = agentConfigSchema.parse({
  agent_id: 'bench-agent',
  site: 'bench',
  data_dir: spec.dataDir,
  interfaces: spec.interfaces,
  dhcp: { ...spec.dhcp, enabled: spec.services.includes('dhcp') },
  tftp: { enabled: spec.services.includes('tftp'), root: spec.tftpRoot },
  http: spec.http,
  assets: { root: spec.assetsRoot },
  log_level: spec.logLevel ?? 'info',
});
const log = pino({ level: config.log_level, base: { agent: config.agent_id, site: config.site } });
let delivered = 0;
// What `vaquero agent` serves with, minus Temporal: each event is "delivered" at once, so the outbox's disk appends
// and compaction still happen as in production.
const serving = await startBootServing(config, {
  log,
  deliver: async () => {
    delivered++;
  },
  services: agentBootServices,
  http: spec.services.includes('http'),
});
const { services, recorder, outbox, loaded } = serving;
if (loaded.problems.length > 0) throw new Error(`model cache: ${loaded.problems.join('; ')}`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const stats = {
    services: Object.fromEntries(services.map((s) => [s.name, s.stats()])),
    recorder: recorder.stats(),
    outbox: { ...outbox.stats(), deliveredHere: delivered },
    resources: process.resourceUsage(),
  };
  await serving.stop();
  send({ stats });
  process.exit(0);
}

process.on('message', (m) => {
  if ((m as { op?: string }).op === 'stop') void stop();
});
// The runner's end of the channel closing means it is gone: do not linger in its namespace.
process.on('disconnect', () => void stop());
send({ ready: true, gates: loaded.gates, siteModel: loaded.siteModel });
