// GET /health: what the agent serves from (revision, open gates) and how its boot services and events fare. It
// answers 200 with `ready: true` only when the agent serves boots (a site model held, every boot service
// listening: http-context.ts readiness), and 503 with `ready: false` and the reason otherwise; `ok` says the agent
// answers at all.
import type { FastifyInstance } from 'fastify';
import { describeMissing } from '../../boot-files-check.ts';
import { readiness } from '../http-context.ts';
import type { AgentHttpContext } from '../http-context.ts';

export function healthRoute(app: FastifyInstance, { opts, refusals }: AgentHttpContext): void {
  app.get('/health', async (_req, reply) => {
    const r = readiness(opts);
    const services = opts.services?.();
    reply.code(r.ready ? 200 : 503);
    return {
      ok: true,
      ready: r.ready,
      ...(r.ready ? {} : { reason: r.reasons.join('; ') }),
      agent: opts.agentId,
      site: opts.site,
      revision: opts.cache.siteModel()?.revision ?? null,
      openGates: opts.cache.openEntries().length,
      events: { ...opts.recorder.stats(), refused: refusals.total('not_this_host') },
      outbox: opts.outbox?.stats(),
      // Not a readiness reason: hosts of the other firmware still boot. Each also logged as an error at start.
      ...(opts.missingBootFiles
        ? { bootFiles: { missing: opts.missingBootFiles().map(describeMissing) } }
        : {}),
      ...opts.health?.(),
      ...(services
        ? {
            services: Object.fromEntries(services.map((s) => [s.name, { ...s.stats(), state: s.state }])),
          }
        : {}),
    };
  });
}
