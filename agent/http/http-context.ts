// What every route of the agent's HTTP service is handed: the agent's parts, the one place requests are bound to
// hosts, the count of refused requests, and the small helpers the routes share. Its own file so that app.ts
// imports the routes, never the reverse.
import type { SecretStore } from '../../domain/secret.ts';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { BootEventRecorder } from '../boot-event-recorder.ts';
import type { MissingBootFile } from '../boot-files-check.ts';
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { EventOutbox } from '../event-outbox.ts';
import type { ServiceStatus } from '../metrics.ts';
import type { ModelCache } from '../model-cache.ts';
import type { InstallerLogIntake } from '../installer-logs/log-intake.ts';
import type { NetbootEntry } from '../../domain/site-model.ts';
import { rebase, servedBases } from '../served-base.ts';
import type { ServedBases } from '../served-base.ts';
import { withToken } from './artifact-text.ts';
import type { AssetCache } from './asset-cache.ts';
import type { Binding, HostBinding } from './host-binding.ts';

export interface AgentHttpOptions {
  agentId: string;
  site: string;
  cache: ModelCache;
  tokens: CheckpointTokens;
  recorder: BootEventRecorder;
  outbox?: EventOutbox;
  /** Local folder served under /assets/ (ranges, ETags). */
  assetsRoot?: string;
  /**
   * Mirror to proxy /assets/ from (cached under assetsCache) when a file is not in assetsRoot; without it, the CDN of
   * this agent's SoT agents[] entry (`cdn_url`), read at each request.
   */
  assetsUpstream?: string;
  /** Folder of the proxied assets' cache (asset-cache.ts); no proxying without it. */
  assetsCache?: string;
  /** Bound of that cache in bytes (default 8 GiB). */
  assetsCacheMaxBytes?: number;
  /** How long the CDN has to start answering, and may go silent mid-download (default 30 s). */
  assetsOriginTimeoutMs?: number;
  /** Folder of the iPXE binaries (the TFTP root), served under /boot/ for UEFI HTTP boot. */
  bootRoot?: string;
  /** A pino logger for request logs (none by default). */
  logger?: FastifyBaseLogger;
  /** Extra health facts (worker state, queues). */
  health?: () => Record<string, unknown>;
  /** The boot services beside HTTP (DHCP, TFTP): /health is ready only when each listens; /metrics reads their stats. */
  services?: () => readonly ServiceStatus[];
  /** Whether the site worker polls Temporal (the vaquero_agent_worker_connected gauge; left out without it). */
  workerConnected?: () => boolean;
  /** How booting hosts reach this agent (config http.public_url); default: its SoT agents[] entry's http_url. */
  publicUrl?: string;
  /** The agent's secret store: the secret references of a config are resolved from it as it is served. */
  secrets?: SecretStore;
  /** Boot files the DHCP answers can name that cannot be served, found at start: in /health and /metrics. */
  missingBootFiles?: () => readonly MissingBootFile[];
  /** Where installer log posts (`POST /log/<token>`) go; the route is absent without it. */
  installerLogs?: InstallerLogIntake;
}

export interface AgentHttpContext {
  opts: AgentHttpOptions;
  /** The cache of assets proxied from a CDN (present with assetsCache). */
  assetCache?: AssetCache;
  binding: HostBinding;
  refusals: RefusalCounts;
  /** What a request's access log line (app.ts, one info line per request) says beyond method, URL and status. */
  logNotes: WeakMap<FastifyRequest, Record<string, unknown>>;
}

/** Why a request for a host's script or config was refused. */
export type RefusalReason = Exclude<Binding, { ok: true }>['kind'] | 'no_config' | 'not_a_mac';

/** Refused script and config requests, by route pattern (a handful) and reason: read by /health and /metrics. */
export class RefusalCounts {
  private readonly counts = new Map<string, { route: string; reason: RefusalReason; count: number }>();

  add(route: string, reason: RefusalReason): void {
    const key = `${route} ${reason}`;
    const c = this.counts.get(key);
    if (c) c.count++;
    else this.counts.set(key, { route, reason, count: 1 });
  }

  total(reason: RefusalReason): number {
    let n = 0;
    for (const c of this.counts.values()) if (c.reason === reason) n += c.count;
    return n;
  }

  list(): { route: string; reason: RefusalReason; count: number }[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }
}

/** The route pattern a request matched (`/config/:mac`), never its URL; `unmatched` when none did. */
export function routeOf(req: FastifyRequest): string {
  return (req.is404 ? undefined : req.routeOptions.url) ?? 'unmatched';
}

/**
 * Whether the agent serves boots: it holds a site model (read from its model cache at start, or published since:
 * without one its DHCP answers no host) and every boot service beside HTTP listens. The reasons say what is not.
 */
export function readiness(opts: AgentHttpOptions): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!opts.cache.siteModel()) reasons.push('the model cache holds no site model yet');
  for (const s of opts.services?.() ?? [])
    if (s.state !== 'listening') reasons.push(`${s.name} is not listening (${s.state})`);
  return { ready: reasons.length === 0, reasons };
}

/**
 * A rendered artifact as this agent serves it: the run's checkpoint token where the placeholder is, and this
 * agent's URL where the SoT put another agent's of the site (served-base.ts).
 */
export function servedText(ctx: AgentHttpContext, e: NetbootEntry, text: string): string {
  const bases = basesOf(ctx, e);
  const withOwnBase = bases ? rebase(text, bases.rendered, bases.own) : text;
  return withToken(withOwnBase, checkpointTokenOf(ctx, e));
}

/** The rendered and served bases for a host, when they differ. */
export function basesOf(ctx: AgentHttpContext, e: NetbootEntry): ServedBases | undefined {
  return servedBases(
    ctx.opts.cache.siteModel(),
    ctx.opts.agentId,
    ctx.opts.cache.lookup(e.mac)?.subnet,
    ctx.opts.publicUrl,
  );
}

/** The run's checkpoint token, which the agent puts where the rendered artifacts hold its placeholder. */
export function checkpointTokenOf(ctx: AgentHttpContext, e: NetbootEntry): string {
  return ctx.opts.tokens.tokenFor(e.workflowId, e.runId, e.bootStage);
}

/**
 * A request for a script or config that does not get it: counted by route and reason, and logged. Its access log
 * line (info) says why (`refused`), with the route and the host's MAC when one is known, e.g. a host whose gate is
 * closed; a request that names a host it is not also gets a warning with both sides. Never a boot event.
 */
export function refuseBinding(
  ctx: AgentHttpContext,
  req: FastifyRequest,
  reply: FastifyReply,
  b: Exclude<Binding, { ok: true }>,
): FastifyReply {
  const route = routeOf(req);
  ctx.refusals.add(route, b.kind);
  const mac = b.kind === 'gate_closed' ? b.mac : b.kind === 'not_this_host' ? b.named : undefined;
  ctx.logNotes.set(req, { refused: b.kind, route, ...(mac !== undefined ? { mac } : {}) });
  if (b.kind === 'not_this_host')
    req.log.warn({ ip: req.ip, url: req.url, named: b.named, boundTo: b.boundTo }, 'refused: not this host');
  return reply.code(b.status);
}

/** A refusal of the route's own (no config for the stage, not a MAC): counted like the others. */
export function refuseRequest(
  ctx: AgentHttpContext,
  req: FastifyRequest,
  reply: FastifyReply,
  reason: Extract<RefusalReason, 'no_config' | 'not_a_mac'>,
): FastifyReply {
  const route = routeOf(req);
  ctx.refusals.add(route, reason);
  ctx.logNotes.set(req, { refused: reason, route });
  return reply.code(404);
}

/** The boot credential's query parameter: bounded like every input. */
export const CREDENTIAL_SCHEMA = { type: 'string', maxLength: 64 } as const;
