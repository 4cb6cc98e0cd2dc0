// The REST API as a fastify app, built without a socket: tests drive it with inject(), server/main.ts listens.
// One file per route group under routes/; this file wires the shared pieces (errors, auth, metrics, OpenAPI)
// and the services the routes use. Nothing here keeps state that another replica would need: Temporal holds
// it all; the index is a per-replica cache of Temporal visibility.
import AjvCompiler from '@fastify/ajv-compiler';
import type { ValidatorFactory } from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import path from 'node:path';
import { createGithubAccess } from '../activities/control/github-access.ts';
import type { GithubAccess } from '../activities/control/github-access.ts';
import { RevisionStore } from '../activities/control/revision-store.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { hostStatusQuery } from '../domain/workflow-api.ts';
import { installAuth } from './auth.ts';
import type { ServerConfig } from './config.ts';
import { installErrorHandling } from './errors.ts';
import { EventFeed } from './event-feed.ts';
import { FleetIndex } from './fleet-index.ts';
import { FleetOps } from './fleet-ops.ts';
import { GithubWebhookHandler } from './github-webhooks.ts';
import { createMetrics } from './metrics.ts';
import type { ServerMetrics } from './metrics.ts';
import { PlanService } from './plan-service.ts';
import { dashboard } from './dashboard/index.ts';
import { codecRoutes } from './routes/codec.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { hostRoutes } from './routes/hosts.ts';
import { hostLogRoutes } from './routes/host-logs.ts';
import { planRoutes } from './routes/plan.ts';
import { rolloutRoutes } from './routes/rollouts.ts';
import { siteRoutes } from './routes/sites.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { SHARED_SCHEMAS } from './schemas.ts';
import { SotSources } from './sot-sources.ts';
import { installRequestTracing } from './request-tracing.ts';
import { Background } from './app-context.ts';
import type { AppContext, Readiness } from './app-context.ts';
import { CancellableCalls } from '../temporal/cancellable-calls.ts';

export const API_VERSION = '1.0.0';

export interface AppOptions {
  config: ServerConfig;
  client: Client;
  namespace: string;
  /** Default: a new, empty index (server/main.ts keeps it fresh with FleetSync). */
  index?: FleetIndex;
  metrics?: ServerMetrics;
  github?: GithubAccess;
  /** fastify's logger option; default off. */
  logger?: boolean | { level: string };
  /** Override the readiness probe (tests). */
  readiness?: () => Promise<Readiness>;
  /** Bound on the Temporal calls of one request (default 15 s). */
  temporalDeadlineMs?: number;
  /** The payload codec of this server's Temporal connection, for the UI's codec endpoint (none when off). */
  codec?: PayloadCodec;
}

/** Pollers that asked for work within this long count as alive. */
const POLLER_FRESH_MS = 90_000;

async function probeReadiness(
  client: Client,
  namespace: string,
  index: FleetIndex,
  timeoutMs: number,
): Promise<Readiness> {
  const r: Readiness = {
    ready: false,
    temporal: { reachable: false, namespace },
    workers: { controlQueue: CONTROL_TASK_QUEUE, workflowPollers: 0, activityPollers: 0 },
    index: {
      synced: index.synced,
      ageSeconds: index.synced ? (Date.now() - index.refreshedAt) / 1000 : null,
    },
  };
  try {
    const deadline = Date.now() + timeoutMs;
    const count = async (taskQueueType: number) => {
      const res = await client.withDeadline(deadline, () =>
        client.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: CONTROL_TASK_QUEUE },
          taskQueueType,
        }),
      );
      const now = Date.now();
      return (res.pollers ?? []).filter((p) => {
        const s = p.lastAccessTime?.seconds;
        return s !== undefined && s !== null && now - Number(s) * 1000 < POLLER_FRESH_MS;
      }).length;
    };
    // 1 = workflow task queue, 2 = activity task queue (temporal.api.enums.v1.TaskQueueType).
    const [wf, act] = await Promise.all([count(1), count(2)]);
    r.temporal.reachable = true;
    r.workers.workflowPollers = wf;
    r.workers.activityPollers = act;
  } catch (err) {
    r.temporal.error = err instanceof Error ? err.message : String(err);
  }
  r.ready =
    r.temporal.reachable && r.workers.workflowPollers > 0 && r.workers.activityPollers > 0 && r.index.synced;
  return r;
}

/** Fastify's own Ajv compiler, twice: coercing for the text parts of a request, strict for its body. */
function bodiesUncoerced(): ValidatorFactory {
  // The compiler's typings describe a schema argument; at run time (and in fastify's) it takes the route
  // definition, which is what is passed on here.
  type Compile = (route: { httpPart?: string }) => unknown;
  type Build = (schemas: unknown, options?: { customOptions?: object }) => Compile;
  const build = AjvCompiler() as unknown as Build;
  const factory: Build = (schemas, options) => {
    const coercing = build(schemas, options);
    const strict = build(schemas, {
      ...options,
      customOptions: { ...options?.customOptions, coerceTypes: false },
    });
    return (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
  };
  return factory as unknown as ValidatorFactory;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? false,
    // Unknown fields are errors, not silently dropped, and defaults apply. Query strings, path parameters and
    // headers are text, so they are coerced to their schema's types; a JSON body is typed already, so it is not:
    // `{"reason": 229561}` where a string is required is a 400, not the string "229561".
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    schemaController: { compilersFactory: { buildValidator: bodiesUncoerced() } },
    bodyLimit: 1024 * 1024,
  });
  const log = (msg: string) => app.log.info(msg);
  const metrics = opts.metrics ?? createMetrics();
  const feed = opts.index?.feed ?? new EventFeed();
  const index = opts.index ?? new FleetIndex(feed, metrics.observer);
  metrics.attachIndex(index);
  // A closed host run's own status, for the metrics (bounded like every Temporal call of this app). Reads still in
  // flight are cancelled when the app closes (temporal/cancellable-calls.ts says why).
  const reads = new CancellableCalls(opts.client);
  metrics.attachReader((workflowId, runId) =>
    reads.run(() =>
      opts.client.withDeadline(Date.now() + (opts.temporalDeadlineMs ?? 15_000), () =>
        opts.client.workflow.getHandle(workflowId, runId).query(hostStatusQuery),
      ),
    ),
  );
  const github = opts.github ?? (config.github ? createGithubAccess(config.github.auth) : undefined);
  const store = new RevisionStore(path.join(config.dataDir, 'server'), github ? { github } : {});
  const sources = new SotSources(
    config.sots,
    store,
    config.dataDir,
    github && config.github ? { access: github, config: config.github } : undefined,
  );
  const plans = new PlanService(sources, opts.client);
  const ops = new FleetOps(opts.client, sources, index, {
    metrics,
    ...(config.github !== undefined ? { github: config.github } : {}),
    ...(config.publicUrl !== undefined ? { publicUrl: config.publicUrl } : {}),
    log,
    ...(opts.temporalDeadlineMs !== undefined ? { deadlineMs: opts.temporalDeadlineMs } : {}),
    hostsAt: async (sot, revision) =>
      new Map(
        [...(await plans.check(sot, revision)).states.values()].map((h) => [
          `${h.site}/${h.host}`,
          { neverProvision: h.neverProvision },
        ]),
      ),
  });
  const background = new Background((m) => app.log.warn(m));
  const webhooks =
    config.github && github
      ? new GithubWebhookHandler({
          config: config.github,
          access: github,
          sources,
          ops,
          plans,
          metrics,
          log,
          background: (w, p) => background.run(w, p),
        })
      : undefined;
  const ctx: AppContext = {
    config,
    client: opts.client,
    namespace: opts.namespace,
    index,
    feed,
    metrics,
    sources,
    ops,
    plans,
    ...(webhooks !== undefined ? { webhooks } : {}),
    ...(github !== undefined ? { github } : {}),
    background,
    ...(opts.codec !== undefined ? { codec: opts.codec } : {}),
    routes: [],
    readiness:
      opts.readiness ??
      (() =>
        probeReadiness(opts.client, opts.namespace, index, Math.min(3000, opts.temporalDeadlineMs ?? 3000))),
    log,
  };
  app.decorate('vaquero', ctx);

  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) ctx.routes.push({ method, url: r.url });
  });
  installErrorHandling(app, () => ctx.routes);
  installRequestTracing(app);
  const verifier = installAuth(app, config.auth);
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onClose', async () => {
    reads.cancelAll();
    await metrics.settled();
    await background.idle();
  });

  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'vaquero',
        version: API_VERSION,
        description:
          'Bare-metal reprovisioning orchestrator: fleet status, rollouts, plans, actions and GitOps webhooks.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A configured token: role read (GET) or operate (everything)',
          },
          githubSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Hub-Signature-256',
            description: 'HMAC-SHA256 of the body with the webhook secret',
          },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'fleet', description: 'Sites and hosts' },
        { name: 'rollouts', description: 'Rollouts of SoT revisions' },
        { name: 'gitops', description: 'Plans and webhooks' },
        { name: 'operations', description: 'Health, readiness, metrics, live events' },
      ],
    },
    // Shared schemas become components named by their $id.
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) =>
        String((json as { $id?: unknown }).$id ?? `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const routeOpts = { ctx };
  await app.register(healthRoutes, routeOpts);
  await app.register(siteRoutes, routeOpts);
  await app.register(hostRoutes, routeOpts);
  await app.register(hostLogRoutes, routeOpts);
  await app.register(rolloutRoutes, routeOpts);
  await app.register(planRoutes, routeOpts);
  await app.register(eventRoutes, routeOpts);
  await app.register(webhookRoutes, routeOpts);
  await app.register(codecRoutes, { ...routeOpts, verifier });
  await app.register(dashboard, { ctx, verifier });
  await app.ready();
  return app;
}

/** Options every route plugin gets. */
