// The server-sent event streams of one app (GET /events, the dashboard's GET /ui/events): each on a hijacked
// reply, with the headers that keep proxies from buffering it and a comment every 15 s so that they do not close
// it while it is quiet; each ends with its client, or with the app before the server waits for its connections
// (preClose), which a stream never ends by itself.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const HEARTBEAT_MS = 15_000;

export class SseStreams {
  private readonly open = new Set<() => void>();

  constructor(app: FastifyInstance) {
    app.addHook('preClose', async () => {
      for (const close of [...this.open]) close();
    });
  }

  /**
   * Starts a stream: writes `first` (the retry hint and a comment, and any replay), then whatever `subscribe`'s
   * `write` is given until the stream ends; `subscribe` returns its unsubscribe.
   */
  start(
    request: FastifyRequest,
    reply: FastifyReply,
    first: string,
    subscribe: (write: (chunk: string) => void) => () => void,
  ): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(first);
    const unsubscribe = subscribe((chunk) => res.write(chunk));
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const end = () => {
      clearInterval(beat);
      unsubscribe();
      this.open.delete(close);
    };
    const close = () => {
      end();
      res.end();
    };
    this.open.add(close);
    request.raw.on('close', end);
  }
}
