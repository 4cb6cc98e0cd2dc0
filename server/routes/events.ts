// GET /events: a server-sent event stream of host and rollout changes as this replica's index sees them
// (`event: host` / `event: rollout`, JSON data, ids for Last-Event-ID). A comment line every 15 s keeps
// proxies from closing an idle stream.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { errorResponses } from '../errors.ts';
import type { FeedEvent, FeedEventType } from '../event-feed.ts';
import { SseStreams } from '../sse-streams.ts';

function frame(e: FeedEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export async function eventRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const streams = new SseStreams(app);
  app.get<{ Querystring: { types?: string } }>(
    '/events',
    {
      config: { access: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Live stream (server-sent events) of host and rollout changes',
        description:
          'Each event: `id`, `event` (host or rollout) and JSON `data`. Send Last-Event-ID to replay what this replica still buffers. Changes are seen at index refreshes.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            types: {
              type: 'string',
              pattern: '^(host|rollout)(,(host|rollout))*$',
              description: 'Comma-separated: host, rollout (default both)',
            },
          },
        },
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 64 } } },
        produces: ['text/event-stream'],
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const types = new Set<FeedEventType>(
        (request.query.types ?? 'host,rollout').split(',') as FeedEventType[],
      );
      const lastId = request.headers['last-event-id'];
      let first = `retry: 2000\n: vaquero events from ${ctx.feed.instance}\n\n`;
      for (const e of ctx.feed.since(typeof lastId === 'string' ? lastId : undefined))
        if (types.has(e.type)) first += frame(e);
      streams.start(request, reply, first, (write) =>
        ctx.feed.subscribe((e) => {
          if (types.has(e.type)) write(frame(e));
        }),
      );
    },
  );
}
