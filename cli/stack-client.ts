// How CLI commands find a running stack: TEMPORAL_ADDRESS, or the endpoint `vaquero dev` recorded in the data
// directory; and the payload codec's keys: VAQUERO_CODEC_KEYS / VAQUERO_CODEC, or those `vaquero dev` recorded.
import { Client } from '@temporalio/client';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NAMESPACE_DEFAULT } from '../domain/temporal-names.ts';
import { tlsFromEnv } from '../temporal/connection.ts';
import { connectClosable } from '../temporal/closable-connection.ts';
import { CODEC_ENV_HINT, codecSettingsFromEnv, loadCodec } from '../temporal/codec/codec-settings.ts';
import type { CodecSettings, LoadedCodec } from '../temporal/codec/codec-settings.ts';

export interface StackEndpoint {
  address: string;
  namespace: string;
  uiUrl?: string;
  pid?: number;
  /** The dev stack's codec: key references (its key file), never a key. */
  codec?: CodecSettings;
}

const FILE = 'dev-stack.json';

export async function recordEndpoint(dataDir: string, ep: StackEndpoint): Promise<void> {
  await writeFile(path.join(dataDir, FILE), JSON.stringify(ep, null, 2) + '\n');
}

export async function forgetEndpoint(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, FILE), { force: true });
}

export async function findEndpoint(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StackEndpoint> {
  if (env.TEMPORAL_ADDRESS) {
    return { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE || NAMESPACE_DEFAULT };
  }
  try {
    return JSON.parse(await readFile(path.join(dataDir, FILE), 'utf8')) as StackEndpoint;
  } catch {
    throw new Error(
      `no running stack found: start one with \`vaquero dev\` (data dir ${dataDir}) or set TEMPORAL_ADDRESS`,
    );
  }
}

/** The codec a CLI command uses with this endpoint: the environment's, else the dev stack's. */
export async function stackCodec(
  endpoint: StackEndpoint,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedCodec> {
  const settings = codecSettingsFromEnv(env) ?? endpoint.codec;
  if (!settings)
    throw new Error(`Temporal at ${endpoint.address} but no payload codec configured: ${CODEC_ENV_HINT}`);
  return loadCodec(settings, env);
}

export async function connectClient(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ client: Client; close: () => Promise<void>; endpoint: StackEndpoint; codec: LoadedCodec }> {
  const endpoint = await findEndpoint(dataDir, env);
  const codec = await stackCodec(endpoint, env);
  const { connection, close } = await connectClosable({
    address: endpoint.address,
    ...(env.TEMPORAL_ADDRESS ? await tlsFromEnv(env) : {}),
    connectTimeout: '5 seconds',
  });
  return {
    client: new Client({ connection, namespace: endpoint.namespace, dataConverter: codec.dataConverter }),
    close,
    endpoint,
    codec,
  };
}
