// Test helpers for the production Temporal (temporal/production-server.ts): certificates made with openssl for
// its mTLS frontend, and a sim site whose hosts boot through a real agent started from a config file (YAML, as an
// operator writes it) that names the Temporal TLS material.
//
// sim/sim-agent-site.ts builds its agent's config in code with no TLS settings; this is the same assembly (sim
// fleet, DHCP relay on loopback, agent with the fleet's `sim` driver) with the agent's config read by
// loadAgentConfig from a file with `temporal.tls`.
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { startAgent } from '../agent/agent.ts';
import type { RunningAgent } from '../agent/agent.ts';
import { cacheDirectory } from '../agent/boot-services.ts';
import { loadAgentConfig } from '../agent/config.ts';
import { formatIpv4, parseCidr } from '../agent/dhcp/ipv4.ts';
import { SimDhcpRelay } from '../sim/sim-dhcp-relay.ts';
import type { SimDelays } from '../sim/sim-delays.ts';
import { SimFleet } from '../sim/sim-fleet.ts';
import { freePort } from '../temporal/ports.ts';
import { startProductionTemporal } from '../temporal/production-server.ts';
import type {
  FrontendTls,
  ProductionTemporal,
  ProductionTemporalOptions,
} from '../temporal/production-server.ts';
import { makeTestPki } from './tls-proxy.ts';
import type { TestPki } from './tls-proxy.ts';

/** One CA for both sides: it signed the frontend's certificate and the client certificate. */
export function frontendTlsFromPki(pki: TestPki): FrontendTls {
  return {
    serverCert: pki.serverCert,
    serverKey: pki.serverKey,
    clientCa: pki.ca,
    serverCa: pki.ca,
    serverName: pki.serverName,
    clientCert: pki.clientCert,
    clientKey: pki.clientKey,
  };
}

/**
 * A production Temporal in `dir` (certificates in dir/pki, server and PostgreSQL in dir/server). `dir` is made
 * traversable (0711): PostgreSQL runs as the `postgres` user when the tests run as root.
 */
export async function startTestProductionTemporal(
  dir: string,
  opts: Omit<ProductionTemporalOptions, 'dataDir' | 'tls'> = {},
): Promise<{ server: ProductionTemporal; pki: TestPki }> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o711);
  const pki = await makeTestPki(path.join(dir, 'pki'));
  const server = await startProductionTemporal({
    ...opts,
    dataDir: path.join(dir, 'server'),
    tls: frontendTlsFromPki(pki),
  });
  return { server, pki };
}

/** The agent config file's `temporal.tls`. */
export interface AgentTls {
  ca: string;
  cert?: string;
  key?: string;
  server_name?: string;
}

export interface ConfiguredSimAgentSite {
  site: string;
  agent: RunningAgent;
  fleet: SimFleet;
  /** The agent's config file. */
  configFile: string;
  stop(): Promise<void>;
}

/** Sim hosts booting through an agent started from a config file (written into dataDir) with `temporal.tls`. */
export async function startConfiguredSimAgentSite(opts: {
  site: string;
  agentId: string;
  /** The agent URL the SoT names; sim hosts route it to the real listener. */
  sotHttpUrl: string;
  dataDir: string;
  temporalAddress: string;
  namespace: string;
  /** The payload codec of the stack it joins. */
  codec: CodecSettings;
  tls?: AgentTls;
  delays: SimDelays;
  log?: (msg: string) => void;
}): Promise<ConfiguredSimAgentSite> {
  const [httpPort, tftpPort, dhcpPort, proxyPort, relayPort] = await distinctFreePorts();
  const agentDir = path.join(opts.dataDir, 'agents', opts.site);
  await mkdir(agentDir, { recursive: true });
  const configFile = path.join(agentDir, 'agent.yml');
  await writeFile(
    configFile,
    stringify({
      agent_id: opts.agentId,
      site: opts.site,
      data_dir: agentDir,
      temporal: {
        address: opts.temporalAddress,
        namespace: opts.namespace,
        codec: opts.codec,
        ...(opts.tls ? { tls: opts.tls } : {}),
      },
      http: { listen: '127.0.0.1', port: httpPort },
      tftp: { root: '/usr/lib/ipxe', port: tftpPort },
      // Server mode on loopback, replies to the relay from the loopback interface (as sim-agent-site.ts).
      interfaces: [{ name: 'lo', address: '127.0.0.1', cidr: '127.0.0.0/8' }],
      dhcp: { enabled: true, mode: 'server', port: dhcpPort, proxy_port: proxyPort, relay_port: relayPort },
      log_level: 'warn',
    }),
  );
  // The environment's TEMPORAL_ADDRESS/NAMESPACE would override the file; this agent is what its file says.
  const config = await loadAgentConfig(configFile, {});

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
    },
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  });
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, {
      extraDrivers: { sim: fleet.driver },
      taskRunner: (driver) => (driver === 'sim' ? fleet.tasks : undefined),
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
    configFile,
    async stop() {
      fleet.stop();
      await relay.close();
      await agent.stop();
    },
  };
}

/** Five distinct free ports: HTTP, TFTP, DHCP, proxy DHCP, relay. */
async function distinctFreePorts(): Promise<[number, number, number, number, number]> {
  const out = new Set<number>();
  while (out.size < 5) out.add(await freePort());
  const [a, b, c, d, e] = [...out] as [number, number, number, number, number];
  return [a, b, c, d, e];
}
