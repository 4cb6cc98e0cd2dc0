// The agent's TFTP server: see server.ts.
export {
  createTftpServer,
  DEBIAN_IPXE_LINK_TARGETS,
  DEFAULT_TFTP_ROOT,
  NETASCII_MAX_BYTES,
} from './server.ts';
export type { TftpEvent, TftpPeer, TftpResolved, TftpServer, TftpServerOptions, TftpStats } from './types.ts';
