// Rollouts: the list (from the index), one with per-host progress (from the workflow), starting one, and
// pause / resume / abort (workflow updates, so the answer is the state the rollout is in afterwards).
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { ApiError } from '../../domain/api-error.ts';
import { errorResponses } from '../errors.ts';
import type { RolloutRow } from '../fleet-index.ts';
import { REVISION_PATTERN, SOT_PATTERN, ref } from '../schemas.ts';

const rolloutParams = {
  type: 'object',
  required: ['sot', 'revision'],
  properties: {
    sot: { type: 'string', pattern: SOT_PATTERN },
    revision: { type: 'string', pattern: REVISION_PATTERN },
  },
} as const;

const reasonBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 500 } },
} as const;

function encode(r: RolloutRow): string {
  return Buffer.from(`${r.startedAt}|${r.id}`, 'utf8').toString('base64url');
}

function decode(cursor: string): { at: number; id: string } | undefined {
  const m = /^(\d+)\|(rollout\/.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { at: Number(m[1]), id: m[2]! } : undefined;
}

function view(r: RolloutRow) {
  return {
    id: r.id,
    sot: r.sot,
    revision: r.revision,
    state: r.state,
    status: r.status,
    startedAt: new Date(r.startedAt).toISOString(),
    ...(r.closedAt !== undefined ? { closedAt: new Date(r.closedAt).toISOString() } : {}),
    ...(r.counts ? { counts: r.counts } : {}),
    ...(r.total !== undefined ? { total: r.total } : {}),
  };
}

export async function rolloutRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get<{ Querystring: { sot?: string; state?: string; limit: number; cursor?: string } }>(
    '/rollouts',
    {
      config: { access: 'read' },
      schema: {
        tags: ['rollouts'],
        summary: 'Rollouts, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sot: { type: 'string', pattern: SOT_PATTERN },
            state: { type: 'string', pattern: '^[a-z_]{1,32}$' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            cursor: { type: 'string', maxLength: 400 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['rollouts', 'total'],
            properties: {
              rollouts: { type: 'array', items: ref('RolloutSummary') },
              total: { type: 'integer' },
              nextCursor: { type: 'string' },
            },
          },
          ...errorResponses(400, 503),
        },
      },
    },
    async (request) => {
      const q = request.query;
      if (!ctx.index.synced) throw new ApiError(503, 'index_not_ready', 'the index is still loading');
      const all = ctx.index.listRollouts({
        ...(q.sot !== undefined ? { sot: q.sot } : {}),
        ...(q.state !== undefined ? { state: q.state } : {}),
      });
      let start = 0;
      if (q.cursor !== undefined) {
        const c = decode(q.cursor);
        if (!c) throw new ApiError(400, 'bad_cursor', 'cursor is not one this API returned');
        start = all.findIndex((r) => r.startedAt < c.at || (r.startedAt === c.at && r.id > c.id));
        if (start < 0) start = all.length;
      }
      const page = all.slice(start, start + q.limit);
      const more = start + q.limit < all.length;
      return {
        rollouts: page.map(view),
        total: all.length,
        ...(more && page.length ? { nextCursor: encode(page[page.length - 1]!) } : {}),
      };
    },
  );

  app.post<{ Body: { sot: string; revision?: string; force?: boolean; only?: string[] } }>(
    '/rollouts',
    {
      config: { access: 'operate' },
      schema: {
        tags: ['rollouts'],
        summary: 'Start the rollout of a configured SoT at a revision (default: its current one)',
        description: 'Answers 201 when a rollout was started, 200 when that rollout is already running.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sot'],
          properties: {
            sot: { type: 'string', pattern: SOT_PATTERN },
            revision: {
              type: 'string',
              pattern: REVISION_PATTERN,
              description:
                'Full commit id (git, github) or dir-<12 hex> (folder); default: branch head / folder content now',
            },
            force: {
              type: 'boolean',
              description: 'Reprovision hosts that already reached this revision too',
            },
            only: {
              type: 'array',
              maxItems: 10000,
              items: {
                type: 'string',
                pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
              },
              description: 'Only these hosts (site/host)',
            },
          },
        },
        response: { 200: ref('StartResult'), 201: ref('StartResult'), ...errorResponses(400, 404, 502, 503) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const r = await ctx.ops.startRollout({
        sot: ctx.sources.get(b.sot),
        ...(b.revision !== undefined ? { revision: b.revision } : {}),
        ...(b.force !== undefined ? { force: b.force } : {}),
        ...(b.only !== undefined ? { only: b.only } : {}),
        trigger: 'api',
      });
      return reply.code(r.started ? 201 : 200).send(r);
    },
  );

  app.get<{ Params: { sot: string; revision: string } }>(
    '/rollouts/:sot/:revision',
    {
      config: { access: 'read' },
      schema: {
        tags: ['rollouts'],
        summary: 'One rollout with per-host progress and its timeline',
        params: rolloutParams,
        response: { 200: ref('RolloutDetail'), ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => ctx.ops.rollout(ctx.ops.parseRolloutId(request.params.sot, request.params.revision)),
  );

  for (const action of ['pause', 'resume', 'abort'] as const) {
    app.post<{ Params: { sot: string; revision: string }; Body: { reason?: string } | undefined }>(
      `/rollouts/:sot/:revision/${action}`,
      {
        config: { access: 'operate' },
        schema: {
          tags: ['rollouts'],
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a rollout`,
          params: rolloutParams,
          ...(action === 'resume' ? {} : { body: reasonBody }),
          response: {
            200: {
              type: 'object',
              required: ['id', 'state'],
              properties: { id: { type: 'string' }, state: { type: 'string' } },
            },
            ...errorResponses(400, 404, 409),
          },
        },
      },
      async (request) => {
        const id = ctx.ops.parseRolloutId(request.params.sot, request.params.revision);
        const who = request.principal?.name ?? 'api';
        const reason = request.body?.reason ? `${request.body.reason} (${who})` : `${action} by ${who}`;
        return { id, state: await ctx.ops.rolloutAction(id, action, reason) };
      },
    );
  }
}
