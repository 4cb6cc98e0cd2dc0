// Public shapes of the agent's TFTP server (see server.ts for behaviour).

export interface TftpPeer {
  address: string;
  port: number;
}

export interface TftpEvent {
  kind: 'start' | 'complete' | 'error';
  /** The requested name after normalisation (e.g. `undionly.kpxe`), or the raw name when it was refused as unsafe. */
  file: string;
  peer: TftpPeer;
  /** Payload bytes acknowledged by the client (complete, and error after a partial transfer). */
  bytes?: number;
  error?: string;
  /** On an error: the request was refused with an ERROR (not found, outside the root, …), no transfer began. */
  refused?: true;
}

/**
 * What a resolve hook may answer: a file inside the root (relative to it, or absolute; either way it must lie inside
 * it), or inside `root` when the hook names another (a real path: the same containment checks apply, against it,
 * with no symlink trusted out of it), read block by block like any file; or in-memory content.
 */
export type TftpResolved = { path: string; root?: string } | { data: Buffer };

export interface TftpServerOptions {
  /** Directory served read-only. Only regular files whose real path lies inside it are served. */
  root: string;
  /**
   * Real paths outside the root (files, or directories) that a symlink inside the root may resolve to. Default
   * DEBIAN_IPXE_LINK_TARGETS: Debian's ipxe package ships /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi and
   * ipxe.lkrn -> /boot/ipxe.lkrn. Every other symlink out of the root is refused. Pass [] to trust none.
   */
  trustedLinkTargets?: string[];
  /** Local address to bind (`0.0.0.0` or `::` for all). */
  address: string;
  port?: number;
  /** Largest blksize granted (default 1468); never more than the interface MTU allows. */
  maxBlksize?: number;
  /** Largest RFC 7440 windowsize granted (default 32). */
  maxWindowsize?: number;
  /** Retransmission timeout when the client does not ask for one (default 1000 ms). */
  timeoutMs?: number;
  /** Retransmissions of one window before the transfer is abandoned (default 5). */
  retries?: number;
  /** Transfers (including ones being opened) served at once; further requests are dropped so clients retry (default 512). */
  maxTransfers?: number;
  onEvent?: (e: TftpEvent) => void;
  /**
   * Optional hook, called with the already normalised and lexically safe name. `undefined` falls back to the root.
   * A returned path goes through the same containment checks as a requested one.
   */
  resolve?: (requested: string, peer: TftpPeer) => Promise<TftpResolved | undefined>;
}

export interface TftpStats {
  /** Transfers started (a file was opened and the first OACK or DATA sent). */
  transfers: number;
  active: number;
  /** Transfers that started but did not complete (timeout, client ERROR, I/O error). */
  errors: number;
  /** Requests answered with an ERROR (unsafe or missing file, WRQ, bad mode) or dropped because the server was full. */
  refused: number;
  /** Datagrams that could not be parsed or made no sense where they arrived. */
  malformed: number;
  /** Payload bytes acknowledged by clients. */
  bytes: number;
}

export interface TftpServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): TftpStats;
}
