// The agent's DHCP and TFTP services, built from its configuration and wired to its model cache (who is this
// MAC, may it netboot now) and its event recorder (every DHCP answer and TFTP transfer becomes a boot event).
import type { DhcpDirectory, DhcpHostRecord } from './dhcp/directory.ts';
import { createTftpServer } from './tftp/index.ts';
import type { AgentParts, BootService } from './agent.ts';
import type { ModelCache } from './model-cache.ts';

/** Reservations come from the site model; a host mid-reprovision also carries its own with its gate. */
export function cacheDirectory(cache: ModelCache): DhcpDirectory {
  return {
    lookup(mac: string): DhcpHostRecord | undefined {
      const model = cache.siteModel();
      const gate = cache.lookup(mac);
      const reservation =
        cache.reservation(mac) ??
        (gate?.subnet
          ? {
              host: gate.host,
              mac: gate.mac,
              ipv4: gate.ipv4,
              hostname: gate.hostname ?? gate.host,
              subnet: gate.subnet,
            }
          : undefined);
      if (!reservation || !model) return undefined;
      const subnet = model.subnets.find((s) => s.id === reservation.subnet);
      if (!subnet) return undefined;
      return { reservation, subnet, netboot: cache.netboot(mac) };
    },
  };
}

export function tftpService(parts: AgentParts): BootService {
  const { config, recorder, log } = parts;
  const server = createTftpServer({
    root: config.tftp.root,
    address: '0.0.0.0',
    port: config.tftp.port,
    onEvent: (e) => {
      if (e.kind === 'error') {
        log.warn({ file: e.file, peer: e.peer.address, error: e.error }, 'TFTP transfer failed');
        return;
      }
      void recorder.record({
        kind: 'tftp',
        ip: e.peer.address,
        detail: e.kind === 'start' ? `TFTP ${e.file} started` : `TFTP ${e.file} sent (${e.bytes ?? 0} bytes)`,
      });
    },
  });
  return {
    name: 'tftp',
    start: () => server.start(),
    stop: () => server.stop(),
    stats: () => ({ ...server.stats() }),
  };
}

export function agentBootServices(parts: AgentParts): BootService[] {
  const services: BootService[] = [];
  if (parts.config.tftp.enabled) services.push(tftpService(parts));
  return services;
}
