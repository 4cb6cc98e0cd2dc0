// What every route of the REST API is handed: the app's services and settings (one per app, on `app.vaquero`), and
// the small helpers routes share. Its own file so that app.ts can import the routes without the routes importing it.
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { GithubAccess } from '../activities/control/github-access.ts';
import type { ServerConfig } from './config.ts';
import type { EventFeed } from './event-feed.ts';
import type { FleetIndex } from './fleet-index.ts';
import type { FleetOps } from './fleet-ops.ts';
import type { GithubWebhookHandler } from './github-webhooks.ts';
import type { ServerMetrics } from './metrics.ts';
import type { PlanService } from './plan-service.ts';
import type { SotSources } from './sot-sources.ts';

export interface Readiness {
  ready: boolean;
  temporal: { reachable: boolean; namespace: string; error?: string };
  workers: { controlQueue: string; workflowPollers: number; activityPollers: number };
  index: { synced: boolean; ageSeconds: number | null };
}

/** Work that outlives a response (pull request plans); the app waits for it when it closes. */
export class Background {
  private readonly running = new Set<Promise<unknown>>();
  constructor(private readonly log: (msg: string) => void) {}

  run(what: string, p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) =>
      this.log(`${what} failed: ${err instanceof Error ? err.message : String(err)}`),
    );
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}

export interface AppContext {
  config: ServerConfig;
  client: Client;
  namespace: string;
  index: FleetIndex;
  feed: EventFeed;
  metrics: ServerMetrics;
  sources: SotSources;
  ops: FleetOps;
  plans: PlanService;
  webhooks?: GithubWebhookHandler;
  github?: GithubAccess;
  background: Background;
  /** The payload codec the /codec routes apply (none: the codec is off, payloads pass unchanged). */
  codec?: PayloadCodec;
  /** Every route the app serves (method, URL), as registered. */
  routes: { method: string; url: string }[];
  readiness(): Promise<Readiness>;
  log(msg: string): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    vaquero: AppContext;
  }
}

export interface RouteOptions {
  ctx: AppContext;
}

/** `security: []` in the OpenAPI document for routes this configuration opens to anyone. */
export function securityFor(ctx: AppContext, route: string): { security?: [] } {
  return (ctx.config.auth.open as string[]).includes(route) ? { security: [] } : {};
}
