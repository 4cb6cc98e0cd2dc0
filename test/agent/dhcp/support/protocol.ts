// Messages between a DHCP test and its helpers running inside namespaces (over the child's IPC channel).
import type { DhcpInterfaceConfig } from '../../../../agent/dhcp/interfaces.ts';
import type { Binding } from '../../../../agent/dhcp/bindings.ts';
import type { DhcpEvent, DhcpLimits, DhcpStats } from '../../../../agent/dhcp/server.ts';
import type { AgentSubnet, Reservation } from '../../../../domain/site-model.ts';

export interface ServerSpec {
  mode: 'server' | 'proxy';
  interfaces: DhcpInterfaceConfig[];
  subnets: AgentSubnet[];
  reservations: Reservation[];
  /** MACs the SoT marks ignore_dhcp (SiteModel.ignoredMacs). */
  ignoredMacs?: string[];
  /** MACs whose netboot gate is open; other reservations are known hosts booting from disk. */
  open: string[];
  /** Of the open MACs, those whose stage boots through GRUB (its artifacts say `loader: grub`). */
  grub?: string[];
  boot: { httpUrl: string; tftpServer?: string };
  leaseSeconds?: number;
  limits?: Partial<DhcpLimits>;
  broadcastReplies?: 'limited' | 'subnet';
}

export type ToServer =
  | { id: number; op: 'start'; spec: ServerSpec }
  | { id: number; op: 'stats' }
  | { id: number; op: 'bindings' }
  | { id: number; op: 'stop' };

export type FromServer =
  | { id: number; ok: true; stats?: DhcpStats; bindings?: Binding[] }
  | { id: number; ok: false; error: string }
  | { event: DhcpEvent }
  | { log: string };

export interface Datagram {
  hex: string;
  from: string;
  port: number;
}

export type ToUdp =
  | { id: number; op: 'open'; name: string; address: string; port: number }
  | { id: number; op: 'send'; name: string; to: string; port: number; packets: string[]; gapMs?: number }
  | { id: number; op: 'collect'; name: string; waitMs: number };

export type FromUdp =
  | { id: number; ok: true; received?: Datagram[]; sent?: number; errors?: string[] }
  | { id: number; ok: false; error: string };
