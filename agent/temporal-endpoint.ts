// How this agent reaches Temporal, from its config: address and namespace, TLS (system roots, a private CA,
// mTLS with a client certificate), an API key (Temporal Cloud) resolved from the agent's secret store, and the
// payload codec (required: explicitly off, or keys).
import type { TLSConfig } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import type { SecretStore } from '../domain/secret.ts';
import { NAMESPACE_DEFAULT } from '../domain/temporal-names.ts';
import type { AgentConfig } from './config.ts';
import { describeCodec, loadCodec } from '../temporal/codec/codec-settings.ts';
import type { LoadedCodec } from '../temporal/codec/codec-settings.ts';

export interface TemporalEndpoint {
  address: string;
  namespace: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  codec: LoadedCodec;
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

export async function agentTemporalEndpoint(
  config: AgentConfig,
  secrets: SecretStore,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalEndpoint> {
  const t = config.temporal ?? {};
  if (t.codec === undefined) {
    throw new Error(
      'temporal.codec: not configured: give the keys the server and workers use ({ keys: [{ id, file }] }), or { off: true } to send payloads in clear',
    );
  }
  const endpoint: TemporalEndpoint = {
    address: t.address ?? DEFAULT_TEMPORAL_ADDRESS,
    namespace: t.namespace ?? NAMESPACE_DEFAULT,
    codec: await loadCodec(t.codec, env),
  };
  if (typeof t.tls === 'object') {
    endpoint.tls = {
      ...(t.tls.ca !== undefined ? { serverRootCACertificate: await readFile(t.tls.ca) } : {}),
      ...(t.tls.cert !== undefined && t.tls.key !== undefined
        ? { clientCertPair: { crt: await readFile(t.tls.cert), key: await readFile(t.tls.key) } }
        : {}),
      ...(t.tls.server_name !== undefined ? { serverNameOverride: t.tls.server_name } : {}),
    };
  } else if (t.tls === true) {
    endpoint.tls = true;
  }
  if (t.api_key !== undefined) {
    const secret = await secrets.resolve(t.api_key);
    const key = secret?.token ?? secret?.password;
    if (!key) {
      throw new Error(
        `temporal.api_key: secret ${t.api_key} not found or has no token (looked in ${secrets.describe(t.api_key)})`,
      );
    }
    endpoint.apiKey = key;
    // An API key travels only over TLS.
    endpoint.tls ??= true;
  }
  return endpoint;
}

/** What `--check` and the start-up log say about the endpoint (never the key). */
export function describeEndpoint(e: TemporalEndpoint): string {
  const tls =
    e.tls === undefined || e.tls === false
      ? 'plaintext'
      : e.tls === true
        ? 'TLS (system roots)'
        : [
            'TLS',
            e.tls.serverRootCACertificate ? 'private CA' : 'system roots',
            e.tls.clientCertPair ? 'client certificate (mTLS)' : undefined,
            e.tls.serverNameOverride ? `server name ${e.tls.serverNameOverride}` : undefined,
          ]
            .filter(Boolean)
            .join(', ');
  return `${e.address} namespace ${e.namespace}, ${tls}${e.apiKey ? ', API key' : ''}, ${describeCodec(e.codec)}`;
}
