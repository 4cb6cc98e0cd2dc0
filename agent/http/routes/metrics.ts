// GET /metrics: the agent's Prometheus metrics (agent/metrics.ts), in the text exposition format.
import type { FastifyInstance } from 'fastify';
import type { AgentMetrics } from '../../metrics.ts';

export function metricsRoute(app: FastifyInstance, metrics: AgentMetrics): void {
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
