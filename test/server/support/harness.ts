// Building the API for tests: a configuration with known tokens, an app over a real Temporal (a test stack) or
// over a client that never connects (routes that need no Temporal), and request helpers.
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../../../server/app.ts';
import type { AppOptions } from '../../../server/app.ts';
import type { ServerConfig } from '../../../server/config.ts';
import { FleetIndex } from '../../../server/fleet-index.ts';
import { FleetSync } from '../../../server/fleet-sync.ts';
import { createMetrics } from '../../../server/metrics.ts';
import type { TestStack } from '../../../testkit/stack.ts';

export const OPERATE_TOKEN = 'operate-token-for-tests-0123456789';
export const READ_TOKEN = 'read-token-for-tests-0123456789';

export async function testConfig(over: Partial<ServerConfig> = {}): Promise<ServerConfig> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: over.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'vaq-server-'))),
    temporal: {},
    controlWorker: false,
    auth: {
      tokens: [
        { name: 'ops', role: 'operate', token: OPERATE_TOKEN },
        { name: 'viewer', role: 'read', token: READ_TOKEN },
      ],
      open: ['/live', '/ready', '/metrics', '/docs'],
    },
    sots: [],
    indexRefreshMs: 200,
    watchDebounceMs: 100,
    logLevel: 'silent',
    ...over,
  };
}

/** An app whose Temporal client never connects: for routes and checks that must not need Temporal. */
export async function offlineApp(
  config: ServerConfig,
  opts: Partial<AppOptions> = {},
): Promise<FastifyInstance> {
  // Port 1 on the loopback: nothing listens there, and a lazy connection only tries when used.
  const connection = await Connection.lazy({ address: '127.0.0.1:1' });
  return buildApp({
    config,
    client: new Client({ connection, namespace: 'offline' }),
    namespace: 'offline',
    temporalDeadlineMs: 300,
    ...opts,
  });
}

export interface StackApp {
  app: FastifyInstance;
  sync: FleetSync;
  close(): Promise<void>;
}

/** An app over the test stack's Temporal, with its index refreshed from visibility like a real server's. */
export async function stackApp(
  stack: TestStack,
  config: ServerConfig,
  opts: Partial<AppOptions> = {},
): Promise<StackApp> {
  const metrics = createMetrics({ defaultMetrics: false });
  const index = new FleetIndex(undefined, metrics.observer);
  const app = await buildApp({
    config,
    client: stack.client,
    namespace: stack.namespace,
    index,
    metrics,
    ...opts,
  });
  const sync = new FleetSync({ client: stack.client, index, intervalMs: config.indexRefreshMs });
  sync.start();
  return {
    app,
    sync,
    async close() {
      await sync.stop();
      await app.close();
    },
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** inject() with the operate token unless headers say otherwise; parses JSON bodies. */
export async function call(
  app: FastifyInstance,
  method: InjectOptions['method'],
  url: string,
  opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown>; res: LightMyRequestResponse }> {
  const token = opts.token === undefined ? OPERATE_TOKEN : opts.token;
  const res = await app.inject({
    ...(method !== undefined ? { method } : {}),
    url,
    headers: { ...(token ? bearer(token) : {}), ...opts.headers },
    ...(opts.body !== undefined ? { payload: opts.body as NonNullable<InjectOptions['payload']> } : {}),
  });
  let json: Record<string, unknown> = {};
  if ((res.headers['content-type'] ?? '').toString().includes('json') && res.body)
    json = JSON.parse(res.body) as Record<string, unknown>;
  return { status: res.statusCode, json, res };
}

/** Asserts the one error shape and returns its code. */
export function errorCode(r: { status: number; json: Record<string, unknown> }): string {
  const e = r.json.error as { status?: number; code?: string; message?: string } | undefined;
  if (!e || e.status !== r.status || typeof e.code !== 'string' || typeof e.message !== 'string') {
    throw new Error(`not the error shape: ${r.status} ${JSON.stringify(r.json)}`);
  }
  return e.code;
}
