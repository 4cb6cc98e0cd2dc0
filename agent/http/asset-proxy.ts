// A caching, streaming reverse proxy for assets that live on an upstream mirror: the first request streams from
// upstream to the client while the body is written to the cache; later requests are served from disk (with
// ranges and ETags). Range requests for an uncached file pass through uncached.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyReply } from 'fastify';

export interface ProxyResult {
  status: number;
  cachedPath?: string;
}

export class AssetProxy {
  constructor(
    private readonly upstream: string,
    private readonly cacheDir: string,
    private readonly timeoutMs = 60_000,
  ) {}

  cachePath(rel: string): string {
    return path.join(this.cacheDir, rel);
  }

  async isCached(rel: string): Promise<boolean> {
    return stat(this.cachePath(rel)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** Streams `rel` from upstream to the reply, caching the full body when the request has no Range. */
  async fetchInto(rel: string, range: string | undefined, reply: FastifyReply): Promise<void> {
    const url = `${this.upstream.replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`;
    const res = await fetch(url, {
      headers: range ? { range } : {},
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok || !res.body) {
      reply
        .code(res.status === 404 ? 404 : 502)
        .send({ error: `upstream answered ${res.status} for ${rel}` });
      return;
    }
    reply.code(res.status);
    for (const h of [
      'content-type',
      'content-length',
      'content-range',
      'etag',
      'last-modified',
      'accept-ranges',
    ]) {
      const v = res.headers.get(h);
      if (v) reply.header(h, v);
    }
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    if (range || res.status !== 200) {
      await reply.send(body);
      return;
    }
    const target = this.cachePath(rel);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.part-${process.pid}-${Date.now()}`;
    const file = createWriteStream(tmp);
    const toClient = new PassThrough();
    // One loop feeds both the client and the cache file, honouring backpressure on each; a failure on either
    // side (upstream cut, client gone) leaves no cache entry behind.
    const pump = (async () => {
      try {
        for await (const chunk of body) {
          if (!toClient.write(chunk)) await once(toClient, 'drain');
          if (!file.write(chunk)) await once(file, 'drain');
        }
        await new Promise<void>((resolve, reject) =>
          file.end((err?: Error | null) => (err ? reject(err) : resolve())),
        );
        await rename(tmp, target);
        // Ended only once the cache holds the file: a client that got the whole body finds it cached.
        toClient.end();
      } catch (err) {
        toClient.destroy(err instanceof Error ? err : new Error(String(err)));
        file.destroy();
        await rm(tmp, { force: true });
      }
    })();
    await reply.send(toClient);
    await pump;
  }
}
