// Schemas of the SoT files (see FORMAT.md). Strict objects everywhere: an unknown field is a typo until proven
// otherwise. Cross-file rules (references, duplicates, subnets) live in validate.ts, not here.
import { SECRET_FIELDS, SECRET_REF } from '../domain/secret.ts';
import type { SecretField } from '../domain/secret.ts';
import { isTimeZone, parseWindow } from '../domain/maintenance-windows.ts';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

export const ASSET_TYPES = ['ignition', 'cloud-config', 'kickstart', 'preseed', 'untyped'] as const;
export type AssetType = (typeof ASSET_TYPES)[number];
export const BMC_DRIVERS = ['ipmi', 'redfish', 'ssh', 'container', 'sim'] as const;
export type BmcDriver = (typeof BMC_DRIVERS)[number];
/** Drivers whose hosts validate themselves (the sim's fail_validation knob): their validate step runs without tasks. */
export const SELF_VALIDATING_DRIVERS: ReadonlySet<string> = new Set<BmcDriver>(['sim']);
/** The boot loaders a host can be sent through (see FORMAT.md "Boot loader"); ipxe unless the SoT says. */
export const LOADERS = ['ipxe', 'grub'] as const;
export type Loader = (typeof LOADERS)[number];
export const DHCP_OPTION_TYPES = ['string', 'ip', 'ips', 'u8', 'u16', 'u32', 'bool', 'hex'] as const;
/** Timeouts a workflow may set, in seconds, one per stage or boot event awaited. */
export const TIMEOUT_KEYS = [
  'pre_shutdown',
  'power',
  'dhcp',
  'tftp',
  'ipxe',
  'kernel',
  'config',
  'checkpoint',
  'validate',
  /** A host without a BMC: how long its run waits for the host to start its netboot by itself (an operator, its OS). */
  'self_netboot',
] as const;
export type TimeoutKey = (typeof TIMEOUT_KEYS)[number];

export function isIPv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

export function isCidr4(s: string): boolean {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(s);
  return !!m && isIPv4(m[1]!) && Number(m[2]) <= 32;
}

const id = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/, 'must be lowercase letters, digits, ".", "_" or "-"');
const hostName = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must be letters, digits, "." or "-"');
const mac = z
  .string()
  .regex(/^(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, 'not a MAC address (aa:bb:cc:dd:ee:ff)')
  // A host's MAC names one NIC: the group bit (multicast, broadcast) or all zeros would match none or many.
  .refine(
    (m) => (parseInt(m.slice(0, 2), 16) & 1) === 0,
    "a multicast or broadcast address is not a NIC's MAC",
  )
  .refine((m) => !/^(?:00:){5}00$/.test(m), "the all-zero MAC is not a NIC's MAC");
const ipv4 = z.string().refine(isIPv4, 'not an IPv4 address');
const ipv6 = z.string().refine((s) => ipaddr.IPv6.isValid(s), 'not an IPv6 address');
const cidr4 = z.string().refine(isCidr4, 'not an IPv4 CIDR (a.b.c.d/n)');
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+(?:\/\S*)?$/, 'not an http(s) URL');
const metadata = z.record(z.string(), z.unknown());
const posInt = z.int().min(1);
const nonNegInt = z.int().min(0);
/** A maintenance window, "Sat 22:00-Sun 04:00" (domain/maintenance-windows.ts says what is one). */
const maintenanceWindow = z.string().superRefine((s, ctx) => {
  const p = parseWindow(s);
  if (!p.ok) ctx.addIssue({ code: 'custom', message: p.error });
});
const timeZone = z
  .string()
  .refine(isTimeZone, 'not a time zone this runtime knows (an IANA name such as Europe/Berlin, or UTC)');

export const dhcpOptionSchema = z.strictObject({
  code: z.int().min(1).max(254),
  type: z.enum(DHCP_OPTION_TYPES),
  value: z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]),
});

export const subnetSchema = z.strictObject({
  id,
  cidr: cidr4,
  gateway: ipv4.optional(),
  dns: z.array(ipv4).optional(),
  ntp: z.array(z.string()).optional(),
  domain: z.string().optional(),
  dhcp_options: z.array(dhcpOptionSchema).optional(),
});

/**
 * The origin an agent's `/assets/` proxies to (the original's `asset_server.cdn_scheme://cdn_addr:cdn_port`): one URL
 * like `http_url`, so it may carry a path prefix; no credentials (the SoT holds none), no query or fragment (the
 * asset's path is appended to it).
 */
const cdnUrl = z.string().superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a URL (scheme://address[:port][/path])' });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    ctx.addIssue({
      code: 'custom',
      message: `scheme ${u.protocol.slice(0, -1)}: the CDN is reached by http or https`,
    });
  if (u.username !== '' || u.password !== '')
    ctx.addIssue({ code: 'custom', message: 'credentials in the URL: the SoT holds no secrets' });
  if (u.search !== '' || u.hash !== '' || s.includes('?') || s.includes('#'))
    ctx.addIssue({ code: 'custom', message: 'a query or fragment: the asset path is appended to this URL' });
});
/** A folder under the agent's own TFTP root (agent config `tftp.root`): relative, plain names, no `.` or `..`. */
const tftpRoot = z
  .string()
  .max(255)
  .regex(
    /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/,
    'a relative folder inside the agent\'s TFTP root (names of letters, digits, ".", "_", "-" joined by "/"; no "..", no leading "/")',
  );

export const agentSchema = z.strictObject({
  id,
  http_url: httpUrl,
  dhcp_mode: z.enum(['server', 'proxy']),
  subnets: z.array(id).optional(),
  /** `/assets/` on this agent becomes a caching reverse proxy to this origin (a CDN or mirror). */
  cdn_url: cdnUrl.optional(),
  /** This agent's TFTP service serves this sub-folder of its configured TFTP root. */
  tftp_root: tftpRoot.optional(),
});

/** A git ref or commit as an operator writes it (checked again by git-revision.ts before git sees it). */
const gitRef = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^-\s][^\s]*$/, 'a tag, branch or commit: no whitespace, not starting with "-"');

export const siteSchema = z.strictObject({
  description: z.string().optional(),
  /** Take this site (env, hosts, configuration) from that tag or commit of the SoT repository (the original's name). */
  release_tag: gitRef.optional(),
  /** The server SoT (`sots[].name`) this site belongs to (the original's name). */
  sot_id: id.optional(),
  subnets: z.array(subnetSchema).min(1),
  agents: z.array(agentSchema).min(1),
  metadata: metadata.optional(),
  policy: z
    .strictObject({
      max_concurrent: posInt.optional(),
      bmc_concurrency: posInt.optional(),
      /** Plan hosts new to vaquero that have a BMC (the original Vaquero's name; default true, see FORMAT.md). */
      force_provision: z.boolean().optional(),
      /** Hosts of this site start only inside one of these windows (and their workflow's). */
      windows: z.array(maintenanceWindow).optional(),
      time_zone: timeZone.optional(),
    })
    .optional(),
});

export const physicalInterfaceSchema = z.strictObject({
  type: z.literal('physical'),
  mac,
  subnet: id,
  ipv4: ipv4.optional(),
  ipv6: ipv6.optional(),
  hostname: hostName.optional(),
  /** The OS's name for the NIC (`eth0`), for templates (the original Vaquero's name). */
  identifier: z.string().min(1).optional(),
  /** The agents never answer DHCP for this NIC, so it never netboots (the original Vaquero's name). */
  ignore_dhcp: z.boolean().optional(),
});

export const bmcInterfaceSchema = z.strictObject({
  type: z.literal('bmc'),
  driver: z.enum(BMC_DRIVERS),
  address: z.string().min(1),
  credentials: id.optional(),
  options: metadata.optional(),
  mac: mac.optional(),
  subnet: id.optional(),
  ipv4: ipv4.optional(),
  identifier: z.string().min(1).optional(),
});

export const interfaceSchema = z.discriminatedUnion('type', [physicalInterfaceSchema, bmcInterfaceSchema]);

export const hostSchema = z.strictObject({
  name: hostName,
  workflow: id,
  never_provision: z.boolean().optional(),
  metadata: metadata.optional(),
  interfaces: z.array(interfaceSchema).min(1),
  /** Boot loader for every boot of this host; wins over the boot's own. */
  loader: z.enum(LOADERS).optional(),
  /** Firmware enforces Secure Boot: the host gets the signed chain (shim, GRUB), so loader grub. */
  secure_boot: z.boolean().optional(),
});

export const CONFIG_TYPES = ['git', 'local'] as const;

/**
 * The first document of an Advanced SoT cluster file: where this cluster's configuration (os, boot, workflows,
 * assets) comes from (the original Vaquero's `config` section).
 */
export const clusterConfigSchema = z.strictObject({
  config: z.strictObject({
    /** The original's webhook id: the server SoT a push to this repository belongs to. */
    id: id.optional(),
    type: z.enum(CONFIG_TYPES),
    url: z.string().min(1),
    ref: gitRef.optional(),
  }),
});

/** `k`, `k=v`, or a one-key map `{k: v}` (null value: bare key). */
export const cmdlineEntrySchema = z.union([
  z.string().min(1),
  z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .refine((m) => Object.keys(m).length === 1, 'a map entry must have exactly one key'),
]);

export const osSchema = z.strictObject({
  kernel: z.string().min(1),
  initrds: z.array(z.string().min(1)).optional(),
  cmdline: z.array(cmdlineEntrySchema).optional(),
  metadata: metadata.optional(),
});

export const taskSchema = z.strictObject({
  name: id,
  image: z.string().min(1),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  /** A value, or `{ secret: REF, field? }`: resolved by the agent from its secret store as it starts the container. */
  env: z
    .record(
      z.string(),
      z.union([
        z.string(),
        z.strictObject({
          secret: z.string().regex(SECRET_REF, 'a secret reference is a plain name (letters, digits, . _ -)'),
          field: z.enum(SECRET_FIELDS as [SecretField, ...SecretField[]]).optional(),
        }),
      ]),
    )
    .optional(),
  timeout_s: posInt.optional(),
  retries: nonNegInt.optional(),
});

export const bootSchema = z.strictObject({
  os: id,
  cmdline: z.array(cmdlineEntrySchema).optional(),
  unattended: z
    .strictObject({
      type: z.enum(ASSET_TYPES),
      template: z.string().min(1),
    })
    .optional(),
  metadata: metadata.optional(),
  /** Boot loader for this boot, unless the host names one. */
  loader: z.enum(LOADERS).optional(),
  before_shutdown: z.array(taskSchema).optional(),
  validate: z.array(taskSchema).optional(),
});

export const workflowSchema = z.strictObject({
  boots: z.array(id).min(1),
  policy: z
    .strictObject({
      max_concurrent: posInt.optional(),
      min_standing: nonNegInt.optional(),
      max_fail: nonNegInt.optional(),
      block_deps: z.array(id).optional(),
      /**
       * When one of these workflows changes in a rollout, this workflow's otherwise unchanged hosts re-run their
       * validation only: no power cycle, no netboot (the original Vaquero's `deps.validate_on`).
       */
      validate_on: z.array(id).optional(),
      /** Hosts of this workflow start only inside one of these windows; none: any time. */
      windows: z.array(maintenanceWindow).optional(),
      time_zone: timeZone.optional(),
    })
    .optional(),
  timeouts: z.strictObject(Object.fromEntries(TIMEOUT_KEYS.map((k) => [k, posInt.optional()]))).optional(),
  power_retries: nonNegInt.optional(),
  /** What a host that failed is left as: powered off through its BMC (default), or as it is. */
  on_failure: z.enum(['power_off', 'leave']).optional(),
});

export type SiteSpec = z.output<typeof siteSchema>;
export type ClusterConfigSpec = z.output<typeof clusterConfigSchema>['config'];
export type SubnetSpec = z.output<typeof subnetSchema>;
export type AgentSpec = z.output<typeof agentSchema>;
export type HostSpec = z.output<typeof hostSchema>;
export type InterfaceSpec = z.output<typeof interfaceSchema>;
export type PhysicalInterfaceSpec = z.output<typeof physicalInterfaceSchema>;
export type BmcInterfaceSpec = z.output<typeof bmcInterfaceSchema>;
export type CmdlineEntry = z.output<typeof cmdlineEntrySchema>;
export type OsSpec = z.output<typeof osSchema>;
export type BootSpec = z.output<typeof bootSchema>;
export type TaskSpec = z.output<typeof taskSchema>;
export type WorkflowSpec = z.output<typeof workflowSchema> & {
  timeouts?: Partial<Record<TimeoutKey, number>>;
};
