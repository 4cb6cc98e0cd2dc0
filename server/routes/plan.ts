// The plan between two revisions of a configured SoT: which hosts would be reprovisioned, and why.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { errorResponses } from '../errors.ts';
import { REVISION_PATTERN, SOT_PATTERN, ref } from '../schemas.ts';

export async function planRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get<{ Querystring: { sot: string; from?: string; to?: string } }>(
    '/plan',
    {
      config: { access: 'read' },
      schema: {
        tags: ['gitops'],
        summary: 'Plan the move from one revision to another',
        description:
          'Without `from`, the plan is against what each host last reached (what a rollout of `to` would do now); without `to`, the SoT as it is now (branch head or folder). An invalid revision gives valid=false with its problems.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['sot'],
          properties: {
            sot: { type: 'string', pattern: SOT_PATTERN },
            from: { type: 'string', pattern: REVISION_PATTERN },
            to: { type: 'string', pattern: REVISION_PATTERN },
          },
        },
        response: { 200: ref('Plan'), ...errorResponses(400, 404, 502, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      const sot = ctx.sources.get(q.sot);
      const to = q.to ?? (await ctx.sources.currentRevision(sot));
      if (q.from !== undefined) ctx.sources.checkRevision(sot, q.from);
      ctx.sources.checkRevision(sot, to);
      return ctx.plans.plan(sot, q.from ?? null, to);
    },
  );
}
