// GET /health: what the agent serves from (revision, open gates) and how its boot services and events fare.
import type { FastifyInstance } from 'fastify';
import type { AgentHttpContext } from '../http-context.ts';

export function healthRoute(app: FastifyInstance, { opts, binding }: AgentHttpContext): void {
  app.get('/health', async () => ({
    ok: true,
    agent: opts.agentId,
    site: opts.site,
    revision: opts.cache.siteModel()?.revision ?? null,
    openGates: opts.cache.openEntries().length,
    events: { ...opts.recorder.stats(), refused: binding.refused() },
    outbox: opts.outbox?.stats(),
    ...opts.health?.(),
  }));
}
