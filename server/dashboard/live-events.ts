// GET /ui/events: the dashboard's live feed, from the same EventFeed as GET /events, for a signed-in session
// (EventSource sends the cookie, not a bearer header). Each change is a small `change` event naming what changed
// (`host:<site>/<host>` or `rollout:<id>`); the page decides whether it shows it and redraws itself
// (assets/live.js). Nothing polls: a quiet fleet sends only a comment every 15 s.
import type { FastifyInstance } from 'fastify';
import type { EventFeed, FeedEvent } from '../event-feed.ts';
import type { TokenVerifier } from '../auth.ts';
import { sessionOf } from './session.ts';
import { SseStreams } from '../sse-streams.ts';

export function changeKey(e: FeedEvent): string {
  const d = e.data;
  return e.type === 'host' ? `host:${String(d.site)}/${String(d.host)}` : `rollout:${String(d.id)}`;
}

export async function dashboardEvents(
  app: FastifyInstance,
  opts: { feed: EventFeed; verifier: TokenVerifier },
): Promise<void> {
  const streams = new SseStreams(app);
  app.get('/ui/events', { config: { access: 'session' }, schema: { hide: true } }, async (request, reply) => {
    if (!sessionOf(request, opts.verifier)) return reply.code(401).send('sign in first');
    streams.start(request, reply, 'retry: 2000\n: vaquero dashboard\n\n', (write) =>
      opts.feed.subscribe((e) => write(`event: change\ndata: ${JSON.stringify(changeKey(e))}\n\n`)),
    );
  });
}
