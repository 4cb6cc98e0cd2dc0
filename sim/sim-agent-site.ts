// A simulated site served by a real agent: the agent's boot services listen on loopback (unprivileged ports),
// its site worker powers the sim hosts, and the sim hosts boot through it over DHCP, TFTP and HTTP, so every boot
// event the workflows see was observed by the agent. Used by `vaquero dev --agent` and the tests.
//
// DHCP: the agent serves DHCP on loopback (server mode) and the fleet is the hosts' relay agent on 127.0.0.1,
// naming each host's reserved subnet with option 118, since replies to broadcast cannot reach many hosts on one
// loopback (sim/sim-dhcp-relay.ts).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startAgent } from '../agent/agent.ts';
import type { AgentOptions, RunningAgent } from '../agent/agent.ts';
import { cacheDirectory } from '../agent/boot-services.ts';
import { agentConfigSchema } from '../agent/config.ts';
import { formatIpv4, parseCidr } from '../agent/dhcp/ipv4.ts';
import { SimDhcpRelay } from './sim-dhcp-relay.ts';
import { SimFleet } from './sim-fleet.ts';
import type { SimDelays } from './sim-delays.ts';
import { freePort } from '../temporal/ports.ts';
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';

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
  /** The payload codec of the stack it joins (TemporalConnection.codec.settings). */
  codec: CodecSettings;
  delays: SimDelays;
  tftpRoot?: string;
  log?: (msg: string) => void;
  outboxRetryPauses?: AgentOptions['outboxRetryPauses'];
  /** Sim hosts post installer log lines to the agent before their checkpoint (`vaquero dev` shows them). */
  installerLog?: boolean;
}): Promise<SimAgentSite> {
  const httpPort = await freePort();
  const tftpPort = await freePort();
  const dhcpPort = await freePort();
  const proxyPort = await freePort();
  const relayPort = await freePort();
  // The relay asks the agent's own view of the site which subnet a host is reserved in: the segment a real
  // relay would be configured for.
  const started: { agent?: RunningAgent } = {};
  const relay = await SimDhcpRelay.start({
    server: { host: '127.0.0.1', port: dhcpPort },
    address: '127.0.0.1',
    port: relayPort,
    subnetOf: (mac) => {
      const cache = started.agent?.cache;
      const net = cache ? parseCidr(cacheDirectory(cache).lookup(mac)?.subnet.cidr ?? '') : undefined;
      return net ? formatIpv4(net.network) : undefined;
    },
  });
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
      dhcp: (mac, client) => relay.exchange(mac, client),
      sotHttpUrl: opts.sotHttpUrl.replace(/\/+$/, ''),
      ...(opts.installerLog === true ? { installerLog: true } : {}),
    },
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  });
  const dataDir = path.join(opts.dataDir, 'agents', opts.site);
  await mkdir(dataDir, { recursive: true });
  const config = agentConfigSchema.parse({
    agent_id: opts.agentId,
    site: opts.site,
    data_dir: dataDir,
    temporal: { address: opts.temporalAddress, namespace: opts.namespace, codec: opts.codec },
    http: { listen: '127.0.0.1', port: httpPort },
    tftp: { root: opts.tftpRoot ?? '/usr/lib/ipxe', port: tftpPort },
    // Server mode whatever the site model says: on loopback there is no other DHCP server for proxy mode to
    // complement. Replies to the relay leave from the loopback interface's socket.
    interfaces: [{ name: 'lo', address: '127.0.0.1', cidr: '127.0.0.0/8' }],
    dhcp: { enabled: true, mode: 'server', port: dhcpPort, proxy_port: proxyPort, relay_port: relayPort },
    // Sim hosts post their installer logs over HTTP; syslog on a port of the kernel's choice takes no privilege
    // and leaves 514 to the machine (several sim sites, one per agent, run in one `vaquero dev`).
    syslog: { listen: '127.0.0.1', port: 0 },
    log_level: 'warn',
  });
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, {
      extraDrivers: { sim: fleet.driver },
      taskRunner: (driver) => (driver === 'sim' ? fleet.tasks : undefined),
      ...(opts.outboxRetryPauses !== undefined ? { outboxRetryPauses: opts.outboxRetryPauses } : {}),
    });
  } catch (err) {
    await relay.close();
    throw err;
  }
  started.agent = agent;
  return {
    site: opts.site,
    agent,
    fleet,
    async stop() {
      fleet.stop();
      await relay.close();
      await agent.stop();
    },
  };
}
