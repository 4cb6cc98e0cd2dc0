// `vaquero agent --config FILE`: YAML, checked by a schema, with environment overrides for what differs per
// deployment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, VAQUERO_CODEC_KEYS / VAQUERO_CODEC, VAQUERO_AGENT_ID, VAQUERO_SITE, VAQUERO_DATA_DIR). Every
// problem is reported at once, each with file:line; files the config names (TLS material) must be readable.
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { SourceDoc } from '../sot/source-doc.ts';
import type { YamlPath } from '../sot/source-doc.ts';
import { DEFAULT_LIMITS } from './dhcp/server.ts';
import { codecSettingsFromEnv } from '../temporal/codec/codec-settings.ts';

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
      /**
       * `true`: TLS with the system's roots. An object: `ca` (the server's CA, PEM file), `cert` + `key` (client
       * certificate for mTLS, PEM files), `server_name` (SNI / name checked in the server's certificate).
       */
      tls: z
        .union([
          z.boolean(),
          z
            .strictObject({
              ca: z.string().min(1).optional(),
              cert: z.string().min(1).optional(),
              key: z.string().min(1).optional(),
              server_name: z.string().min(1).optional(),
            })
            .refine((t) => (t.cert === undefined) === (t.key === undefined), {
              message: 'cert and key are given together (the client certificate and its key)',
            }),
        ])
        .optional(),
      /** A secret reference (the agent's secret store; its `token`, or `password`): Temporal Cloud's API key. */
      api_key: z.string().min(1).optional(),
      /**
       * The payload codec, the same keys as the server's and workers': `{ keys: [{ id, file | env }, …] }` (the
       * first encrypts, all decrypt), or `{ off: true }`. Required: an agent never sends payloads in clear by omission.
       */
      codec: z
        .union([
          z.strictObject({ off: z.literal(true) }),
          z.strictObject({
            keys: z
              .array(
                z
                  .strictObject({
                    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
                    file: z.string().min(1).optional(),
                    env: z.string().min(1).optional(),
                  })
                  .refine((k) => (k.file === undefined) !== (k.env === undefined), {
                    message: 'a key is given as file or env (a reference), exactly one',
                  }),
              )
              .min(1, 'at least one key (or codec: { off: true })'),
          }),
        ])
        .optional(),
    })
    .optional(),
  /** Task containers (a boot's before_shutdown and validate tasks) and the `container` BMC driver. */
  tasks: z
    .strictObject({
      /** A Docker-API endpoint: unix:///run/podman/podman.sock, unix:///var/run/docker.sock, tcp://host:2375. */
      engine: z
        .string()
        .regex(
          /^(unix:\/\/\/.+|tcp:\/\/[^/]+|https?:\/\/[^/]+)$/,
          'a unix:///path or tcp://host:port endpoint',
        )
        .optional(),
      pull: z.enum(['if-missing', 'always', 'never']).default('if-missing'),
      /** Network of task containers: bridge, host, none or a named network. */
      network: z.string().min(1).default('bridge'),
      /** Secret reference with `username` and `password` for the registry task images are pulled from. */
      registry_auth: z.string().min(1).optional(),
    })
    .prefault({}),
  bmc: z
    .strictObject({
      /** The ipmitool binary (default: `ipmitool` on PATH). */
      ipmitool: z.string().min(1).optional(),
    })
    .prefault({}),
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
  /** Installer logs over syslog (UDP; RFC 3164, RFC 5424 or netconsole's plain lines). Port 514 needs root. */
  syslog: z
    .strictObject({
      enabled: z.boolean().default(true),
      listen: z.string().default('0.0.0.0'),
      port: z.int().min(0).max(65535).default(514),
    })
    .prefault({}),
  /** How many installer log lines are kept (per host run, on disk) and how often the host's workflow hears of them. */
  installer_logs: z
    .strictObject({
      max_lines_per_run: z.int().min(10).default(2000),
      max_bytes_per_run: z.int().min(4096).default(1_000_000),
      max_runs: z.int().min(1).default(500),
      /** Lines taken per second from all hosts; the rest are counted and dropped. */
      max_lines_per_second: z.int().min(1).default(1000),
      /** Seconds between two summaries (`log` boot events) of one host run. */
      summary_every_s: z.number().min(0.1).default(20),
      max_summaries_per_run: z.int().min(1).default(30),
    })
    .prefault({}),
  assets: z
    .strictObject({
      root: z.string().optional(),
      /** A mirror /assets/ proxies to; wins over the SoT's `cdn_url` for this agent. */
      upstream: z.string().url().optional(),
      /** Bound of the proxied assets' cache under data_dir/asset-cache (least recently used files go first). */
      cache_max_bytes: z
        .int()
        .min(1024 * 1024)
        .default(8 * 1024 ** 3),
      /** Seconds the CDN has to start answering, and may go silent mid-download, before the agent gives up. */
      origin_timeout_s: z.number().min(0.1).max(600).default(30),
    })
    .prefault({}),
  boot_files: z
    .strictObject({
      bios: z.string().default('undionly.kpxe'),
      efi64: z.string().default('ipxe.efi'),
      /**
       * None by default (Debian ships no arm64 iPXE): arm64 iPXE hosts get no answer until a file is named here
       * (arm64 GRUB hosts get shimaa64.efi).
       */
      arm64: z.string().optional(),
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

export class AgentConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid agent config ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'AgentConfigError';
  }
}

/** Paths (in the config) of the files it names, checked readable so a typo shows at start, not at first connect. */
const FILE_FIELDS: YamlPath[] = [
  ['temporal', 'tls', 'ca'],
  ['temporal', 'tls', 'cert'],
  ['temporal', 'tls', 'key'],
];

export async function loadAgentConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  const text = await readFile(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (p: { line: number; col: number }) => `${file}:${p.line}:${p.col}`;
  if (doc.errors.length > 0) {
    throw new AgentConfigError(
      file,
      doc.errors.map((e) => `${at(lines.linePos(e.pos[0]))}: ${e.message.split('\n')[0]}`),
    );
  }
  const raw = doc.toJS() as unknown;
  const src = new SourceDoc(file, doc, lines, 0, raw);
  if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new AgentConfigError(file, [`${at(src.pos([]))}: the config is a mapping of settings`]);
  }
  // A section left with only comments under it (`bmc:`) is YAML null: it means "defaults", as if absent.
  const merged: Record<string, unknown> = Object.fromEntries(
    Object.entries((raw as Record<string, unknown> | null) ?? {}).filter(([, v]) => v !== null),
  );
  if (env.VAQUERO_AGENT_ID) merged.agent_id = env.VAQUERO_AGENT_ID;
  if (env.VAQUERO_SITE) merged.site = env.VAQUERO_SITE;
  if (env.VAQUERO_DATA_DIR) merged.data_dir = env.VAQUERO_DATA_DIR;
  const temporal = { ...((merged.temporal as Record<string, unknown> | undefined) ?? {}) };
  if (env.TEMPORAL_ADDRESS) temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) temporal.namespace = env.TEMPORAL_NAMESPACE;
  const codec = codecSettingsFromEnv(env);
  if (codec) temporal.codec = codec;
  merged.temporal = temporal;
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new AgentConfigError(
      file,
      parsed.error.issues.map((i) => {
        const where = at(src.pos(i.path as YamlPath, { key: i.code === 'unrecognized_keys' }));
        const field = i.path.join('.') || '(config)';
        const extra = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
        return `${where}: ${field}: ${i.message}${extra}`;
      }),
    );
  }
  const c = parsed.data;
  const dir = path.dirname(file);
  c.data_dir = path.resolve(dir, c.data_dir);
  if (c.assets.root) c.assets.root = path.resolve(dir, c.assets.root);
  if (typeof c.temporal?.tls === 'object') {
    const tls = c.temporal.tls;
    for (const k of ['ca', 'cert', 'key'] as const)
      if (tls[k] !== undefined) tls[k] = path.resolve(dir, tls[k]);
  }
  const codecConf = c.temporal?.codec;
  if (codecConf && 'keys' in codecConf)
    for (const k of codecConf.keys) if (k.file !== undefined) k.file = path.resolve(dir, k.file);
  const unreadable: string[] = [];
  for (const p of FILE_FIELDS) {
    const value = p.reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string | number, unknown>)[k] : undefined),
      c,
    );
    if (typeof value !== 'string') continue;
    try {
      await access(value, constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      unreadable.push(`${at(src.pos(p))}: ${p.join('.')}: cannot read ${value} (${code})`);
    }
  }
  if (unreadable.length > 0) throw new AgentConfigError(file, unreadable);
  return c;
}
