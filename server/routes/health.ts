// Liveness (the process answers), readiness (Temporal reachable, control workers polling, index synced) and
// Prometheus metrics. Which of them need a token is configuration (auth.open).
import type { FastifyInstance } from 'fastify';
import { securityFor } from '../app-context.ts';
import type { RouteOptions } from '../app-context.ts';
import { errorResponses } from '../errors.ts';

const readinessSchema = {
  type: 'object',
  required: ['ready', 'temporal', 'workers', 'index'],
  properties: {
    ready: { type: 'boolean' },
    temporal: {
      type: 'object',
      required: ['reachable', 'namespace'],
      properties: {
        reachable: { type: 'boolean' },
        namespace: { type: 'string' },
        error: { type: 'string' },
      },
    },
    workers: {
      type: 'object',
      required: ['controlQueue', 'workflowPollers', 'activityPollers'],
      properties: {
        controlQueue: { type: 'string' },
        workflowPollers: { type: 'integer' },
        activityPollers: { type: 'integer' },
      },
    },
    index: {
      type: 'object',
      required: ['synced', 'ageSeconds'],
      properties: { synced: { type: 'boolean' }, ageSeconds: { type: 'number', nullable: true } },
    },
  },
} as const;

export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/live',
    {
      config: { access: 'read', openable: '/live' },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        ...securityFor(ctx, '/live'),
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
          ...errorResponses(),
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: { access: 'read', openable: '/ready' },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: Temporal reachable, control-plane workers polling, host index synced',
        ...securityFor(ctx, '/ready'),
        response: { 200: readinessSchema, 503: readinessSchema, ...errorResponses() },
      },
    },
    async (_request, reply) => {
      const r = await ctx.readiness();
      return reply.code(r.ready ? 200 : 503).send(r);
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'read', openable: '/metrics' },
      schema: {
        tags: ['operations'],
        summary:
          'Prometheus metrics: hosts by stage per site, rollouts, boot events, BMC operations, request latencies',
        ...securityFor(ctx, '/metrics'),
        produces: ['text/plain'],
        response: {
          200: { type: 'string', description: 'Prometheus text exposition format' },
          ...errorResponses(),
        },
      },
    },
    async (_request, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    },
  );
}
