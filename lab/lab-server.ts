// The lab's `vaquero server`: the REST API and the fleet dashboard on the namespace's loopback, on the lab's own
// Temporal, made by startServer from a config file exactly as `vaquero server --config` makes it. No control worker
// of its own (the stack runs one) and no automatic rollouts (the lab starts them). An operate and a read token are
// made once per stack dir (files, mode 0600), so a person signs in to the dashboard with either. A unix socket
// beside them forwards to the listening port: the namespace's loopback is not the host's, and `vaquero lab up`
// (or a test) listens on the host's 127.0.0.1 and connects to that socket (lab/forward.ts).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadServerConfig } from '../server/config.ts';
import { startServer } from '../server/main.ts';
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';
import { serveUnixToTcp } from './forward.ts';

export interface LabServerOptions {
  /** Its config file, tokens, data and socket go here. */
  dir: string;
  temporal: { address: string; namespace: string; codec: CodecSettings };
  /** The lab SoT folder (it may not exist yet: the server reads it when asked for a plan). */
  sotDir?: string;
  /** The Temporal UI as the dashboard's reader reaches it (its links to workflow runs). */
  temporalUiUrl?: string;
  /** The unix socket to make (default <dir>/api.sock). */
  socket?: string;
}

export interface LabServer {
  /** Where it listens, inside the namespace. */
  url: string;
  /** A unix socket that connects to `url` (lab/forward.ts serveTcpToUnix makes it a host port). */
  socket: string;
  operateTokenFile: string;
  readTokenFile: string;
  stop(): Promise<void>;
}

/** A token file made once (a restarted stack keeps its tokens), mode 0600. */
async function ensureToken(file: string): Promise<void> {
  try {
    const h = await open(file, 'wx', 0o600);
    try {
      await h.writeFile(`${randomBytes(24).toString('base64url')}\n`);
    } finally {
      await h.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

export async function readLabToken(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim();
}

export async function startLabServer(o: LabServerOptions): Promise<LabServer> {
  await mkdir(o.dir, { recursive: true });
  const operateTokenFile = path.join(o.dir, 'api-token');
  const readTokenFile = path.join(o.dir, 'api-read-token');
  await ensureToken(operateTokenFile);
  await ensureToken(readTokenFile);
  const file = path.join(o.dir, 'server.yaml');
  await writeFile(
    file,
    stringify({
      // Port 0: the system picks a free one; server.url names it.
      listen: '127.0.0.1:0',
      data_dir: path.join(o.dir, 'data'),
      log_level: 'warn',
      temporal: {
        address: o.temporal.address,
        namespace: o.temporal.namespace,
        codec: o.temporal.codec,
        ...(o.temporalUiUrl !== undefined ? { ui_url: o.temporalUiUrl } : {}),
      },
      worker: { control: false },
      auth: {
        tokens: [
          { name: 'lab', role: 'operate', file: operateTokenFile },
          { name: 'lab-read', role: 'read', file: readTokenFile },
        ],
      },
      ...(o.sotDir !== undefined
        ? { sots: [{ name: 'lab', dir: o.sotDir, watch: false, auto_rollout: false }] }
        : {}),
    }),
  );
  // Only the file speaks: no TEMPORAL_ADDRESS or token of the caller's environment reaches the lab's server.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  // A message said again (an index refresh failing every refresh while the lab's Temporal is stopped) once.
  let last = '';
  const log = (m: string) => {
    if (m !== last) process.stderr.write(`server: ${m}\n`);
    last = m;
  };
  const server = await startServer(await loadServerConfig(file, env), { env, log });
  const socket = o.socket ?? path.join(o.dir, 'api.sock');
  let forward: Server;
  try {
    await rm(socket, { force: true });
    forward = await serveUnixToTcp(socket, Number(new URL(server.url).port));
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    url: server.url,
    socket,
    operateTokenFile,
    readTokenFile,
    async stop() {
      forward.close();
      await server.close();
    },
  };
}
