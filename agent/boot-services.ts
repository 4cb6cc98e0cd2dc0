// The agent's DHCP and TFTP services, built from its configuration and wired to its model cache (who is this
// MAC, may it netboot now) and its event recorder (every DHCP answer and TFTP transfer becomes a boot event).
import type { DhcpDirectory, DhcpHostRecord } from './dhcp/directory.ts';
import { createDhcpServer } from './dhcp/server.ts';
import { createTftpServer } from './tftp/index.ts';
import type { GrubTftpDeps } from './grub-tftp.ts';
import { grubTftpResolver, grubTransferStep } from './grub-tftp.ts';
import { HostBinding } from './http/host-binding.ts';
import type { AgentParts, BootService } from './boot-serving.ts';
import type { ModelCache } from './model-cache.ts';
import { ownAgentEntry } from './own-agent.ts';
import { firstResolved, tftpSubfolderResolver } from './tftp-subfolder.ts';

/**
 * Reservations come from the site model; a host mid-reprovision also carries its own with its gate. With `agentId`,
 * only hosts of the subnets this agent's SoT entry lists (`agents[].subnets`; all without a list) are known: an
 * agent the SoT gives other subnets leaves their hosts to their own agent, even when a relay sends it their packets.
 */
export function cacheDirectory(cache: ModelCache, agentId?: string): DhcpDirectory {
  const served = (subnet: string): boolean => {
    if (agentId === undefined) return true;
    const own = ownAgentEntry(cache.siteModel(), agentId);
    return own?.subnets === undefined || own.subnets.includes(subnet);
  };
  return {
    ignored: (mac: string): boolean => cache.ignoresDhcp(mac),
    lookup(mac: string): DhcpHostRecord | undefined {
      const model = cache.siteModel();
      const gate = cache.lookup(mac);
      const reservation =
        cache.reservation(mac) ??
        (gate?.subnet
          ? {
              host: gate.host,
              mac: gate.mac,
              ...(gate.ipv4 !== undefined ? { ipv4: gate.ipv4 } : {}),
              hostname: gate.hostname ?? gate.host,
              subnet: gate.subnet,
            }
          : undefined);
      if (!reservation || !model || !served(reservation.subnet)) return undefined;
      const subnet = model.subnets.find((s) => s.id === reservation.subnet);
      if (!subnet) return undefined;
      const netboot = cache.netboot(mac);
      return { reservation, subnet, ...(netboot !== undefined ? { netboot } : {}) };
    },
  };
}

function notRecorded(log: AgentParts['log'], service: string, err: unknown): void {
  log.error({ service, err: err instanceof Error ? err.message : String(err) }, 'boot event not recorded');
}

export function tftpService(parts: AgentParts): BootService {
  const { config, recorder, log } = parts;
  // GRUB hosts' bootstrap, own config, kernel and initrds (agent/grub-tftp.ts); everything else from the root.
  const grub: GrubTftpDeps = {
    binding: new HostBinding(recorder, parts.cache, parts.tokens),
    tokenFor: (e) => parts.tokens.tokenFor(e.workflowId, e.runId, e.bootStage),
    ...(config.assets.root !== undefined ? { assetsRoot: config.assets.root } : {}),
  };
  const server = createTftpServer({
    root: config.tftp.root,
    address: '0.0.0.0',
    port: config.tftp.port,
    // GRUB's own paths first (grub-tftp.ts), then this agent's SoT tftp_root (tftp-subfolder.ts), else the root.
    resolve: firstResolved(grubTftpResolver(grub), tftpSubfolderResolver(parts.cache, config.agent_id)),
    onEvent: (e) => {
      if (e.kind === 'error') {
        log.warn({ file: e.file, peer: e.peer.address, error: e.error }, 'TFTP transfer failed');
        // A refusal is what the host asked for and did not get: on its timeline (once per run: recorder).
        if (e.refused)
          recorder
            .record({
              kind: 'refused',
              ip: e.peer.address,
              detail: `tftp ${e.file}: ${e.error ?? 'refused'}`,
            })
            .catch((err: unknown) => notRecorded(log, 'tftp', err));
        return;
      }
      // A boot event is a whole transfer, as for HTTP downloads: one cut short moves no workflow past its TFTP step.
      if (e.kind === 'start') {
        log.debug({ file: e.file, peer: e.peer.address }, 'TFTP transfer started');
        return;
      }
      // Not awaited (the transfer goes on), so its failure is handled here: it must not end the agent. A GRUB
      // host's config, kernel and initrd are those boot steps, as over HTTP.
      const sent = `${e.file} sent (${e.bytes ?? 0} bytes)`;
      grubTransferStep(grub, e.file, e.peer.address)
        .then((step) =>
          recorder.record(
            step
              ? { kind: step.kind, mac: step.mac, detail: `GRUB over TFTP: ${sent}` }
              : { kind: 'tftp', ip: e.peer.address, detail: `TFTP ${sent}` },
          ),
        )
        .catch((err: unknown) => notRecorded(log, 'tftp', err));
    },
  });
  return {
    name: 'tftp',
    start: () => server.start(),
    stop: () => server.stop(),
    stats: () => ({ ...server.stats() }),
  };
}

/**
 * The IPv4 addresses in the `http_url` of the site's other agents (SoT agents[]): a peer agent answering the same
 * hosts is no conflict for the authoritative-DHCP detector. Worked out once per site model.
 */
export function peerAgentAddresses(cache: ModelCache, agentId: string): () => ReadonlySet<string> {
  let seenModel: unknown;
  let peers: ReadonlySet<string> = new Set();
  return () => {
    const model = cache.siteModel();
    if (model !== seenModel) {
      seenModel = model;
      const out = new Set<string>();
      for (const a of model?.agents ?? []) {
        if (a.id === agentId) continue;
        try {
          const host = new URL(a.httpUrl).hostname;
          if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) out.add(host);
        } catch {
          // not a URL: validation refuses it upstream; nothing to add
        }
      }
      peers = out;
    }
    return peers;
  };
}

export function dhcpService(parts: AgentParts): BootService | undefined {
  const { config, cache, recorder, log, tokens } = parts;
  if (config.interfaces.length === 0) {
    log.warn('DHCP is enabled but no interfaces are configured: not serving DHCP');
    return undefined;
  }
  const first = config.interfaces[0]!;
  /** The mode the config fixes, else this agent's own entry in the site model, else server. */
  const wantedMode = (): 'server' | 'proxy' =>
    config.dhcp.mode ?? ownAgentEntry(cache.siteModel(), config.agent_id)?.dhcpMode ?? 'server';
  const create = (mode: 'server' | 'proxy') =>
    createDhcpServer({
      mode,
      interfaces: config.interfaces.map((i, n) => ({
        name: i.name ?? `if${n}`,
        address: i.address,
        cidr: i.cidr,
      })),
      directory: cacheDirectory(cache, config.agent_id),
      boot: {
        // This agent's own entry of the SoT (the site model may arrive after start: asked at each answer).
        httpUrl: () =>
          (
            config.http.public_url ??
            ownAgentEntry(cache.siteModel(), config.agent_id)?.httpUrl ??
            `http://${first.address}:${config.http.port}`
          ).replace(/\/+$/, ''),
        ...(config.tftp.server_address !== undefined ? { tftpServer: config.tftp.server_address } : {}),
        credential: (host) => (host.netboot?.open ? tokens.bootCredential(host.netboot) : undefined),
        files: {
          bios: config.boot_files.bios,
          uefiX64: config.boot_files.efi64,
          ...(config.boot_files.arm64 !== undefined ? { arm64: config.boot_files.arm64 } : {}),
        },
      },
      leaseSeconds: config.dhcp.lease_seconds,
      ports: { server: config.dhcp.port, pxe: config.dhcp.proxy_port, relay: config.dhcp.relay_port },
      // The flood limits the config sets (before, they were parsed and never passed: the server always ran with
      // DEFAULT_LIMITS, whatever the file said).
      limits: {
        maxPacketsPerSecond: config.dhcp.max_packets_per_second,
        maxPerClientPerSecond: config.dhcp.max_packets_per_client_per_second,
      },
      onEvent: (e) => {
        // No boot file for a host with an open gate: what it asked for and why it got nothing, on its timeline
        // (once per run: recorder), so its stall says so.
        if (e.refused !== undefined) {
          recorder
            .record({ kind: 'refused', mac: e.mac, detail: `dhcp: ${e.refused}` })
            .catch((err: unknown) => notRecorded(log, 'dhcp', err));
          return;
        }
        // The address a host got (or was seen with, in proxy mode) lets later TFTP and HTTP requests, which name
        // no MAC, be attributed to it.
        if (e.ip) recorder.bind(e.ip, e.mac);
        // Not awaited (the reply is already sent), so its failure is handled here: it must not end the agent.
        recorder
          .record({
            kind: 'dhcp',
            mac: e.mac,
            detail: e.detail,
            ...(e.xid !== undefined ? { identity: `${e.xid.toString(16)}/${e.message}` } : {}),
          })
          .catch((err: unknown) => notRecorded(log, 'dhcp', err));
      },
      peerAddresses: peerAgentAddresses(cache, config.agent_id),
      log: (m) => log.warn({ service: 'dhcp' }, m),
      info: (m) => log.info({ service: 'dhcp' }, m),
    });
  let mode = wantedMode();
  let server = create(mode);
  log.info({ mode, interfaces: config.interfaces.map((i) => i.address) }, 'DHCP configured');
  return {
    name: 'dhcp',
    start: () => server.start(),
    stop: () => server.stop(),
    // `authority`: other DHCP servers seen (a conflict in server mode; in proxy mode, the one relied on), for
    // /health and /metrics.
    stats: () => ({ mode, ...server.stats(), authority: server.authority() }),
    // A site model that arrives after start (a fresh agent) or changes this agent's mode: a server-mode agent must
    // not go on answering as the segment's DHCP server where the SoT says another one is (proxy), nor the reverse.
    async reconfigure() {
      const next = wantedMode();
      if (next === mode) return;
      await server.stop();
      const was = mode;
      mode = next;
      server = create(mode);
      await server.start();
      log.info({ from: was, to: mode }, 'DHCP mode changed by the site model');
    },
  };
}

export function agentBootServices(parts: AgentParts): BootService[] {
  const services: BootService[] = [];
  if (parts.config.dhcp.enabled) {
    const dhcp = dhcpService(parts);
    if (dhcp) services.push(dhcp);
  }
  if (parts.config.tftp.enabled) services.push(tftpService(parts));
  return services;
}
