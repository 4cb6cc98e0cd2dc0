// The agent's HTTP boot service: per-host iPXE scripts and unattended configs for the current boot stage,
// assets (local files, or a caching proxy to a mirror), and the checkpoint the installed OS calls. Every request
// that matters becomes a boot event on the host's workflow.
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BootEventRecorder } from '../boot-event-recorder.ts';
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { EventOutbox } from '../event-outbox.ts';
import type { ModelCache } from '../model-cache.ts';
import { realPathInside } from '../tftp/path-safety.ts';
import { DEBIAN_IPXE_LINK_TARGETS } from '../tftp/server.ts';
import type { NetbootEntry } from '../site-model.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';
import { AssetProxy } from './asset-proxy.ts';
import { normaliseMac, NO_NETBOOT_SCRIPT, withToken } from './artifact-text.ts';

/**
 * How assets are sent: 1 MiB reads (the plugin's default is 64 KiB). `highWaterMark` reaches @fastify/send at run
 * time although the plugin's SendOptions type leaves it out, hence a variable rather than a literal.
 */
const ASSET_SEND_OPTIONS = { dotfiles: 'deny' as const, highWaterMark: 1 << 20 };

export interface AgentHttpOptions {
  agentId: string;
  site: string;
  cache: ModelCache;
  tokens: CheckpointTokens;
  recorder: BootEventRecorder;
  outbox?: EventOutbox;
  /** Local folder served under /assets/ (ranges, ETags). */
  assetsRoot?: string;
  /** Mirror to proxy /assets/ from (cached under assetsCache) when a file is not in assetsRoot. */
  assetsUpstream?: string;
  assetsCache?: string;
  /** Folder of the iPXE binaries (the TFTP root), served under /boot/ for UEFI HTTP boot. */
  bootRoot?: string;
  /** A pino logger for request logs (none by default). */
  logger?: FastifyBaseLogger;
  /** Extra health facts (DHCP/TFTP stats, worker state). */
  health?: () => Record<string, unknown>;
}

export async function buildAgentHttp(opts: AgentHttpOptions): Promise<FastifyInstance> {
  // One log line per request, like a web server's access log (fastify's own request logging writes two).
  const app = opts.logger
    ? Fastify({ loggerInstance: opts.logger, trustProxy: false, disableRequestLogging: true })
    : Fastify({ logger: false, trustProxy: false });
  if (opts.logger)
    app.addHook('onResponse', async (req, reply) => {
      req.log.info(
        {
          method: req.method,
          url: req.url,
          ip: req.ip,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
        },
        'request',
      );
    });
  const proxy =
    opts.assetsUpstream && opts.assetsCache
      ? new AssetProxy(opts.assetsUpstream, opts.assetsCache)
      : undefined;

  const entryFor = async (req: FastifyRequest, macParam?: string): Promise<NetbootEntry | undefined> => {
    const mac = normaliseMac(macParam) ?? (await opts.recorder.macFor(req.ip));
    return mac ? opts.cache.netboot(mac) : undefined;
  };
  const tokenOf = (e: NetbootEntry) => opts.tokens.tokenFor(e.workflowId, e.runId, e.bootStage);

  app.get('/health', async () => ({
    ok: true,
    agent: opts.agentId,
    site: opts.site,
    revision: opts.cache.siteModel()?.revision ?? null,
    openGates: opts.cache.openEntries().length,
    events: opts.recorder.stats(),
    outbox: opts.outbox?.stats(),
    ...opts.health?.(),
  }));

  app.get<{ Querystring: { mac?: string } }>(
    '/ipxe',
    { schema: { querystring: { type: 'object', properties: { mac: { type: 'string', maxLength: 32 } } } } },
    async (req, reply) => {
      const e = await entryFor(req, req.query.mac);
      // iPXE names its MAC here: remember which IP it boots from, so its kernel and initrd fetches (which name
      // nothing) can be attributed even when another DHCP server gave it the address (proxy mode).
      const named = normaliseMac(req.query.mac);
      if (named) opts.recorder.bind(req.ip, named);
      reply.type('text/plain; charset=utf-8');
      if (!e?.open || !e.artifacts) {
        reply.code(404);
        return NO_NETBOOT_SCRIPT;
      }
      await opts.recorder.record({
        kind: 'ipxe',
        mac: e.mac,
        detail: `iPXE script, boot stage ${e.bootStage}`,
      });
      return withToken(e.artifacts.ipxe, tokenOf(e));
    },
  );

  app.get<{ Params: { mac: string }; Querystring: { stage?: number } }>(
    '/config/:mac',
    {
      schema: {
        params: { type: 'object', properties: { mac: { type: 'string', maxLength: 32 } }, required: ['mac'] },
        querystring: { type: 'object', properties: { stage: { type: 'integer', minimum: 1 } } },
      },
    },
    async (req, reply) => {
      const e = await entryFor(req, req.params.mac);
      if (
        !e?.open ||
        !e.artifacts?.config ||
        (req.query.stage !== undefined && req.query.stage !== e.bootStage)
      ) {
        return reply.code(404).send({ error: 'no config for this host and stage now' });
      }
      await opts.recorder.record({
        kind: 'config',
        mac: e.mac,
        detail: `${e.artifacts.config.type} config, boot stage ${e.bootStage}`,
      });
      reply.type(e.artifacts.config.contentType);
      return withToken(e.artifacts.config.text, tokenOf(e));
    },
  );

  const checkpoint = async (
    req: FastifyRequest<{ Params: { token: string }; Querystring: { cmdline?: string } }>,
  ) => {
    // The token names the run; compare against every open gate (few) in constant time each.
    const hit = opts.cache
      .openEntries()
      .find((g) => g.runId && opts.tokens.verify(req.params.token, g.workflowId, g.runId, g.bootStage));
    if (!hit) return undefined;
    // What the OS says it booted, for the validate stage to compare with the SoT. The run's token goes back to
    // the placeholder the rendered command line holds, so the comparison is exact.
    const reported = req.query.cmdline?.split(req.params.token).join(CHECKPOINT_TOKEN_PLACEHOLDER);
    const detail = `checkpoint from ${req.ip}${reported !== undefined ? `; cmdline=${reported}` : ''}`;
    await opts.recorder.record({ kind: 'checkpoint', mac: hit.mac, detail });
    return hit;
  };
  // GET for wget/curl one-liners in installers, POST for clients that report with a body (ignored).
  app.route<{ Params: { token: string }; Querystring: { cmdline?: string } }>({
    method: ['GET', 'POST'],
    url: '/checkpoint/:token',
    schema: {
      params: {
        type: 'object',
        properties: { token: { type: 'string', maxLength: 128 } },
        required: ['token'],
      },
      // The kernel's own limit on x86 is 2048 bytes; the bound keeps events small.
      querystring: { type: 'object', properties: { cmdline: { type: 'string', maxLength: 4096 } } },
    },
    handler: async (req, reply) => {
      const hit = await checkpoint(req);
      return hit
        ? { ok: true, host: hit.host, stage: hit.bootStage }
        : reply.code(404).send({ error: 'unknown or expired token' });
    },
  });

  if (opts.bootRoot) {
    // UEFI HTTP boot fetches the iPXE binary here (HEAD, then GET) instead of over TFTP; same confinement as TFTP.
    const root = await realpath(path.resolve(opts.bootRoot));
    const trusted = (
      await Promise.all(DEBIAN_IPXE_LINK_TARGETS.map((t) => realpath(t).catch(() => '')))
    ).filter(Boolean);
    app.route<{ Params: { file: string } }>({
      method: ['GET', 'HEAD'],
      url: '/boot/:file',
      schema: {
        params: {
          type: 'object',
          properties: { file: { type: 'string', maxLength: 255, pattern: '^[A-Za-z0-9._-]+$' } },
          required: ['file'],
        },
      },
      handler: async (req, reply) => {
        const found = await realPathInside({ root, trusted }, req.params.file);
        if (!found.ok) return reply.code(found.code === 1 ? 404 : 403).send({ error: found.reason });
        const st = await stat(found.path);
        if (!st.isFile()) return reply.code(403).send({ error: 'not a file' });
        if (req.method === 'GET')
          await opts.recorder.record({ kind: 'tftp', ip: req.ip, detail: `HTTP boot ${req.params.file}` });
        reply.header('content-length', st.size).type('application/efi');
        return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(found.path));
      },
    });
  }

  // Kernel and initrd fetches are recognised by path against what the client's current boot stage names.
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/assets/') || req.method === 'HEAD') return;
    const e = await entryFor(req);
    const a = e?.open ? e.artifacts : undefined;
    if (!e || !a) return;
    const reqPath = req.url.split('?')[0];
    const pathOf = (u: string) => {
      try {
        return new URL(u).pathname;
      } catch {
        return u;
      }
    };
    if (pathOf(a.kernel) === reqPath)
      await opts.recorder.record({ kind: 'kernel', mac: e.mac, detail: reqPath });
    else if (a.initrds.some((i) => pathOf(i) === reqPath))
      await opts.recorder.record({ kind: 'initrd', mac: e.mac, detail: reqPath });
  });

  if (opts.assetsRoot) {
    const root = await realpath(path.resolve(opts.assetsRoot));
    // @fastify/static follows symlinks wherever they point: resolve every request and refuse what lands outside.
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/assets/')) return;
      let rel: string;
      try {
        rel = decodeURIComponent(req.url.split('?')[0]!.slice('/assets/'.length));
      } catch {
        return reply.code(400).send({ error: 'bad path encoding' });
      }
      if (rel.includes('\0')) return reply.code(403).send({ error: 'forbidden path' });
      const real = await realpath(path.join(root, rel)).catch(() => undefined);
      if (real && real !== root && !real.startsWith(root + path.sep))
        return reply.code(403).send({ error: 'forbidden path' });
    });
    await app.register(fastifyStatic, {
      root,
      serve: false,
      dotfiles: 'deny',
      index: false,
      list: false,
      acceptRanges: true,
      etag: true,
      lastModified: true,
      decorateReply: true,
    });
    // Our own route instead of the plugin's, which reads files in 64 KiB chunks and offers no way to change that:
    // kernels and initrds are tens of MB, and 1 MiB reads gave 1.5-2x the throughput (BENCHMARKS.md, HTTP files).
    app.get<{ Params: { '*': string } }>('/assets/*', async (req, reply) => {
      return reply.sendFile(req.params['*'], root, ASSET_SEND_OPTIONS);
    });
  }
  if (proxy) {
    if (!opts.assetsRoot)
      await app.register(fastifyStatic, {
        root: path.resolve(opts.assetsCache!),
        serve: false,
        decorateReply: true,
      });
    app.setNotFoundHandler(async (req, reply) => {
      const url = req.url.split('?')[0]!;
      if (!url.startsWith('/assets/') || (req.method !== 'GET' && req.method !== 'HEAD'))
        return reply.code(404).send({ error: 'not found' });
      const rel = path.posix.normalize(decodeURIComponent(url.slice('/assets/'.length)));
      if (rel.startsWith('..') || path.posix.isAbsolute(rel) || rel.includes('\0'))
        return reply.code(403).send({ error: 'forbidden path' });
      if (await proxy.isCached(rel))
        return reply.sendFile(rel, path.resolve(opts.assetsCache!), ASSET_SEND_OPTIONS);
      await proxy.fetchInto(rel, req.headers.range, reply);
      return reply;
    });
  }
  return app;
}
