// The agent's DHCP server (server and proxy modes, relay-aware): see server.ts. The rest is exported for the
// parts that need it: the directory shape the agent implements, the binding table TFTP/HTTP read, the pure
// boot choice, and the codec for tools and tests.
export { createDhcpServer, DEFAULT_LIMITS } from './server.ts';
export type { DhcpEvent, DhcpLimits, DhcpServer, DhcpServerOptions, DhcpStats } from './server.ts';
export { createSiteDirectory } from './directory.ts';
export type { DhcpDirectory, DhcpHostRecord } from './directory.ts';
export type { Binding, BindingSource, DhcpBindings } from './bindings.ts';
export { Arch, chooseBoot, DEFAULT_BOOT_FILES } from './boot.ts';
export type { BootConfig, BootDecision, BootFiles, NoBootReason } from './boot.ts';
export type { DhcpInterfaceConfig } from './interfaces.ts';
export { DEFAULT_PORTS } from './handler.ts';
export type { DhcpPorts } from './handler.ts';
export { DhcpEncodeError, macOf, parseDhcp, serializeDhcp } from './codec.ts';
export type { DhcpPacket, DhcpParseError, DhcpParseResult } from './codec.ts';
