// GET|HEAD /assets/<path>: kernels, initrds and other files, from a local folder (ranges, ETags) or a caching proxy
// to a CDN or mirror (this agent's SoT `cdn_url`, or the config's `assets.upstream`: asset-proxy.ts, asset-cache.ts).
// One route, and it serves only what resolveServed returns for the name the router parsed — never a path re-read
// from the raw URL (which once let `/assets/link#x` past a guard that cut at `?` only). A fetch of the kernel or an
// initrd the client's boot stage names is a boot event: once it has been sent whole, for a local file.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ERR_NOT_FOUND } from '../../tftp/packets.ts';
import { normaliseText, resolveServed } from '../../tftp/path-safety.ts';
import { AssetMemory } from '../asset-memory.ts';
import { AssetProxy } from '../asset-proxy.ts';
import type { AgentHttpContext } from '../http-context.ts';
import { ownAgentEntry } from '../../own-agent.ts';

/**
 * How assets are sent: 1 MiB reads (the plugin's default is 64 KiB). `highWaterMark` reaches @fastify/send at run
 * time although the plugin's SendOptions type leaves it out, hence a variable rather than a literal.
 */
const ASSET_SEND_OPTIONS = { dotfiles: 'deny' as const, highWaterMark: 1 << 20 };
/** Assets held in memory (asset-memory.ts): the netboot kernels and initrds of a few OS versions. */
const ASSET_MEMORY = { maxFileBytes: 128 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024 };

/** The path of an artifact URL (a SoT may also name a bare path). */
function pathOf(u: string): string {
  try {
    return new URL(u).pathname;
  } catch {
    return u;
  }
}

type Refusal = { code: number; reason: string };

export async function assetsRoute(app: FastifyInstance, ctx: AgentHttpContext): Promise<void> {
  const { opts, binding, assetCache } = ctx;
  const proxy = assetCache
    ? new AssetProxy(
        assetCache,
        (m) => opts.logger?.warn({ service: 'assets' }, m),
        opts.assetsOriginTimeoutMs,
      )
    : undefined;
  const assetRoot = opts.assetsRoot ? await realpath(path.resolve(opts.assetsRoot)) : undefined;
  /** The CDN /assets/ proxies to now: the config's mirror, else this agent's own SoT entry (the model may change). */
  const origin = (): string | undefined =>
    opts.assetsUpstream ?? ownAgentEntry(opts.cache.siteModel(), opts.agentId)?.cdnUrl;
  // The route exists without any asset source too: a kernel fetch from elsewhere still names what the host booted.
  if (assetRoot || assetCache)
    await app.register(fastifyStatic, {
      root: (assetRoot ?? assetCache?.root)!,
      serve: false,
      decorateReply: true,
    });

  const recordFetch = async (req: FastifyRequest, name: string) => {
    if (req.method === 'HEAD') return;
    const b = await binding.resolve(req.ip);
    const a = b.ok ? b.entry.artifacts : undefined;
    if (!b.ok || !a) return;
    const reqPath = `/assets/${name}`;
    if (pathOf(a.kernel) === reqPath)
      await opts.recorder.record({ kind: 'kernel', mac: b.entry.mac, detail: reqPath });
    else if (a.initrds.some((i) => pathOf(i) === reqPath))
      await opts.recorder.record({ kind: 'initrd', mac: b.entry.mac, detail: reqPath });
  };
  const memory = new AssetMemory(ASSET_MEMORY);
  const sendResolved = async (req: FastifyRequest, reply: FastifyReply, root: string, real: string) => {
    const st = await stat(real);
    if (!st.isFile()) return reply.code(404).send({ error: 'not a file' });
    const whole = AssetMemory.wholeFileGet(req.method, req.headers);
    if (whole) {
      const held = memory.get(real, st);
      if (held) return reply.code(200).headers(held.headers).send(held.data);
      // Held from the next request on, with the headers the disk path sends now.
      reply.raw.once('finish', () => {
        if (reply.statusCode === 200) memory.remember({ root, trusted: [] }, real, st, reply.getHeaders());
      });
    }
    return reply.sendFile(path.relative(root, real), root, ASSET_SEND_OPTIONS);
  };

  app.route<{ Params: { '*': string } }>({
    method: ['GET', 'HEAD'],
    url: '/assets/*',
    handler: async (req, reply) => {
      const refuse = (r: Refusal) =>
        reply.code(r.code === ERR_NOT_FOUND ? 404 : 403).send({ error: r.reason });
      const name = normaliseText(req.params['*']);
      if (!name.ok) return refuse(name);
      // Hidden files (.git, .htpasswd, the cache's .partial/) are never assets.
      if (name.name.split('/').some((seg) => seg.startsWith('.')))
        return reply.code(403).send({ error: 'forbidden path' });
      let missing: Refusal = { code: ERR_NOT_FOUND, reason: 'no such asset' };
      if (assetRoot) {
        const found = await resolveServed({ root: assetRoot, trusted: [] }, name.name);
        if (found.ok) {
          // The event once the whole file has gone out: a download cut short (this agent killed mid-transfer,
          // the host reset) is not a kernel the host has, and its step then times out and is retried.
          reply.raw.once('finish', () => {
            if (reply.statusCode < 300)
              recordFetch(req, found.name).catch((err: unknown) =>
                req.log.error({ err: String(err) }, 'boot event not recorded'),
              );
          });
          return sendResolved(req, reply, assetRoot, found.path);
        }
        if (found.code !== ERR_NOT_FOUND) return refuse(found);
        missing = found;
      }
      const cdn = origin();
      if (!proxy || !assetCache || cdn === undefined) {
        // What the host asked for is an event even when it is not here: the step then says what was missing.
        await recordFetch(req, name.name);
        return refuse(missing);
      }
      // From the cache or the CDN, the event once the whole file has gone out, as for a local file; what the CDN
      // fails is a refusal (below), so a kernel the host never got moves no step.
      reply.raw.once('finish', () => {
        if (reply.statusCode < 300)
          recordFetch(req, name.name).catch((err: unknown) =>
            req.log.error({ err: String(err) }, 'boot event not recorded'),
          );
      });
      const dir = await assetCache.originDir(cdn);
      const cached = await resolveServed({ root: dir, trusted: [] }, name.name);
      if (cached.ok) {
        assetCache.hit(cached.path);
        return sendResolved(req, reply, dir, cached.path);
      }
      if (cached.code !== ERR_NOT_FOUND) return refuse(cached);
      assetCache.miss();
      const outcome = await proxy.serve(
        cdn,
        name.name,
        AssetProxy.targetOf(dir, name.name),
        req.method,
        req.headers.range,
        reply,
      );
      if (outcome.ok) return reply;
      // What the host asked for and did not get: on its timeline (once per run: the recorder), like TFTP's refusals.
      assetCache.originError();
      ctx.logNotes.set(req, { refused: 'cdn', reason: outcome.reason });
      await opts.recorder.record({
        kind: 'refused',
        ip: req.ip,
        detail: `http /assets/${name.name}: ${outcome.reason}`,
      });
      return reply.code(outcome.status).send({ error: outcome.reason });
    },
  });
}
