// deploy/compose.yaml brought up as CI can (test/deploy/compose.test.ts): no image registry, so every image it names
// is one built here and passed in through the file's variables, and the compose client is Debian's docker-compose
// (1.29) against podman's Docker API — what `podman compose` runs on podman 4.7 and later.
//
//  - Images: VAQUERO_IMAGE is testkit/image.ts's; POSTGRES_IMAGE is deploy/ci/postgres.Containerfile (Debian's
//    postgresql-15 on the same Debian base); TEMPORAL_IMAGE and TEMPORAL_ADMIN_TOOLS_IMAGE are both
//    deploy/ci/temporal.Containerfile (the temporal-server, temporal-sql-tool and temporal CLI that `vaquero setup
//    --lab` builds from their Go modules, on the same base). Each is cached by a hash of its inputs.
//  - The engine: `podman system service` inside a network namespace the test makes (nsenter --net, so /sys and
//    the cgroups stay the host's), with the netavark network backend (compose's service names resolve through
//    aardvark-dns; the machine's default backend, CNI, has no DNS plugin here) and its own network config dir.
//    Everything compose makes on the network side — the bridge, its firewall rules, the published ports, the
//    agent's host network — is that namespace's, never the machine's.
//  - Health checks: podman runs them from systemd timers, and there is no systemd here, so healthChecks() runs
//    `podman healthcheck run` for the project's containers, as the timers would.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rm, stat, writeFile, copyFile, cp } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { PODMAN_CONTAINERS_CONF } from '../cli/setup/podman.ts';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';
import { ensureTemporalCli } from '../temporal/cli-binary.ts';
import { ensureTemporalServer } from '../temporal/server-build.ts';
import type { VaqueroImage } from './image.ts';
import { PROJECT_ROOT } from './image.ts';

const run = promisify(execFile);

export const CI_POSTGRES_REPO = 'localhost/vaquero-ci-postgres';
export const CI_TEMPORAL_REPO = 'localhost/vaquero-ci-temporal';
const CI_DIR = path.join(PROJECT_ROOT, 'deploy', 'ci');

export interface ComposeImages {
  VAQUERO_IMAGE: string;
  POSTGRES_IMAGE: string;
  TEMPORAL_IMAGE: string;
  TEMPORAL_ADMIN_TOOLS_IMAGE: string;
  /** Seconds each build took now (0: cached). */
  built: { postgres: number; temporal: number };
  /** Bytes, as podman reports them. */
  sizes: { postgres: number; temporal: number };
}

async function podman(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 60_000) {
  return run('podman', args, { env, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 });
}

async function exists(env: NodeJS.ProcessEnv, ref: string): Promise<boolean> {
  return podman(env, ['image', 'exists', ref]).then(
    () => true,
    () => false,
  );
}

/** Builds `tag` from `containerfile` in `context` with the base, unless it exists; older tags of its repo go. */
async function buildOnce(
  env: NodeJS.ProcessEnv,
  repo: string,
  hash: string,
  base: string,
  containerfile: string,
  context: () => Promise<string>,
  say: (m: string) => void,
): Promise<{ ref: string; seconds: number }> {
  const ref = `${repo}:${hash}`;
  if (await exists(env, ref)) return { ref, seconds: 0 };
  const t0 = Date.now();
  const dir = await context();
  say(`podman build --build-arg BASE=${base} -t ${ref} -f ${path.relative(PROJECT_ROOT, containerfile)}`);
  await podman(
    env,
    ['build', '--network', 'host', '--build-arg', `BASE=${base}`, '-t', ref, '-f', containerfile, dir],
    15 * 60_000,
  ).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`podman build ${ref}: ${(err.stderr ?? err.message).slice(-6000)}`);
  });
  const tags = (await podman(env, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n');
  for (const old of tags)
    if (old.startsWith(`${repo}:`) && old !== ref) await podman(env, ['rmi', old]).catch(() => undefined);
  return { ref, seconds: (Date.now() - t0) / 1000 };
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** A file's identity without reading 100+ MB: its path, size and modification time. */
async function fileStamp(file: string): Promise<string> {
  const s = await stat(file);
  return `${file} ${s.size} ${s.mtimeMs}`;
}

/** The images compose.yaml's variables name, built here on the vaquero image's Debian base. */
export async function ensureComposeImages(
  img: VaqueroImage,
  say: (m: string) => void = () => undefined,
): Promise<ComposeImages> {
  const env = img.env;
  const read = (f: string) => readFile(path.join(CI_DIR, f));
  const pgFile = path.join(CI_DIR, 'postgres.Containerfile');
  const pg = await buildOnce(
    env,
    CI_POSTGRES_REPO,
    sha(img.base, await read('postgres.Containerfile'), await read('postgres-entrypoint.sh')),
    img.base,
    pgFile,
    async () => CI_DIR,
    say,
  );

  const server = await ensureTemporalServer({ log: say });
  const cli = await ensureTemporalCli({ log: say });
  const tFile = path.join(CI_DIR, 'temporal.Containerfile');
  const scratch = path.join(vaqueroCacheDir(env), 'image');
  let context: string | undefined;
  const temporal = await buildOnce(
    env,
    CI_TEMPORAL_REPO,
    sha(
      img.base,
      await read('temporal.Containerfile'),
      await read('temporal-entrypoint.sh'),
      await fileStamp(server.serverBinary),
      await fileStamp(server.sqlToolBinary),
      await fileStamp(cli),
      await readFile(path.join(server.dir, 'build.json')),
    ),
    img.base,
    tFile,
    async () => {
      await mkdir(scratch, { recursive: true });
      context = await mkdtemp(path.join(scratch, 'temporal-context-'));
      // Hard links where the cache and the context share a file system (they do: both in the cache dir).
      const put = async (from: string, name: string) =>
        link(from, path.join(context!, name)).catch(() => copyFile(from, path.join(context!, name)));
      await put(server.serverBinary, 'temporal-server');
      await put(server.sqlToolBinary, 'temporal-sql-tool');
      await put(cli, 'temporal');
      await cp(path.join(server.dir, 'schema'), path.join(context, 'schema'), { recursive: true });
      await copyFile(
        path.join(CI_DIR, 'temporal-entrypoint.sh'),
        path.join(context, 'temporal-entrypoint.sh'),
      );
      return context;
    },
    say,
  ).finally(async () => {
    if (context) await rm(context, { recursive: true, force: true });
  });
  const size = async (ref: string) =>
    Number((await podman(env, ['image', 'inspect', '--format', '{{.Size}}', ref])).stdout.trim());
  return {
    VAQUERO_IMAGE: img.image,
    POSTGRES_IMAGE: pg.ref,
    TEMPORAL_IMAGE: temporal.ref,
    TEMPORAL_ADMIN_TOOLS_IMAGE: temporal.ref,
    built: { postgres: pg.seconds, temporal: temporal.seconds },
    sizes: { postgres: await size(pg.ref), temporal: await size(temporal.ref) },
  };
}

/** vaquero's containers.conf plus the netavark backend and a network config dir of the caller's. */
export async function composeContainersConf(dir: string): Promise<string> {
  const networks = path.join(dir, 'networks');
  await mkdir(networks, { recursive: true });
  const file = path.join(dir, 'containers.conf');
  await writeFile(
    file,
    `${PODMAN_CONTAINERS_CONF}[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "${networks}"\n`,
  );
  return file;
}

export interface ComposeEngine {
  /** DOCKER_HOST for docker-compose. */
  dockerHost: string;
  /** The env podman runs with (CONTAINERS_CONF). */
  env: NodeJS.ProcessEnv;
  pid: number;
  /** podman, in the namespace, with this engine's configuration. */
  podman(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** `podman system service` on a unix socket in `dir`, inside network namespace `ns`. */
export async function startComposeEngine(ns: string, dir: string): Promise<ComposeEngine> {
  const env = { ...process.env, CONTAINERS_CONF: await composeContainersConf(dir) };
  const socket = path.join(dir, 'podman.sock');
  const inNs = (args: string[]) => ['--net=/run/netns/' + ns, '--', 'podman', ...args];
  const child: ChildProcess = spawn('nsenter', inNs(['system', 'service', '--time=0', `unix://${socket}`]), {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', reap);
  };
  const ping = () =>
    run('curl', ['-sf', '--unix-socket', socket, 'http://d/_ping'], { timeout: 5_000 }).then(
      () => true,
      () => false,
    );
  const deadline = Date.now() + 30_000;
  while (!(await ping())) {
    if (child.exitCode !== null)
      throw new Error(`podman system service exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${socket}: ${stderr}`);
    }
    await delay(200);
  }
  return {
    dockerHost: `unix://${socket}`,
    env,
    pid: child.pid!,
    podman: (args, timeoutMs = 60_000) =>
      run('nsenter', inNs(args), { env, timeout: timeoutMs, maxBuffer: 32 * 2 ** 20 }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (err: { code?: number | string; stdout?: string; stderr?: string }) => ({
          code: typeof err.code === 'number' ? err.code : -1,
          stdout: err.stdout ?? '',
          stderr: err.stderr ?? String(err),
        }),
      ),
    stop,
  };
}

/**
 * Runs the health checks of project `project`'s running containers every `everyMs`, as podman's systemd timers
 * would, until the returned function is called.
 */
export function healthChecks(engine: ComposeEngine, project: string, everyMs = 2_000): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const ps = await engine.podman([
        'ps',
        '--filter',
        `label=com.docker.compose.project=${project}`,
        '--format',
        '{{.Names}} {{.Status}}',
      ]);
      for (const line of ps.stdout.split('\n')) {
        const [name, ...status] = line.trim().split(' ');
        // Only containers with a health check show one in their status: (starting), (healthy), (unhealthy).
        if (name && /\((starting|healthy|unhealthy)\)/.test(status.join(' ')))
          await engine.podman(['healthcheck', 'run', name], 30_000);
      }
      await delay(everyMs);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/**
 * README.md's compose commands (its "Deploy" section), run as they are, in a copy of deploy/'s parent, by
 * test/deploy/compose.test.ts; test/deploy/files.test.ts checks that the README shows exactly these.
 */
export const COMPOSE_COMMANDS = {
  token: 'mkdir -p deploy/secrets && openssl rand -hex 24 > deploy/secrets/operate-token',
  codecKey: 'openssl rand -hex 32 > deploy/secrets/codec-key',
  env: 'echo "POSTGRES_PASSWORD=$(openssl rand -hex 16)" > deploy/.env',
  up: 'docker-compose -p vaquero -f deploy/compose.yaml up -d',
  down: 'docker-compose -p vaquero -f deploy/compose.yaml down -v',
} as const;
