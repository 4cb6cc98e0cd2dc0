// What an agent serves from: its site's slice of the model at a revision (subnets, every known host's
// reservation) plus the netboot gate of each host mid-reprovision with the rendered artifacts of its current
// boot stage. Plain JSON, cached on disk, so an agent keeps booting hosts while the centre is unreachable.

export interface AgentDhcpOption {
  code: number;
  type: 'string' | 'ip' | 'ips' | 'u8' | 'u16' | 'u32' | 'bool' | 'hex';
  value: string | number | boolean | (string | number)[];
}

export interface AgentSubnet {
  id: string;
  /** a.b.c.d/n */
  cidr: string;
  netmask: string;
  gateway?: string;
  dns: string[];
  ntp: string[];
  domain?: string;
  dhcpOptions: AgentDhcpOption[];
}

/** A known host: static reservation of its boot interface. */
export interface Reservation {
  host: string;
  /** Lowercase aa:bb:cc:dd:ee:ff. */
  mac: string;
  ipv4?: string;
  hostname?: string;
  subnet: string;
}

/** One agent of the site as the SoT lists it (sites/<site>/env.yml agents[]). */
export interface SiteAgent {
  id: string;
  httpUrl: string;
  dhcpMode: 'server' | 'proxy';
  /** Subnet ids it serves; absent: all of the site's. */
  subnets?: string[];
  /** Its `/assets/` is a caching reverse proxy to this origin (SoT `cdn_url`); absent: local files only. */
  cdnUrl?: string;
  /** The sub-folder of its configured TFTP root its TFTP service serves (SoT `tftp_root`); absent: the root. */
  tftpRoot?: string;
}

export interface SiteModel {
  sot: string;
  revision: string;
  site: string;
  /** The first agent's HTTP base URL as booting hosts reach it (kept for agents that predate `agents`). */
  httpUrl: string;
  /** The first agent's DHCP mode (likewise). */
  dhcpMode: 'server' | 'proxy';
  /** Every agent of the site: each agent serves with its own entry. Absent in models cached before it was sent. */
  agents?: SiteAgent[];
  subnets: AgentSubnet[];
  reservations: Reservation[];
  /**
   * Lowercase MACs of the interfaces marked `ignore_dhcp` in the SoT: no agent answers DHCP for them, whatever
   * else it knows (a reservation, an open gate). Absent when the site has none.
   */
  ignoredMacs?: string[];
}

export interface BootArtifacts {
  bootStage: number;
  ipxe: string;
  kernel: string;
  initrds: string[];
  cmdline: string;
  config?: { type: string; contentType: string; text: string };
  /** The stage boots through GRUB (sot/grub-config.ts): the agent answers with the signed chain, serves `grub`. */
  loader?: 'grub';
  /** The host's GRUB config for this stage, when `loader` is grub. */
  grub?: string;
}

/** A host the agent may network-boot now. Absent or `open: false`: no boot file (it boots from disk). */
export interface NetbootEntry {
  site: string;
  host: string;
  mac: string;
  open: boolean;
  sot: string;
  revision: string;
  bootStage: number;
  /** The run the boot belongs to: events go to this workflow, the checkpoint token is derived from it. */
  workflowId: string;
  runId: string;
  artifacts?: BootArtifacts;
  /** The run takes several boot events in one signal (NetbootGateInput.eventBatches). */
  eventBatches?: boolean;
  updatedAt: number;
}
