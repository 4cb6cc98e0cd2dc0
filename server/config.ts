// Server configuration: a YAML file, then environment overrides. Secrets (API tokens, the webhook secret, GitHub
// credentials) are never written in the file itself, only where to read them: `{ env: NAME }` or
// `{ file: PATH }` (a mounted secret). They never come from the SoT either: a commit must not be able to grant
// itself access.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { GithubAuth } from '../activities/control/github-access.ts';
import { GITHUB_API_URL, checkApiUrl, splitRepo } from '../activities/control/github-access.ts';
import { resolveDataDir } from '../temporal/data-dir.ts';
import { codecSettingsFromEnv } from '../temporal/codec/codec-settings.ts';
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';

export type Role = 'read' | 'operate';

export interface ApiToken {
  name: string;
  role: Role;
  token: string;
}

/** The Temporal UI where `temporal server start-dev` serves it. */
export const DEFAULT_CODEC_CORS_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

/** Routes that may be opened to anonymous callers. */
export const OPENABLE_ROUTES = ['/live', '/ready', '/metrics', '/docs'] as const;
export type OpenableRoute = (typeof OPENABLE_ROUTES)[number];

export type SotConfig =
  | { name: string; kind: 'dir'; path: string; watch: boolean; autoRollout: boolean }
  | { name: string; kind: 'git'; url: string; branch: string; pollSeconds: number; autoRollout: boolean }
  | { name: string; kind: 'github'; repo: string; branch: string; autoRollout: boolean };

export interface GithubConfig {
  apiUrl: string;
  /** The first signs nothing; all are accepted while a secret is being rotated. */
  webhookSecrets: string[];
  auth: GithubAuth;
  /** How push-started rollouts show progress on their commit. */
  report: 'check-run' | 'status' | 'none';
  checkName: string;
  prCheckRun: boolean;
  prComment: boolean;
  /** Start a push's rollout only if its commit is still the branch head (a late or replayed delivery is not). */
  requireHead: boolean;
}

export interface ServerConfig {
  listen: { host: string; port: number };
  dataDir: string;
  /** Where people reach this API (links in check runs). */
  publicUrl?: string;
  /** codec: the payload codec's keys (references) or off; unset: VAQUERO_CODEC_KEYS, or the embedded server's key. */
  temporal: { address?: string; namespace?: string; codec?: CodecSettings };
  /** The Temporal UI's codec server (`POST /codec/decode|encode`): browser origins allowed to call it (default: DEFAULT_CODEC_CORS_ORIGINS). */
  codecEndpoint?: { corsOrigins: string[] };
  /** The Temporal UI's base URL, for the dashboard's links to workflow runs (none: no links). */
  temporalUiUrl?: string;
  /** Run the control-plane worker in the server process. */
  controlWorker: boolean;
  auth: { tokens: ApiToken[]; open: OpenableRoute[] };
  sots: SotConfig[];
  github?: GithubConfig;
  /** How often the host/rollout index asks Temporal for changes. */
  indexRefreshMs: number;
  watchDebounceMs: number;
  logLevel: string;
}

const SECRET_HINT = 'a secret is given as { env: NAME } or { file: PATH }, never inline';
const secretFields = { env: z.string().min(1).optional(), file: z.string().min(1).optional() };
const oneSource = (s: { env?: string | undefined; file?: string | undefined }) =>
  (s.env === undefined) !== (s.file === undefined);
const secretRef = z.object(secretFields, { error: SECRET_HINT }).strict().refine(oneSource, SECRET_HINT);
const sotName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lowercase letters, digits, ".", "_" or "-"');
const branch = z.string().regex(/^[A-Za-z0-9._/-]+$/, 'not a branch name');

const rawSchema = z
  .object({
    listen: z.string().optional(),
    data_dir: z.string().optional(),
    public_url: z.string().url().optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    temporal: z
      .object({
        address: z.string().optional(),
        namespace: z.string().optional(),
        ui_url: z.string().url().optional(),
        // Keys by reference only, like every secret here; the first encrypts, all decrypt.
        codec: z
          .union([
            z.object({ off: z.literal(true) }).strict(),
            z
              .object({
                keys: z
                  .array(
                    z
                      .object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), ...secretFields })
                      .strict()
                      .refine(oneSource, SECRET_HINT),
                  )
                  .min(1, 'at least one key (or codec: { off: true })'),
              })
              .strict(),
          ])
          .optional(),
      })
      .strict()
      .optional(),
    codec_endpoint: z
      .object({
        cors_origins: z
          .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin: http(s)://host[:port]'))
          .optional(),
      })
      .strict()
      .optional(),
    worker: z.object({ control: z.boolean().optional() }).strict().optional(),
    auth: z
      .object({
        tokens: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9._-]+$/),
                role: z.enum(['read', 'operate']),
                ...secretFields,
              })
              .strict()
              .refine(oneSource, SECRET_HINT),
          )
          .optional(),
        open: z.array(z.enum(OPENABLE_ROUTES)).optional(),
      })
      .strict()
      .optional(),
    sots: z
      .array(
        z
          .object({
            name: sotName,
            dir: z.string().optional(),
            watch: z.boolean().optional(),
            git: z.string().optional(),
            poll_s: z.number().int().min(0).optional(),
            github: z.string().optional(),
            branch: branch.optional(),
            auto_rollout: z.boolean().optional(),
          })
          .strict(),
      )
      .optional(),
    github: z
      .object({
        api_url: z.string().optional(),
        webhook_secret: secretRef.optional(),
        previous_webhook_secret: secretRef.optional(),
        token: secretRef.optional(),
        app: z
          .object({
            id: z.union([z.string(), z.number()]),
            private_key: secretRef,
            installation_id: z.number().int(),
          })
          .strict()
          .optional(),
        report: z.enum(['check-run', 'status', 'none']).optional(),
        check_name: z.string().min(1).optional(),
        pr: z
          .object({ check_run: z.boolean().optional(), comment: z.boolean().optional() })
          .strict()
          .optional(),
        require_head: z.boolean().optional(),
      })
      .strict()
      .optional(),
    index: z
      .object({ refresh_ms: z.number().int().min(100).optional() })
      .strict()
      .optional(),
    watch: z
      .object({ debounce_ms: z.number().int().min(0).optional() })
      .strict()
      .optional(),
  })
  .strict();

type Raw = z.infer<typeof rawSchema>;
type SecretRef = z.infer<typeof secretRef>;

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`listen address "${s}" is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

async function readSecret(
  ref: SecretRef,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  what: string,
): Promise<string> {
  if (ref.env !== undefined) {
    const v = env[ref.env];
    if (!v) throw new Error(`${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  const file = path.resolve(baseDir, ref.file!);
  try {
    // Secret files usually end with a newline that is not part of the secret.
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`${what}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/** Reads and checks a configuration file (or none: environment only). */
export async function loadServerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerConfig> {
  let raw: unknown = {};
  let baseDir = process.cwd();
  if (file) {
    baseDir = path.dirname(path.resolve(file));
    const text = await readFile(file, 'utf8');
    try {
      raw = parse(text) ?? {};
    } catch (err) {
      throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  const parsed = rawSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new Error(`${file ?? 'configuration'} is invalid:\n${lines.join('\n')}`);
  }
  return resolveConfig(parsed.data, env, baseDir);
}

async function resolveConfig(r: Raw, env: NodeJS.ProcessEnv, baseDir: string): Promise<ServerConfig> {
  const tokens: ApiToken[] = [];
  for (const t of r.auth?.tokens ?? []) {
    tokens.push({ name: t.name, role: t.role, token: await readSecret(t, env, baseDir, `token ${t.name}`) });
  }
  // Environment-only setups (containers): one token per role.
  if (env.VAQUERO_OPERATE_TOKEN)
    tokens.push({ name: 'env-operate', role: 'operate', token: env.VAQUERO_OPERATE_TOKEN });
  if (env.VAQUERO_READ_TOKEN) tokens.push({ name: 'env-read', role: 'read', token: env.VAQUERO_READ_TOKEN });
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.token.length < 16) throw new Error(`token ${t.name} is shorter than 16 characters`);
    if (seen.has(t.name)) throw new Error(`token name ${t.name} is used twice`);
    seen.add(t.name);
  }

  const sots: SotConfig[] = [];
  for (const s of r.sots ?? []) {
    const kinds = [s.dir, s.git, s.github].filter((v) => v !== undefined).length;
    if (kinds !== 1) throw new Error(`sot ${s.name}: give exactly one of dir, git, github`);
    const autoRollout = s.auto_rollout ?? true;
    if (s.dir !== undefined) {
      sots.push({
        name: s.name,
        kind: 'dir',
        path: path.resolve(baseDir, s.dir),
        watch: s.watch ?? false,
        autoRollout,
      });
    } else if (s.git !== undefined) {
      // A relative path names a local repository beside the configuration file.
      const url =
        /^[a-z][a-z0-9+.-]*:\/\//i.test(s.git) || /^[^/\s]+@[^/\s:]+:/.test(s.git)
          ? s.git
          : path.resolve(baseDir, s.git);
      sots.push({
        name: s.name,
        kind: 'git',
        url,
        branch: s.branch ?? 'main',
        pollSeconds: s.poll_s ?? 0,
        autoRollout,
      });
    } else {
      splitRepo(s.github!);
      sots.push({ name: s.name, kind: 'github', repo: s.github!, branch: s.branch ?? 'main', autoRollout });
    }
    if (sots.filter((x) => x.name === s.name).length > 1) throw new Error(`sot name ${s.name} is used twice`);
  }

  let github: GithubConfig | undefined;
  const g = r.github;
  if (g) {
    const apiUrl = (g.api_url ?? env.VAQUERO_GITHUB_API_URL ?? GITHUB_API_URL).replace(/\/$/, '');
    checkApiUrl(apiUrl);
    const webhookSecrets: string[] = [];
    if (g.webhook_secret)
      webhookSecrets.push(await readSecret(g.webhook_secret, env, baseDir, 'github.webhook_secret'));
    if (g.previous_webhook_secret)
      webhookSecrets.push(
        await readSecret(g.previous_webhook_secret, env, baseDir, 'github.previous_webhook_secret'),
      );
    const auth: GithubAuth = {};
    if (g.app) {
      auth.app = {
        appId: String(g.app.id),
        privateKey: await readSecret(g.app.private_key, env, baseDir, 'github.app.private_key'),
        installationId: g.app.installation_id,
      };
    } else if (g.token) {
      auth.token = await readSecret(g.token, env, baseDir, 'github.token');
    }
    github = {
      apiUrl,
      webhookSecrets,
      auth,
      report: g.report ?? 'check-run',
      checkName: g.check_name ?? 'vaquero',
      prCheckRun: g.pr?.check_run ?? true,
      prComment: g.pr?.comment ?? false,
      requireHead: g.require_head ?? true,
    };
  }

  const listen = parseListen(env.VAQUERO_LISTEN ?? r.listen ?? '127.0.0.1:8080');
  const publicUrl = env.VAQUERO_PUBLIC_URL ?? r.public_url;
  const temporalAddress = env.TEMPORAL_ADDRESS || r.temporal?.address;
  const temporalNamespace = env.TEMPORAL_NAMESPACE || r.temporal?.namespace;
  const temporalUiUrl = env.VAQUERO_TEMPORAL_UI_URL || r.temporal?.ui_url;
  const fileCodec = r.temporal?.codec;
  const codec: CodecSettings | undefined =
    codecSettingsFromEnv(env) ??
    (fileCodec && 'keys' in fileCodec
      ? {
          keys: fileCodec.keys.map((k) =>
            k.file !== undefined
              ? { id: k.id, file: path.resolve(baseDir, k.file) }
              : { id: k.id, env: k.env! },
          ),
        }
      : fileCodec);
  const corsOrigins = env.VAQUERO_CODEC_CORS_ORIGINS
    ? env.VAQUERO_CODEC_CORS_ORIGINS.split(',')
        .map((o) => o.trim())
        .filter(Boolean)
    : (r.codec_endpoint?.cors_origins ?? DEFAULT_CODEC_CORS_ORIGINS);
  return {
    listen,
    dataDir: resolveDataDir(
      env.VAQUERO_DATA_DIR ? undefined : r.data_dir && path.resolve(baseDir, r.data_dir),
      env,
    ),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    temporal: {
      ...(temporalAddress !== undefined ? { address: temporalAddress } : {}),
      ...(temporalNamespace !== undefined ? { namespace: temporalNamespace } : {}),
      ...(codec !== undefined ? { codec } : {}),
    },
    codecEndpoint: { corsOrigins },
    ...(temporalUiUrl ? { temporalUiUrl } : {}),
    controlWorker: r.worker?.control ?? true,
    auth: { tokens, open: r.auth?.open ?? ['/live', '/ready', '/metrics', '/docs'] },
    sots,
    ...(github !== undefined ? { github } : {}),
    indexRefreshMs: r.index?.refresh_ms ?? 2000,
    watchDebounceMs: r.watch?.debounce_ms ?? 1000,
    logLevel: env.VAQUERO_LOG_LEVEL ?? r.log_level ?? 'info',
  };
}
