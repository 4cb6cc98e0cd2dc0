// GET /ui/events: the dashboard's live feed, from the same EventFeed as GET /events, for a signed-in session
// (EventSource sends the cookie, not a bearer header). Each change is a small `change` event naming what changed
// (`host:<site>/<host>` or `rollout:<id>`); the page decides whether it shows it and redraws itself
// (assets/live.js). Nothing polls: a quiet fleet sends only a comment every 15 s.
import type { FastifyInstance } from 'fastify';
import type { EventFeed, FeedEvent } from '../event-feed.ts';
import type { TokenVerifier } from '../auth.ts';
import { sessionOf } from './session.ts';

const HEARTBEAT_MS = 15_000;

export function changeKey(e: FeedEvent): string {
  const d = e.data;
  return e.type === 'host' ? `host:${String(d.site)}/${String(d.host)}` : `rollout:${String(d.id)}`;
}

export async function dashboardEvents(
  app: FastifyInstance,
  opts: { feed: EventFeed; verifier: TokenVerifier },
): Promise<void> {
  const open = new Set<() => void>();
  // preClose: before the server waits for its connections to end, which a stream never does by itself.
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });
  app.get('/ui/events', { config: { access: 'session' }, schema: { hide: true } }, async (request, reply) => {
    if (!sessionOf(request, opts.verifier)) return reply.code(401).send('sign in first');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n: vaquero dashboard\n\n');
    const unsubscribe = opts.feed.subscribe((e) => {
      res.write(`event: change\ndata: ${JSON.stringify(changeKey(e))}\n\n`);
    });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const end = () => {
      clearInterval(beat);
      unsubscribe();
      open.delete(close);
    };
    const close = () => {
      end();
      res.end();
    };
    open.add(close);
    request.raw.on('close', end);
  });
}
