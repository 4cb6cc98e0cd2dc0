// Messages between a test (parent) and its helper processes inside namespaces (server-child, udp-child).
import type { TftpEvent, TftpStats } from '../../../../agent/tftp/index.ts';

/** createTftpServer options that survive IPC; `virtual` becomes a resolve hook serving these names from memory. */
export interface ServerSpec {
  root: string;
  address: string;
  port?: number;
  maxBlksize?: number;
  maxWindowsize?: number;
  timeoutMs?: number;
  retries?: number;
  maxTransfers?: number;
  trustedLinkTargets?: string[];
  virtual?: Record<string, string>;
  /** Names the resolve hook maps to these paths (to test that hooked paths are still confined). */
  redirect?: Record<string, string>;
}

export type ToServer =
  { id: number; cmd: 'start'; spec: ServerSpec } | { id: number; cmd: 'stats' } | { id: number; cmd: 'stop' };
export type FromServer =
  | { id: number; ok: true; stats?: TftpStats }
  | { id: number; ok: false; error: string }
  | { event: TftpEvent };

export type ToUdp =
  | { id: number; cmd: 'open' }
  | { id: number; cmd: 'send'; sock: number; data: string; address: string; port: number }
  | { id: number; cmd: 'close'; sock: number };
export type FromUdp =
  | { id: number; ok: true; sock?: number; port?: number }
  | { id: number; ok: false; error: string }
  | { datagram: { sock: number; data: string; address: string; port: number } };
