// The agent's `/assets/` as a caching reverse proxy to a CDN or mirror (SoT `agents[].cdn_url`, or the agent config's
// `assets.upstream`): an asset not in the cache is fetched from the origin and streamed to the client while it is
// written to the cache (asset-cache.ts); the route serves later requests from the cache, with ranges, ETags and HEAD
// (@fastify/static), also while the origin is down. A range or HEAD of an uncached asset is passed to the origin and
// not kept. What the origin fails (unreachable, timed out, an error status) is returned as a refusal for the route to
// answer and record: no body is sent then.
//
// Why not a proxy plugin: @fastify/reply-from is not among the agent's dependencies, and no proxy plugin caches;
// Node's fetch is the client, and serving from the cache is @fastify/static's, as for local assets.
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyReply } from 'fastify';
import type { AssetCache } from './asset-cache.ts';

export type ProxyOutcome = { ok: true } | { ok: false; status: 404 | 502; reason: string };

/** Response headers of the origin passed to the client. */
const PASSED_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'etag',
  'last-modified',
  'accept-ranges',
];

/** Resolves when `s` can take more, or is gone (a client that went away never drains). */
function drained(s: Writable): Promise<void> {
  if (s.destroyed || s.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.once('drain', done);
    s.once('close', done);
  });
}

function closeFile(file: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export class AssetProxy {
  constructor(
    private readonly cache: AssetCache,
    private readonly warn: (msg: string) => void = () => undefined,
    /** How long the origin has to start answering, and may then go silent while a cached download runs. */
    private readonly timeoutMs = 30_000,
  ) {}

  /** The origin's URL of `rel`, each segment encoded (the route decoded them). */
  static urlOf(origin: string, rel: string): string {
    return `${origin.replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * Answers `rel` from the origin into `reply`, keeping a whole 200 GET under `target` (a path in the origin's cache
   * folder). Resolves once the answer is sent (and the file stored), or with the origin's failure and nothing sent.
   */
  async serve(
    origin: string,
    rel: string,
    target: string,
    method: string,
    range: string | undefined,
    reply: FastifyReply,
  ): Promise<ProxyOutcome> {
    const url = AssetProxy.urlOf(origin, rel);
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer within ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    let res: Response;
    try {
      res = await fetch(url, {
        method: method === 'HEAD' ? 'HEAD' : 'GET',
        headers: range ? { range } : {},
        signal: abort.signal,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
      return { ok: false, status: 502, reason: `CDN ${origin} unreachable (${why})` };
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return res.status === 404 || res.status === 410
        ? { ok: false, status: 404, reason: `not on the CDN ${origin} (${res.status})` }
        : { ok: false, status: 502, reason: `CDN ${origin} answered ${res.status}` };
    }
    reply.code(res.status);
    for (const h of PASSED_HEADERS) {
      const v = res.headers.get(h);
      if (v) reply.header(h, v);
    }
    if (method === 'HEAD' || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      reply.send();
      return { ok: true };
    }
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    // Only a whole file is kept: not a range, not one larger than the cache.
    if (range || res.status !== 200 || (Number.isFinite(declared) && !this.cache.fits(declared))) {
      reply.send(body);
      return { ok: true };
    }
    const partial = await this.cache.partialPath();
    const file = createWriteStream(partial);
    const toClient = new PassThrough();
    // One loop feeds the client and the cache file, each with its backpressure. The client leaving does not stop the
    // download (its retry then finds the file cached); an origin cut short, or a file grown past the bound, keeps
    // nothing. The client's stream ends only once the file is in place: whoever got the whole body finds it cached.
    const pump = (async () => {
      let size = 0;
      let keeping = true;
      const drop = async () => {
        keeping = false;
        file.destroy();
        await rm(partial, { force: true });
      };
      // A cache that cannot be written (a full disk) keeps nothing; the client still gets the whole answer.
      let unwritable = false;
      file.on('error', (err) => {
        unwritable = true;
        this.warn(`asset cache: cannot write ${rel}: ${err.message}`);
      });
      // The last chunk is held back until the file is stored: with the origin's content-length, a client has the
      // whole answer at its last byte, whatever comes after.
      let held: Buffer | undefined;
      const send = async (chunk: Buffer) => {
        if (!toClient.destroyed && !toClient.write(chunk)) await drained(toClient);
      };
      // A CDN that stops sending mid-body ends the download (the client sees it cut short, nothing is kept). Only the
      // wait for the origin's next chunk is timed, never the wait for a slow client.
      let idle: NodeJS.Timeout | undefined;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(
          () => abort.abort(new Error(`the CDN sent nothing for ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      };
      try {
        alive();
        for await (const chunk of body as AsyncIterable<Buffer>) {
          clearTimeout(idle);
          size += chunk.length;
          if (keeping && (unwritable || !this.cache.fits(size))) await drop();
          if (held) await send(held);
          held = chunk;
          if (keeping && !file.write(chunk)) await drained(file);
          alive();
        }
        clearTimeout(idle);
        if (keeping && !unwritable) {
          try {
            await closeFile(file);
            await this.cache.store(partial, target, size);
          } catch (err) {
            this.warn(`asset cache: cannot keep ${rel}: ${(err as Error).message}`);
            await drop();
          }
        } else if (keeping) await drop();
        if (held) await send(held);
        toClient.end();
      } catch (err) {
        // Answered 502 when nothing has gone out yet (fastify takes the error's statusCode), else the answer is cut.
        const failed = Object.assign(
          new Error(`CDN ${origin} failed mid-download: ${err instanceof Error ? err.message : String(err)}`),
          { statusCode: 502 },
        );
        this.warn(`${rel}: ${failed.message}`);
        toClient.destroy(failed);
        if (keeping) await drop();
      } finally {
        clearTimeout(idle);
      }
    })();
    // Not awaited: a client that leaves must not end the download (fastify ends the send on its own).
    reply.send(toClient);
    await pump;
    return { ok: true };
  }

  /** Where `rel` of an origin whose folder is `dir` is kept. */
  static targetOf(dir: string, rel: string): string {
    return path.join(dir, ...rel.split('/'));
  }
}
