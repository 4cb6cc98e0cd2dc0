// A simulated site served by a real agent: the agent's boot services listen on loopback (unprivileged ports),
// its site worker powers the sim hosts, and the sim hosts boot through it over TFTP and HTTP, so every boot event
// the workflows see was observed by the agent. Used by `vaquero dev --agent` and the tests.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startAgent } from '../agent/agent.ts';
import type { RunningAgent } from '../agent/agent.ts';
import { agentBootServices } from '../agent/boot-services.ts';
import { agentConfigSchema } from '../agent/config.ts';
import { SimFleet } from '../sim/sim-fleet.ts';
import type { SimDelays } from '../sim/sim-delays.ts';
import { freePort } from '../temporal/ports.ts';

export interface SimAgentSite {
  site: string;
  agent: RunningAgent;
  fleet: SimFleet;
  stop(): Promise<void>;
}

export async function startSimAgentSite(opts: {
  site: string;
  agentId: string;
  /** The agent URL the SoT names; sim hosts route it to the real listener. */
  sotHttpUrl: string;
  dataDir: string;
  temporalAddress: string;
  namespace: string;
  delays: SimDelays;
  tftpRoot?: string;
  log?: (msg: string) => void;
}): Promise<SimAgentSite> {
  const httpPort = await freePort();
  const tftpPort = await freePort();
  const fleet = new SimFleet({
    delays: opts.delays,
    events: {
      report: async () => {
        throw new Error(
          'sim hosts of an agent site report nothing themselves: the agent observes their boots',
        );
      },
    },
    network: {
      http: `http://127.0.0.1:${httpPort}`,
      tftp: { host: '127.0.0.1', port: tftpPort },
      sotHttpUrl: opts.sotHttpUrl.replace(/\/+$/, ''),
    },
    log: opts.log,
  });
  const dataDir = path.join(opts.dataDir, 'agents', opts.site);
  await mkdir(dataDir, { recursive: true });
  const config = agentConfigSchema.parse({
    agent_id: opts.agentId,
    site: opts.site,
    data_dir: dataDir,
    temporal: { address: opts.temporalAddress, namespace: opts.namespace },
    http: { listen: '127.0.0.1', port: httpPort },
    tftp: { root: opts.tftpRoot ?? '/usr/lib/ipxe', port: tftpPort },
    // DHCP replies go to broadcast or to a relay's port 67: neither reaches many sim hosts on one loopback.
    dhcp: { enabled: false },
    log_level: 'warn',
  });
  const agent = await startAgent(config, {
    services: agentBootServices,
    drivers: { sim: fleet.driver },
    taskRunner: (driver) => (driver === 'sim' ? fleet.tasks : undefined),
  });
  return {
    site: opts.site,
    agent,
    fleet,
    async stop() {
      fleet.stop();
      await agent.stop();
    },
  };
}
