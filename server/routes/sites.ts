// Sites (from the host index: how many hosts in each state and stage; from the agents' status reports: DHCP
// conflicts on their segments, a proxy's missing server) and the SoTs this server is configured for.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { ApiError } from '../../domain/api-error.ts';
import { errorResponses } from '../errors.ts';

/** A git URL may carry credentials (https://user:token@host/…); they are nobody's business here. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

const countsSchema = { type: 'object', additionalProperties: { type: 'integer' } } as const;

/** What one agent reports about its segment (domain/agent-status.ts), with its alerts in words. */
const agentSchema = {
  type: 'object',
  required: ['agent', 'reportedAt', 'alerts'],
  properties: {
    agent: { type: 'string' },
    reportedAt: { type: 'string', format: 'date-time', description: 'When the agent last reported a change' },
    dhcp: {
      type: 'object',
      description: "The authoritative-DHCP detector's findings; absent when the agent's DHCP is off",
      required: ['mode', 'conflicts', 'moreConflicts'],
      properties: {
        mode: { type: 'string', enum: ['server', 'proxy'] },
        conflicts: {
          type: 'array',
          description:
            'Other DHCP servers answering on its segments: every one in server mode, other ProxyDHCP servers in proxy mode',
          items: {
            type: 'object',
            required: ['serverId', 'source', 'interface', 'givesAddresses', 'firstSeen', 'lastSeen'],
            properties: {
              serverId: { type: 'string' },
              source: { type: 'string' },
              interface: { type: 'string' },
              givesAddresses: { type: 'boolean' },
              firstSeen: { type: 'string', format: 'date-time' },
              lastSeen: { type: 'string', format: 'date-time' },
            },
          },
        },
        moreConflicts: { type: 'integer' },
        expectedServerMissingSince: {
          type: 'string',
          format: 'date-time',
          description: "Proxy mode: since when the site's DHCP server has not answered the hosts",
        },
      },
    },
    alerts: { type: 'array', items: { type: 'string' } },
  },
} as const;

export async function siteRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/sites',
    {
      config: { access: 'read' },
      schema: {
        tags: ['fleet'],
        summary:
          'Sites with their hosts counted by state and by stage, and what their agents report about their segments',
        response: {
          200: {
            type: 'object',
            required: ['sites'],
            properties: {
              sites: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['site', 'hosts', 'byState', 'byStage', 'agents', 'alerts'],
                  properties: {
                    site: { type: 'string' },
                    hosts: { type: 'integer' },
                    byState: countsSchema,
                    byStage: countsSchema,
                    agents: { type: 'array', items: agentSchema },
                    alerts: { type: 'integer', description: "Every agent's alerts, counted" },
                  },
                },
              },
            },
          },
          ...errorResponses(503),
        },
      },
    },
    async () => {
      if (!ctx.index.synced) throw new ApiError(503, 'index_not_ready', 'the host index is still loading');
      return { sites: ctx.index.siteStatuses() };
    },
  );

  app.get(
    '/sots',
    {
      config: { access: 'read' },
      schema: {
        tags: ['gitops'],
        summary: 'The SoTs this server rolls out',
        response: {
          200: {
            type: 'object',
            required: ['sots'],
            properties: {
              sots: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['name', 'kind', 'autoRollout'],
                  properties: {
                    name: { type: 'string' },
                    kind: { type: 'string', enum: ['dir', 'git', 'github'] },
                    location: { type: 'string', description: 'Folder, git URL or owner/repo' },
                    branch: { type: 'string' },
                    autoRollout: { type: 'boolean' },
                  },
                },
              },
            },
          },
          ...errorResponses(),
        },
      },
    },
    async () => ({
      sots: ctx.sources.list().map((s) => ({
        name: s.name,
        kind: s.kind,
        location: s.kind === 'dir' ? s.path : s.kind === 'git' ? redactUrl(s.url) : s.repo,
        ...(s.kind !== 'dir' ? { branch: s.branch } : {}),
        autoRollout: s.autoRollout,
      })),
    }),
  );
}
