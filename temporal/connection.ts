// One way for every part of vaquero to reach Temporal: the server named by TEMPORAL_ADDRESS
// (a cluster or Temporal Cloud), or else an embedded dev server that we start and own.
import { Client } from '@temporalio/client';
import type { Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { NAMESPACE_DEFAULT } from '../domain/temporal-names.ts';
import { startDevServer } from './dev-server.ts';
import type { DevServer, DevServerPorts } from './dev-server.ts';
import { CODEC_ENV_HINT, codecSettingsFromEnv, describeCodec, loadCodec } from './codec/codec-settings.ts';
import type { CodecSettings, LoadedCodec } from './codec/codec-settings.ts';
import { devCodecSettings } from './codec/dev-key.ts';
import { tracingClientOptions } from './telemetry/temporal-tracing.ts';
import { connectClosable } from './closable-connection.ts';
import type { ClosableConnection } from './closable-connection.ts';

export interface ConnectOptions {
  /** Data directory of the embedded server (unused with TEMPORAL_ADDRESS). */
  dataDir: string;
  namespace?: string;
  /** Embedded server only: serve the Web UI (default true). */
  ui?: boolean;
  ports?: DevServerPorts;
  log?: (msg: string) => void;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /** Embedded server only: extra dynamic config (tests make it suggest continue-as-new early, for one). */
  dynamicConfig?: Readonly<Record<string, unknown>>;
  /**
   * The payload codec (a program's config section). Default: VAQUERO_CODEC_KEYS / VAQUERO_CODEC from env; else,
   * for an embedded server only, a key made in its data directory. A server we did not start with none is an error.
   */
  codec?: CodecSettings;
  /** Embedded server only: the Web UI's codec endpoint (`vaquero server`'s /codec). */
  uiCodecEndpoint?: string;
}

export interface TemporalConnection {
  address: string;
  namespace: string;
  uiUrl?: string;
  /** True when we started the server and close() stops it. */
  embedded: boolean;
  /** The embedded server (pid, log file, `exited`), when we started one. */
  server?: DevServer;
  client: Client;
  connection: Connection;
  /** The payload codec: give it to every Worker.create and every other Client made on this connection. */
  dataConverter: DataConverter;
  /** The codec's settings (key references, never keys) and key ids, to hand to agents and child processes. */
  codec: LoadedCodec;
  /** For workers; made on first call and shared. Shut the workers down before close(). */
  nativeConnection(): Promise<NativeConnection>;
  /** Idempotent. Closes both connections, then stops the embedded server if we started it. */
  close(): Promise<void>;
}

interface Endpoint {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

export async function connectTemporal(opts: ConnectOptions): Promise<TemporalConnection> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  let server: DevServer | undefined;
  let endpoint: Endpoint;
  let namespace: string;

  if (env.TEMPORAL_ADDRESS) {
    namespace = env.TEMPORAL_NAMESPACE || opts.namespace || NAMESPACE_DEFAULT;
    endpoint = { address: env.TEMPORAL_ADDRESS, ...(await tlsFromEnv(env)) };
    log(`using Temporal at ${endpoint.address}, namespace ${namespace}${endpoint.tls ? ' (TLS)' : ''}`);
  } else {
    namespace = opts.namespace ?? NAMESPACE_DEFAULT;
    server = await startDevServer({
      dataDir: opts.dataDir,
      namespace,
      ...(opts.ui !== undefined ? { ui: opts.ui } : {}),
      ...(opts.ports !== undefined ? { ports: opts.ports } : {}),
      log,
      ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}),
      ...(opts.dynamicConfig !== undefined ? { dynamicConfig: opts.dynamicConfig } : {}),
      ...(opts.uiCodecEndpoint !== undefined ? { uiCodecEndpoint: opts.uiCodecEndpoint } : {}),
    });
    endpoint = { address: server.address };
  }

  let codec: LoadedCodec;
  try {
    const settings =
      opts.codec ?? codecSettingsFromEnv(env) ?? (server ? await devCodecSettings(opts.dataDir) : undefined);
    if (!settings)
      throw new Error(`Temporal at ${endpoint.address} but no payload codec configured: ${CODEC_ENV_HINT}`);
    codec = await loadCodec(settings, env);
  } catch (err) {
    await server?.stop();
    throw err;
  }
  log(describeCodec(codec));

  let closable: ClosableConnection;
  try {
    closable = await connectClosable(endpoint);
  } catch (err) {
    await server?.stop();
    throw new Error(
      `cannot connect to Temporal at ${endpoint.address}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  const { connection } = closable;
  const client = new Client({
    connection,
    namespace,
    dataConverter: codec.dataConverter,
    ...tracingClientOptions(),
  });

  let native: Promise<NativeConnection> | undefined;
  let closing: Promise<void> | undefined;
  return {
    address: endpoint.address,
    namespace,
    ...(server?.uiUrl !== undefined ? { uiUrl: server.uiUrl } : {}),
    embedded: server !== undefined,
    ...(server !== undefined ? { server } : {}),
    client,
    connection,
    dataConverter: codec.dataConverter,
    codec,
    nativeConnection() {
      if (closing) return Promise.reject(new Error('Temporal connection is closed'));
      // Loaded on demand: the worker package brings the native bridge, which client-only users skip.
      native ??= import('@temporalio/worker').then(({ NativeConnection }) =>
        NativeConnection.connect(endpoint),
      );
      return native;
    },
    close() {
      closing ??= (async () => {
        try {
          const n = await native?.catch(() => undefined);
          await n?.close();
          await closable.close();
        } finally {
          await server?.stop();
        }
      })();
      return closing;
    },
  };
}

/**
 * TLS settings, named as the `temporal` CLI names them: TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY
 * (client certificate and key files, for mTLS), TEMPORAL_TLS_CA (server CA file),
 * TEMPORAL_TLS_SERVER_NAME (SNI override), TEMPORAL_TLS=true (TLS with system roots) and
 * TEMPORAL_API_KEY (bearer key, as for Temporal Cloud; implies TLS).
 */
export async function tlsFromEnv(env: NodeJS.ProcessEnv): Promise<Omit<Endpoint, 'address'>> {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca } = env;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
  }
  const read = async (name: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(`cannot read ${name}=${path}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  };
  const tlsWanted = /^(1|true|yes)$/i.test(env.TEMPORAL_TLS ?? '');
  let tls: TLSConfig | boolean | undefined;
  if (cert || ca || serverName) {
    tls = {
      ...(cert && key
        ? {
            clientCertPair: {
              crt: await read('TEMPORAL_TLS_CERT', cert),
              key: await read('TEMPORAL_TLS_KEY', key),
            },
          }
        : {}),
      ...(ca ? { serverRootCACertificate: await read('TEMPORAL_TLS_CA', ca) } : {}),
      ...(serverName ? { serverNameOverride: serverName } : {}),
    };
  } else if (apiKey || tlsWanted) {
    tls = true;
  }
  return { ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}
