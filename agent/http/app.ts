// The agent's HTTP boot service: per-host iPXE scripts and unattended configs for the current boot stage,
// assets (local files, or a caching proxy to a mirror), and the checkpoint the installed OS calls. Every request
// that matters becomes a boot event on the host's workflow.
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import { mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BootEventRecorder } from '../boot-event-recorder.ts';
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { EventOutbox } from '../event-outbox.ts';
import type { ModelCache } from '../model-cache.ts';
import { ERR_NOT_FOUND } from '../tftp/packets.ts';
import { normaliseText, resolveServed } from '../tftp/path-safety.ts';
import { DEBIAN_IPXE_LINK_TARGETS } from '../tftp/server.ts';
import type { NetbootEntry } from '../../domain/site-model.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';
import { AssetProxy } from './asset-proxy.ts';
import { HostBinding } from './host-binding.ts';
import type { Binding } from './host-binding.ts';
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

/** The path of an artifact URL (a SoT may also name a bare path). */
function pathOf(u: string): string {
  try {
    return new URL(u).pathname;
  } catch {
    return u;
  }
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

  const binding = new HostBinding(opts.recorder, opts.cache, opts.tokens);
  const tokenOf = (e: NetbootEntry) => opts.tokens.tokenFor(e.workflowId, e.runId, e.bootStage);
  // A request that names a host it is not: refused, logged with both sides, counted; never a boot event.
  const refuse = (req: FastifyRequest, reply: FastifyReply, b: Exclude<Binding, { ok: true }>) => {
    if (b.status === 403)
      req.log.warn(
        { ip: req.ip, url: req.url, named: b.named, boundTo: b.boundTo },
        'refused: not this host',
      );
    return reply.code(b.status);
  };

  app.get('/health', async () => ({
    ok: true,
    agent: opts.agentId,
    site: opts.site,
    revision: opts.cache.siteModel()?.revision ?? null,
    openGates: opts.cache.openEntries().length,
    events: { ...opts.recorder.stats(), refused: binding.refused() },
    outbox: opts.outbox?.stats(),
    ...opts.health?.(),
  }));

  const credentialSchema = { type: 'string', maxLength: 64 } as const;
  app.get<{ Querystring: { mac?: string; boot?: string } }>(
    '/ipxe',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { mac: { type: 'string', maxLength: 32 }, boot: credentialSchema },
        },
      },
    },
    async (req, reply) => {
      reply.type('text/plain; charset=utf-8');
      const b = await binding.resolve(req.ip, normaliseMac(req.query.mac), req.query.boot);
      if (!b.ok) {
        refuse(req, reply, b);
        return b.status === 404 ? NO_NETBOOT_SCRIPT : `#!ipxe\necho vaquero: ${b.reason}\nexit 1\n`;
      }
      const e = b.entry;
      await opts.recorder.record({
        kind: 'ipxe',
        mac: e.mac,
        detail: `iPXE script, boot stage ${e.bootStage}`,
      });
      return withToken(e.artifacts!.ipxe, tokenOf(e));
    },
  );

  app.get<{ Params: { mac: string }; Querystring: { stage?: number; boot?: string } }>(
    '/config/:mac',
    {
      schema: {
        params: { type: 'object', properties: { mac: { type: 'string', maxLength: 32 } }, required: ['mac'] },
        querystring: {
          type: 'object',
          properties: { stage: { type: 'integer', minimum: 1 }, boot: credentialSchema },
        },
      },
    },
    async (req, reply) => {
      const named = normaliseMac(req.params.mac);
      if (!named) return reply.code(404).send({ error: 'not a MAC address' });
      const b = await binding.resolve(req.ip, named, req.query.boot);
      if (!b.ok) return refuse(req, reply, b).send({ error: b.reason });
      const e = b.entry;
      const config = e.artifacts!.config;
      if (!config || (req.query.stage !== undefined && req.query.stage !== e.bootStage))
        return reply.code(404).send({ error: 'no config for this host and stage now' });
      await opts.recorder.record({
        kind: 'config',
        mac: e.mac,
        detail: `${config.type} config, boot stage ${e.bootStage}`,
      });
      reply.type(config.contentType);
      return withToken(config.text, tokenOf(e));
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
        const found = await resolveServed({ root, trusted }, req.params.file);
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

  // Assets: one route, and it serves only what resolveServed returns for the name the router parsed — never a
  // path re-read from the raw URL (which once let `/assets/link#x` past a guard that cut at `?` only).
  const assetRoot = opts.assetsRoot ? await realpath(path.resolve(opts.assetsRoot)) : undefined;
  const cacheRoot = proxy ? path.resolve(opts.assetsCache!) : undefined;
  if (cacheRoot) await mkdir(cacheRoot, { recursive: true });
  // The route exists without any asset source too: a kernel fetch from elsewhere still names what the host booted.
  {
    if (assetRoot || cacheRoot)
      await app.register(fastifyStatic, {
        root: (assetRoot ?? cacheRoot)!,
        serve: false,
        decorateReply: true,
      });
    // Kernel and initrd fetches are recognised by path against what the client's current boot stage names.
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
    const sendResolved = async (reply: FastifyReply, root: string, real: string) => {
      const st = await stat(real);
      if (!st.isFile()) return reply.code(404).send({ error: 'not a file' });
      return reply.sendFile(path.relative(root, real), root, ASSET_SEND_OPTIONS);
    };
    app.route<{ Params: { '*': string } }>({
      method: ['GET', 'HEAD'],
      url: '/assets/*',
      handler: async (req, reply) => {
        const text = req.params['*'];
        const name = normaliseText(text);
        if (!name.ok) return reply.code(name.code === ERR_NOT_FOUND ? 404 : 403).send({ error: name.reason });
        // Hidden files (.git, .htpasswd) are never assets.
        if (name.name.split('/').some((seg) => seg.startsWith('.')))
          return reply.code(403).send({ error: 'forbidden path' });
        const refuse = (r: { code: number; reason: string }) =>
          reply.code(r.code === ERR_NOT_FOUND ? 404 : 403).send({ error: r.reason });
        let missing: { code: number; reason: string } = { code: ERR_NOT_FOUND, reason: 'no such asset' };
        if (assetRoot) {
          const found = await resolveServed({ root: assetRoot, trusted: [] }, name.name);
          if (found.ok) {
            await recordFetch(req, found.name);
            return sendResolved(reply, assetRoot, found.path);
          }
          if (found.code !== ERR_NOT_FOUND) return refuse(found);
          missing = found;
        }
        // What the host asked for is an event even when it is not here: the step then says what was missing.
        await recordFetch(req, name.name);
        if (!proxy || !cacheRoot) return refuse(missing);
        const cached = await resolveServed({ root: cacheRoot, trusted: [] }, name.name);
        if (cached.ok) return sendResolved(reply, cacheRoot, cached.path);
        if (cached.code !== ERR_NOT_FOUND) return refuse(cached);
        await proxy.fetchInto(name.name, req.headers.range, reply);
        return reply;
      },
    });
  }
  return app;
}
