// What every route of the agent's HTTP service is handed: the agent's parts, the one place requests are bound to
// hosts, and the small helpers the routes share. Its own file so that app.ts imports the routes, never the reverse.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { BootEventRecorder } from '../boot-event-recorder.ts';
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { EventOutbox } from '../event-outbox.ts';
import type { ModelCache } from '../model-cache.ts';
import type { NetbootEntry } from '../../domain/site-model.ts';
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
  /** Mirror to proxy /assets/ from (cached under assetsCache) when a file is not in assetsRoot. */
  assetsUpstream?: string;
  assetsCache?: string;
  /** Folder of the iPXE binaries (the TFTP root), served under /boot/ for UEFI HTTP boot. */
  bootRoot?: string;
  /** A pino logger for request logs (none by default). */
  logger?: FastifyBaseLogger;
  /** Extra health facts (DHCP/TFTP stats, worker state). */
  health?: () => Record<string, unknown>;
}

export interface AgentHttpContext {
  opts: AgentHttpOptions;
  binding: HostBinding;
}

/** The run's checkpoint token, which the agent puts where the rendered artifacts hold its placeholder. */
export function checkpointTokenOf(ctx: AgentHttpContext, e: NetbootEntry): string {
  return ctx.opts.tokens.tokenFor(e.workflowId, e.runId, e.bootStage);
}

/** A request that names a host it is not: refused, logged with both sides, counted; never a boot event. */
export function refuseBinding(
  req: FastifyRequest,
  reply: FastifyReply,
  b: Exclude<Binding, { ok: true }>,
): FastifyReply {
  if (b.status === 403)
    req.log.warn({ ip: req.ip, url: req.url, named: b.named, boundTo: b.boundTo }, 'refused: not this host');
  return reply.code(b.status);
}

/** The boot credential's query parameter: bounded like every input. */
export const CREDENTIAL_SCHEMA = { type: 'string', maxLength: 64 } as const;
