// How CLI commands find a running stack: TEMPORAL_ADDRESS, or the endpoint `vaquero dev` recorded in the data
// directory.
import { Client, Connection } from '@temporalio/client';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NAMESPACE_DEFAULT } from '../domain/temporal-names.ts';
import { tlsFromEnv } from '../temporal/connection.ts';

export interface StackEndpoint {
  address: string;
  namespace: string;
  uiUrl?: string;
  pid?: number;
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

export async function connectClient(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ client: Client; connection: Connection; endpoint: StackEndpoint }> {
  const endpoint = await findEndpoint(dataDir, env);
  const connection = await Connection.connect({
    address: endpoint.address,
    ...(env.TEMPORAL_ADDRESS ? await tlsFromEnv(env) : {}),
    connectTimeout: '5 seconds',
  });
  return { client: new Client({ connection, namespace: endpoint.namespace }), connection, endpoint };
}
