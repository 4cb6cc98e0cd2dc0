// `vaquero agent --config FILE`: YAML, checked by a schema, with environment overrides for what differs per
// deployment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, VAQUERO_AGENT_ID, VAQUERO_SITE, VAQUERO_DATA_DIR).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { DEFAULT_LIMITS } from './dhcp/server.ts';

const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'not an IPv4 address');
const port = z.int().min(1).max(65535);

export const agentConfigSchema = z.strictObject({
  agent_id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  site: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  data_dir: z.string().min(1),
  temporal: z
    .strictObject({
      address: z.string().optional(),
      namespace: z.string().optional(),
    })
    .optional(),
  /** Where DHCP and TFTP serve; each a local address with its subnet (explicit egress per interface). */
  interfaces: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        address: ipv4,
        cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/),
      }),
    )
    .default([]),
  dhcp: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Default: the site model's dhcp_mode. */
      mode: z.enum(['server', 'proxy']).optional(),
      port: port.default(67),
      proxy_port: port.default(4011),
      /** Where replies to relays go (67 on real networks). */
      relay_port: port.default(67),
      lease_seconds: z.int().min(60).default(3600),
      /** Flood limits: packets admitted per second in all (a one-second burst allowance), and per client MAC. */
      max_packets_per_second: z.int().min(1).default(DEFAULT_LIMITS.maxPacketsPerSecond),
      max_packets_per_client_per_second: z.int().min(1).default(DEFAULT_LIMITS.maxPerClientPerSecond),
    })
    .prefault({}),
  tftp: z
    .strictObject({
      enabled: z.boolean().default(true),
      root: z.string().default('/usr/lib/ipxe'),
      port: port.default(69),
      /** Address the boot file is fetched from (next-server); default: the interface's address. */
      server_address: ipv4.optional(),
    })
    .prefault({}),
  http: z
    .strictObject({
      listen: z.string().default('0.0.0.0'),
      port: port.default(8080),
      /** How booting hosts reach this service (default: the site model's agent http_url). */
      public_url: z.string().url().optional(),
    })
    .prefault({}),
  assets: z
    .strictObject({
      root: z.string().optional(),
      upstream: z.string().url().optional(),
    })
    .prefault({}),
  boot_files: z
    .strictObject({
      bios: z.string().default('undionly.kpxe'),
      efi64: z.string().default('ipxe.efi'),
      arm64: z.string().default('ipxe-arm64.efi'),
    })
    .prefault({}),
  secrets: z
    .strictObject({
      file: z.string().optional(),
      dir: z.string().optional(),
    })
    .prefault({}),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;

export async function loadAgentConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  const raw = parse(await readFile(file, 'utf8')) as Record<string, unknown> | null;
  const merged: Record<string, unknown> = { ...(raw ?? {}) };
  if (env.VAQUERO_AGENT_ID) merged.agent_id = env.VAQUERO_AGENT_ID;
  if (env.VAQUERO_SITE) merged.site = env.VAQUERO_SITE;
  if (env.VAQUERO_DATA_DIR) merged.data_dir = env.VAQUERO_DATA_DIR;
  const temporal = { ...((merged.temporal as Record<string, unknown> | undefined) ?? {}) };
  if (env.TEMPORAL_ADDRESS) temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) temporal.namespace = env.TEMPORAL_NAMESPACE;
  merged.temporal = temporal;
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new Error(`invalid agent config ${file}:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  c.data_dir = path.resolve(path.dirname(file), c.data_dir);
  if (c.assets.root) c.assets.root = path.resolve(path.dirname(file), c.assets.root);
  return c;
}
