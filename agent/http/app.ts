// The agent's HTTP boot service: per-host iPXE scripts and unattended configs for the current boot stage,
// assets (local files, or a caching proxy to a mirror), the iPXE binaries for UEFI HTTP boot, and the checkpoint
// the installed OS calls, and installer log posts. Every request that matters becomes a boot event on the host's workflow. One route a file
// under routes/; this file makes the app, its access log, its metrics (GET /metrics) and the context the routes
// share.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { createAgentMetrics } from '../metrics.ts';
import { AssetCache, DEFAULT_ASSET_CACHE_BYTES } from './asset-cache.ts';
import { HostBinding } from './host-binding.ts';
import { readiness, RefusalCounts, routeOf } from './http-context.ts';
import type { AgentHttpContext, AgentHttpOptions } from './http-context.ts';
import { assetsRoute } from './routes/assets.ts';
import { bootFilesRoute } from './routes/boot-files.ts';
import { checkpointRoute } from './routes/checkpoint.ts';
import { healthRoute } from './routes/health.ts';
import { hostConfigRoute } from './routes/host-config.ts';
import { installerLogRoute } from './routes/installer-log.ts';
import { ipxeScriptRoute } from './routes/ipxe-script.ts';
import { metricsRoute } from './routes/metrics.ts';

export type { AgentHttpOptions } from './http-context.ts';

export async function buildAgentHttp(opts: AgentHttpOptions): Promise<FastifyInstance> {
  const assetCache = opts.assetsCache
    ? new AssetCache(opts.assetsCache, opts.assetsCacheMaxBytes ?? DEFAULT_ASSET_CACHE_BYTES, (m) =>
        opts.logger?.warn(m),
      )
    : undefined;
  await assetCache?.load();
  const ctx: AgentHttpContext = {
    opts,
    ...(assetCache ? { assetCache } : {}),
    binding: new HostBinding(opts.recorder, opts.cache, opts.tokens),
    refusals: new RefusalCounts(),
    logNotes: new WeakMap(),
  };
  // One log line per request, like a web server's access log (fastify's own request logging writes two); a refused
  // script or config says why there (a closed gate with the host's MAC and the route).
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
          ...ctx.logNotes.get(req),
        },
        'request',
      );
    });
  // A registry per app: several agents in one process count apart.
  const metrics = createAgentMetrics({
    cache: opts.cache,
    recorder: opts.recorder,
    ...(opts.outbox ? { outbox: opts.outbox } : {}),
    ...(opts.services ? { services: opts.services } : {}),
    ...(opts.workerConnected ? { workerConnected: opts.workerConnected } : {}),
    httpRefusals: () => ctx.refusals.list(),
    ...(opts.installerLogs ? { installerLogs: () => opts.installerLogs!.stats() } : {}),
    ready: () => readiness(opts).ready,
    ...(opts.missingBootFiles ? { missingBootFiles: opts.missingBootFiles } : {}),
    ...(assetCache ? { assetCache: () => assetCache.stats() } : {}),
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequest(req.method, routeOf(req), reply.statusCode);
  });
  healthRoute(app, ctx);
  metricsRoute(app, metrics);
  ipxeScriptRoute(app, ctx);
  hostConfigRoute(app, ctx);
  checkpointRoute(app, ctx);
  installerLogRoute(app, ctx);
  if (opts.bootRoot) await bootFilesRoute(app, ctx, opts.bootRoot);
  await assetsRoute(app, ctx);
  return app;
}
