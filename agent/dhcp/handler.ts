// The one small interface every DHCP mode implements (after Tinkerbell smee's handlers). A handler sees a
// well-formed request from a known host with its egress interface already chosen, and returns what to send and
// what to record. It does no I/O, so each mode is tested without sockets.
import type { BindingSource } from './bindings.ts';
import type { BootConfig } from './boot.ts';
import type { ClientInfo } from './client-info.ts';
import type { DhcpPacket } from './codec.ts';
import type { DhcpHostRecord } from './directory.ts';
import type { ServedInterface } from './interfaces.ts';

export interface Endpoint {
  address: string;
  port: number;
}

/** Ports are parameters so tests and unprivileged runs can move them; production uses the defaults. */
export interface DhcpPorts {
  /** Servers and relays listen here (67). */
  server: number;
  /** Clients listen here (68). */
  client: number;
  /** PXE boot server port for ProxyDHCP requests (4011). */
  pxe: number;
  /** Replies to a relay (giaddr) go to this port (67). */
  relay: number;
}

export const DEFAULT_PORTS: DhcpPorts = { server: 67, client: 68, pxe: 4011, relay: 67 };

export type DhcpCounter =
  | 'offers'
  | 'acks'
  | 'naks'
  | 'proxyReplies'
  | 'declines'
  | 'releases'
  | 'gated'
  | 'noAddress'
  | 'otherServer'
  | 'ignored';

export interface HandlerRequest {
  packet: DhcpPacket;
  messageType: number;
  client: ClientInfo;
  host: DhcpHostRecord;
  /** Replies leave by this interface; its address is the server identifier. */
  iface: ServedInterface;
  /** The local port the request arrived on: ports.server, or ports.pxe for ProxyDHCP boot-server requests. */
  port: number;
  source: Endpoint;
  /** Every address of the agent: a REQUEST naming another server identifier chose another server. */
  ownAddresses: ReadonlySet<string>;
}

export interface HandlerEvent {
  /** DHCPOFFER, DHCPACK, … */
  message: string;
  ip?: string;
  bootFile?: string;
  /** One line for humans and workflow history, e.g. "DHCPACK 10.77.1.10 undionly.kpxe". */
  detail: string;
}

export interface HandlerResult {
  reply?: { packet: DhcpPacket; to: Endpoint };
  /** Stats this request moves (usually one). */
  counters: DhcpCounter[];
  event?: HandlerEvent;
  binding?: { ip: string; seconds: number; source: BindingSource } | 'remove';
  /** A host with an open gate got no boot file, and why (no-boot-file.ts): a refusal on its timeline. */
  refused?: string;
}

export interface DhcpHandler {
  readonly mode: 'server' | 'proxy';
  handle(req: HandlerRequest): HandlerResult;
}

/** What both modes are built with. */
export interface ModeSettings {
  /** Boot configuration without the per-reply parts: mode is the handler's, tftpServer defaults to the egress address. */
  boot: Omit<BootConfig, 'mode' | 'tftpServer'> & { tftpServer?: string };
  leaseSeconds: number;
  ports: DhcpPorts;
}

/** An answer's boot configuration, reading the URLs through to the settings (see bootConfigFor). */
class AnswerBootConfig implements BootConfig {
  declare readonly credential?: NonNullable<BootConfig['credential']>;
  constructor(
    private readonly boot: ModeSettings['boot'],
    readonly mode: BootConfig['mode'],
    readonly tftpServer: string,
  ) {
    if (boot.credential) this.credential = boot.credential;
  }
  get httpUrl(): string {
    return this.boot.httpUrl;
  }
  get httpBootUrl(): string {
    return this.boot.httpBootUrl;
  }
  get files(): BootConfig['files'] {
    return this.boot.files;
  }
}

/**
 * The boot configuration of one answer. The URLs are read through, not copied: the server computes them from the
 * site model at each read, and most answers (a BIOS or UEFI client getting a TFTP file name) need none.
 */
export function bootConfigFor(
  settings: ModeSettings,
  mode: BootConfig['mode'],
  iface: ServedInterface,
): BootConfig {
  return new AnswerBootConfig(settings.boot, mode, settings.boot.tftpServer ?? iface.address);
}
