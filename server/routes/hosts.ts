// Hosts: the fleet listing (from this replica's index: filters, cursor pagination, fast at 10,000 hosts), one
// host in full (from its workflow: stage, time in stage, attempts, last error, timeline), and the actions on
// hosts: reprovision, and override of the stage a host waits in.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { ApiError } from '../../domain/api-error.ts';
import { errorResponses } from '../errors.ts';
import { decodeCursor } from '../fleet-index.ts';
import type { StageOverride } from '../../domain/host.ts';
import { HOST_STAGES } from '../../domain/host-stages.ts';
import { NAME_PATTERN, SOT_PATTERN, REVISION_PATTERN, ref } from '../schemas.ts';

export const MAX_PAGE = 10_000;
/** Serialized listings kept per index version: dashboards poll the same few pages. */
const CACHED_PAGES = 32;

interface ListQuery {
  site?: string;
  stage?: string;
  state?: string;
  revision?: string;
  limit: number;
  cursor?: string;
}

const hostParams = {
  type: 'object',
  required: ['site', 'host'],
  properties: {
    site: { type: 'string', pattern: NAME_PATTERN },
    host: { type: 'string', pattern: NAME_PATTERN },
  },
} as const;

export async function hostRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  // Serializing 10,000 rows is most of a full listing's cost; until the index changes (or refreshes, which moves
  // `indexedAt`), the same request gets the same bytes.
  const pages = new Map<string, string>();
  let pagesAt = '';
  app.get<{ Querystring: ListQuery }>(
    '/hosts',
    {
      config: { access: 'read' },
      schema: {
        tags: ['fleet'],
        summary: 'Hosts (newest run of each), filtered and paginated, in site/host order',
        description: `Served from this replica's index of Temporal visibility, refreshed every ${ctx.config.indexRefreshMs} ms: a row is at most one refresh (plus visibility lag) old.`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            site: { type: 'string', pattern: NAME_PATTERN },
            stage: { type: 'string', enum: [...HOST_STAGES] },
            state: {
              type: 'string',
              enum: ['running', 'provisioned', 'failed', 'cancelled', 'terminated', 'timed_out'],
            },
            revision: { type: 'string', pattern: REVISION_PATTERN },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
            cursor: { type: 'string', maxLength: 400, description: 'nextCursor of the previous page' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['hosts', 'total', 'indexedAt'],
            properties: {
              hosts: { type: 'array', items: ref('HostSummary') },
              total: { type: 'integer', description: 'Hosts matching the filter, on all pages' },
              nextCursor: { type: 'string' },
              indexedAt: {
                type: 'string',
                format: 'date-time',
                description: 'When this replica last refreshed its index',
              },
            },
          },
          ...errorResponses(400, 503),
        },
      },
    },
    async function (request, reply) {
      const q = request.query;
      if (!ctx.index.synced) throw new ApiError(503, 'index_not_ready', 'the host index is still loading');
      let cursor: string | undefined;
      if (q.cursor !== undefined) {
        cursor = decodeCursor(q.cursor);
        if (cursor === undefined)
          throw new ApiError(400, 'bad_cursor', 'cursor is not one this API returned');
      }
      const at = `${ctx.index.hostVersion}@${ctx.index.refreshedAt}`;
      if (at !== pagesAt) {
        pages.clear();
        pagesAt = at;
      }
      const key = JSON.stringify([q.site, q.stage, q.state, q.revision, q.limit, cursor]);
      let body = pages.get(key);
      if (body === undefined) {
        const page = ctx.index.listHosts(
          {
            ...(q.site !== undefined ? { site: q.site } : {}),
            ...(q.stage !== undefined ? { stage: q.stage } : {}),
            ...(q.state !== undefined ? { state: q.state } : {}),
            ...(q.revision !== undefined ? { revision: q.revision } : {}),
          },
          q.limit,
          cursor,
        );
        body = reply.serialize({
          ...page,
          indexedAt: new Date(ctx.index.refreshedAt).toISOString(),
        }) as string;
        if (pages.size >= CACHED_PAGES) pages.delete(pages.keys().next().value as string);
        pages.set(key, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get<{ Params: { site: string; host: string } }>(
    '/hosts/:site/:host',
    {
      config: { access: 'read' },
      schema: {
        tags: ['fleet'],
        summary: 'One host: stage, time in stage, attempts, last error and its full event timeline',
        params: hostParams,
        response: { 200: ref('HostDetail'), ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => ctx.ops.host(request.params.site, request.params.host),
  );

  app.post<{ Params: { site: string; host: string }; Body: Omit<StageOverride, 'by'> }>(
    '/hosts/:site/:host/override',
    {
      config: { access: 'operate' },
      schema: {
        tags: ['fleet'],
        summary: "Override the stage a host waits in (the original Vaquero's /override)",
        description:
          'complete: treat the boot event(s) the stage waits for as seen (e.g. a host that booted but whose DHCP went unseen); fail: fail the run now. Only netboot/* and installing can be overridden; give `stage` to act only if the host is still there.',
        params: hostParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['action', 'reason'],
          properties: {
            action: { type: 'string', enum: ['complete', 'fail'] },
            stage: { type: 'string', enum: [...HOST_STAGES] },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
        },
        response: { 200: ref('HostDetail'), ...errorResponses(400, 404, 409) },
      },
    },
    async (request) => {
      const { site, host } = request.params;
      const b = request.body;
      await ctx.ops.overrideStage(site, host, {
        action: b.action,
        reason: b.reason,
        ...(b.stage ? { stage: b.stage } : {}),
        ...(request.principal ? { by: request.principal.name } : {}),
      });
      return ctx.ops.host(site, host);
    },
  );

  app.post<{ Body: { hosts: string[]; sot?: string; force?: boolean } }>(
    '/hosts/reprovision',
    {
      config: { access: 'operate' },
      schema: {
        tags: ['fleet'],
        summary: "Reprovision hosts now, at the revision of their SoT's newest rollout",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['hosts'],
          properties: {
            hosts: {
              type: 'array',
              minItems: 1,
              maxItems: 1000,
              uniqueItems: true,
              items: {
                type: 'string',
                pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
                description: 'site/host',
              },
            },
            sot: {
              type: 'string',
              pattern: SOT_PATTERN,
              description: 'Needed when several SoTs are configured',
            },
            force: {
              type: 'boolean',
              description: 'Reprovision hosts whose never_provision is set too (without it they are a 409)',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['results'],
            properties: {
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['host', 'workflowId', 'started'],
                  properties: {
                    host: { type: 'string' },
                    workflowId: { type: 'string' },
                    started: { type: 'boolean' },
                    revision: { type: 'string' },
                    error: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errorResponses(400, 404, 409),
        },
      },
    },
    async (request) => ({
      results: await ctx.ops.reprovision(request.body.hosts, request.body.sot, request.body.force === true),
    }),
  );
}
