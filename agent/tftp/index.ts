// The agent's TFTP server: see server.ts.
export { createTftpServer, DEFAULT_TFTP_ROOT, NETASCII_MAX_BYTES } from './server.ts';
export type { TftpEvent, TftpPeer, TftpResolved, TftpServer, TftpServerOptions, TftpStats } from './types.ts';
