// GET /hosts/{site}/{host}/logs: the installer log lines the site's agents received from the host (syslog and HTTP
// posts), newest last, read from the agents through Temporal (server/host-logs.ts).
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { MAX_LOG_LINES_PER_QUERY } from '../../domain/installer-logs.ts';
import { errorResponses } from '../errors.ts';
import { agentsOfTimeline, readHostInstallerLogs } from '../host-logs.ts';
import { NAME_PATTERN } from '../schemas.ts';

const lineSchema = {
  type: 'object',
  required: ['at', 'agent', 'transport', 'from', 'text'],
  properties: {
    at: { type: 'integer', description: 'Epoch milliseconds at the agent' },
    agent: { type: 'string' },
    transport: { type: 'string', enum: ['syslog', 'http'] },
    from: { type: 'string', description: "The sender's address" },
    severity: { type: 'integer', description: 'Syslog severity (0 emergency … 7 debug), when given' },
    app: { type: 'string', description: 'Syslog APP-NAME or TAG, when given' },
    text: { type: 'string' },
  },
} as const;

export async function hostLogRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get<{ Params: { site: string; host: string }; Querystring: { limit: number } }>(
    '/hosts/:site/:host/logs',
    {
      config: { access: 'read' },
      schema: {
        tags: ['fleet'],
        summary: "The host's installer log lines (its newest run), as the site's agents received them",
        description:
          'Asked of the agents that saw the host boot, through a short workflow on the control queue; an agent that does not answer within 15 s is listed with its error.',
        params: {
          type: 'object',
          required: ['site', 'host'],
          properties: {
            site: { type: 'string', pattern: NAME_PATTERN },
            host: { type: 'string', pattern: NAME_PATTERN },
          },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_LOG_LINES_PER_QUERY, default: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['site', 'host', 'lines', 'agents'],
            properties: {
              site: { type: 'string' },
              host: { type: 'string' },
              lines: { type: 'array', items: lineSchema },
              agents: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['agent'],
                  properties: {
                    agent: { type: 'string' },
                    runId: { type: 'string' },
                    received: { type: 'integer', description: 'Lines the agent received for the run' },
                    error: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (request) => {
      const { site, host } = request.params;
      // 404 for a host never reprovisioned, and the agents that saw it boot.
      const detail = await ctx.ops.host(site, host);
      const r = await readHostInstallerLogs(
        ctx.client,
        site,
        host,
        agentsOfTimeline(detail.timeline),
        request.query.limit,
      );
      return { site, host, ...r };
    },
  );
}
