// Builds the Temporal *server* (not the dev server inside the CLI): `temporal-server` (go.temporal.io/server,
// cmd/server) and its SQL schema tool `temporal-sql-tool` (cmd/tools/sql), at the server version the pinned CLI
// embeds, with the dependency versions the CLI was built with (the build module requires both the CLI and the
// server module, so Go selects the same versions and the module and build caches the CLI build filled are
// reused). The PostgreSQL v12 schemas (persistence and visibility) and the module's reference config are copied
// next to the binaries, so nothing later reads the Go module cache.
//
// Everything lands in <cache>/temporal-server-<version>/; a `build.json` written last marks it complete, so an
// interrupted build is redone and a finished one is never rebuilt. One process builds at a time (a lock file;
// a waiter re-checks the cache once the lock is gone). The binaries are written under temporary names and
// renamed.
import { execFile, spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import {
  access,
  appendFile,
  chmod,
  cp,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from './cache-dir.ts';
import { ensureTemporalCli, TEMPORAL_CLI_VERSION, TEMPORAL_SERVER_VERSION } from './cli-binary.ts';

const execFileP = promisify(execFile);

const SERVER_MODULE = 'go.temporal.io/server';
const CLI_MODULE = 'github.com/temporalio/cli';
const SERVER_PACKAGE = `${SERVER_MODULE}/cmd/server`;
const SQL_TOOL_PACKAGE = `${SERVER_MODULE}/cmd/tools/sql`;
const WRAPPER_MODULE = 'vaquero.local/temporal-server-build';
/** Schema directories of the module that a PostgreSQL deployment needs (plugin postgres12). */
const SCHEMA_DIRS = ['schema/postgresql/v12/temporal', 'schema/postgresql/v12/visibility'] as const;
/** The module's reference config for PostgreSQL, the format production-server.ts writes. */
const REFERENCE_CONFIG = 'config/development-postgres12.yaml';
const FOREIGN_LOCK_STALE_MS = 2 * 60 * 60 * 1000;
const LOCK_POLL_MS = 2000;

export interface TemporalServerBuild {
  /** e.g. 1.29.1 */
  version: string;
  /** <cache>/temporal-server-<version> */
  dir: string;
  /** `temporal-server start` runs the server. */
  serverBinary: string;
  /** `temporal-sql-tool` creates databases and sets up / updates schemas. */
  sqlToolBinary: string;
  /** schema/postgresql/v12 under dir: `temporal/` (persistence) and `visibility/`, each with versioned/. */
  postgresSchemaDir: string;
  /** The module's config/development-postgres12.yaml, copied. */
  referenceConfig: string;
}

export interface EnsureServerOptions {
  log?: (msg: string) => void;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** The CLI whose embedded server version is built; default ensureTemporalCli(). */
  cliPath?: string;
}

export function serverBuildDir(cacheDir: string, version: string): string {
  return join(cacheDir, `temporal-server-${version}`);
}

function layout(dir: string, version: string): TemporalServerBuild {
  return {
    version,
    dir,
    serverBinary: join(dir, 'temporal-server'),
    sqlToolBinary: join(dir, 'temporal-sql-tool'),
    postgresSchemaDir: join(dir, 'schema', 'postgresql', 'v12'),
    referenceConfig: join(dir, 'development-postgres12.yaml'),
  };
}

/**
 * The module versions inside a Go binary (`go version -m`): the CLI's own version and the server version it
 * embeds. Undefined when `go` cannot read it.
 */
export async function cliModuleVersions(
  cliPath: string,
  goBinary: string,
): Promise<{ cli: string; server: string } | undefined> {
  try {
    const { stdout } = await execFileP(goBinary, ['version', '-m', cliPath], {
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const mod = (name: string, kind: 'mod' | 'dep') =>
      new RegExp(`^\\s*${kind}\\s+${name.replace(/\./g, '\\.')}\\s+(v\\S+)`, 'm').exec(stdout)?.[1];
    const cli = mod(CLI_MODULE, 'mod');
    const server = mod(SERVER_MODULE, 'dep');
    return cli && server ? { cli, server: server.replace(/^v/, '') } : undefined;
  } catch {
    return undefined;
  }
}

/** `temporal-server --version` (e.g. "temporal version 1.29.1"), or undefined when it does not run. */
export async function serverBinaryVersion(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP(binary, ['--version'], { timeout: 30_000 });
    return /(\d+\.\d+\.\d+\S*)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** The cached build of `version` when it is complete and runs, else undefined. */
export async function cachedTemporalServer(
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalServerBuild | undefined> {
  const build = layout(serverBuildDir(vaqueroCacheDir(env), version), version);
  return (await isComplete(build)) ? build : undefined;
}

async function isComplete(build: TemporalServerBuild): Promise<boolean> {
  try {
    const stamp = JSON.parse(await readFile(join(build.dir, 'build.json'), 'utf8')) as { version?: string };
    if (stamp.version !== build.version) return false;
    for (const f of [build.serverBinary, build.sqlToolBinary]) await access(f, fsc.X_OK);
    for (const d of SCHEMA_DIRS) await access(join(build.dir, d, 'schema.sql'), fsc.R_OK);
    return (await serverBinaryVersion(build.serverBinary)) === build.version;
  } catch {
    return false;
  }
}

/**
 * The Temporal server at the version the CLI embeds, built on first use (several minutes on 2 cores, less when
 * the CLI build left its caches) and cached by version.
 */
export async function ensureTemporalServer(opts: EnsureServerOptions = {}): Promise<TemporalServerBuild> {
  const log = opts.log ?? (() => undefined);
  const env = opts.env ?? process.env;
  const go = await findOnPath('go', env);
  const cli = opts.cliPath ?? (await ensureTemporalCli({ log, env }));
  const versions = go ? await cliModuleVersions(cli, go) : undefined;
  const version = versions?.server ?? TEMPORAL_SERVER_VERSION;
  const cliVersion = versions?.cli ?? TEMPORAL_CLI_VERSION;
  if (version !== TEMPORAL_SERVER_VERSION) {
    log(`note: the CLI ${cli} embeds server ${version}; vaquero is tested with ${TEMPORAL_SERVER_VERSION}`);
  }
  const cacheDir = vaqueroCacheDir(env);
  const build = layout(serverBuildDir(cacheDir, version), version);
  if (await isComplete(build)) {
    log(`Temporal server ${version} from cache: ${build.dir}`);
    return build;
  }
  if (!go) {
    throw new Error(
      `Temporal server ${version} is not in ${build.dir} and \`go\` is not on PATH to build it; ` +
        'install Go (https://go.dev/dl/) and run `vaquero setup`',
    );
  }
  await mkdir(cacheDir, { recursive: true });
  const lockPath = join(cacheDir, `temporal-server-build-${version}.lock`);
  for (;;) {
    if (await tryLock(lockPath)) break;
    const holder = await lockHolder(lockPath);
    if (holder === 'gone') continue;
    if (holder === 'stale') {
      log(`removing stale build lock ${lockPath}`);
      await rm(lockPath, { force: true });
      continue;
    }
    log(`another process (${holder}) is building the Temporal server; waiting for it`);
    while ((await lockHolder(lockPath)) === holder) await delay(LOCK_POLL_MS);
    if (await isComplete(build)) return build;
  }
  try {
    if (await isComplete(build)) return build;
    await runBuild({ build, cliVersion, goBinary: go, env, log, cacheDir });
    if (!(await isComplete(build))) {
      throw new Error(`the freshly built ${build.serverBinary} does not report version ${version}`);
    }
    return build;
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

async function runBuild(o: {
  build: TemporalServerBuild;
  cliVersion: string;
  goBinary: string;
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
  cacheDir: string;
}): Promise<void> {
  const { build, log } = o;
  const moduleDir = join(o.cacheDir, `temporal-server-build-${build.version}`);
  const logPath = join(moduleDir, 'build.log');
  await mkdir(moduleDir, { recursive: true });
  await mkdir(build.dir, { recursive: true });
  await rm(join(build.dir, 'build.json'), { force: true });
  await appendFile(
    logPath,
    `\n=== ${new Date().toISOString()} build ${SERVER_MODULE}@v${build.version} (pid ${process.pid})\n`,
  );
  const env = { ...o.env, CGO_ENABLED: '0' };
  const go = (args: string[]) => runLogged(o.goBinary, args, moduleDir, env, logPath);
  const started = Date.now();

  // A fresh go.mod each time: requiring the CLI too makes Go select the dependency versions the CLI (and the
  // server inside it) was built with.
  await rm(join(moduleDir, 'go.mod'), { force: true });
  await rm(join(moduleDir, 'go.sum'), { force: true });
  await go(['mod', 'init', WRAPPER_MODULE]);
  log(`resolving ${SERVER_MODULE}@v${build.version} with ${CLI_MODULE}@${o.cliVersion} (log: ${logPath})`);
  await go([
    'get',
    `${CLI_MODULE}@${o.cliVersion}`,
    `${SERVER_PACKAGE}@v${build.version}`,
    `${SQL_TOOL_PACKAGE}@v${build.version}`,
  ]);
  log('compiling temporal-server and temporal-sql-tool (minutes on the first build; the Go cache is reused)');
  for (const [pkg, out] of [
    [SERVER_PACKAGE, build.serverBinary],
    [SQL_TOOL_PACKAGE, build.sqlToolBinary],
  ] as const) {
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      await go(['build', '-o', tmp, pkg]);
      await chmod(tmp, 0o755);
      await rename(tmp, out);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  const { stdout } = await execFileP(o.goBinary, ['list', '-m', '-f', '{{.Dir}}', SERVER_MODULE], {
    cwd: moduleDir,
    env,
    timeout: 120_000,
  });
  const source = stdout.trim();
  for (const d of SCHEMA_DIRS) {
    await rm(join(build.dir, d), { recursive: true, force: true });
    await cp(join(source, d), join(build.dir, d), { recursive: true });
  }
  await cp(join(source, REFERENCE_CONFIG), build.referenceConfig);
  // The module cache is read-only; our copies need not be.
  await execFileP('chmod', ['-R', 'u+w', build.dir], { timeout: 30_000 });
  const seconds = Math.round((Date.now() - started) / 1000);
  await writeFile(
    join(build.dir, 'build.json'),
    JSON.stringify(
      {
        version: build.version,
        cli: o.cliVersion,
        go: (await execFileP(o.goBinary, ['env', 'GOVERSION'], { env })).stdout.trim(),
        builtAt: new Date().toISOString(),
        buildSeconds: seconds,
      },
      null,
      2,
    ) + '\n',
  );
  log(`built Temporal server ${build.version} in ${seconds} s: ${build.dir}`);
}

async function tryLock(lockPath: string): Promise<boolean> {
  try {
    const fh = await open(lockPath, 'wx');
    await fh.writeFile(`${process.pid}\n${hostname()}\n`);
    await fh.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** 'gone' (no lock), 'stale' (owner dead), or a description of the live owner. */
async function lockHolder(lockPath: string): Promise<string> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await readFile(lockPath, 'utf8');
    mtimeMs = (await stat(lockPath)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const [pidText = '', host = ''] = text.split('\n');
  const pid = Number(pidText);
  if (host !== hostname()) {
    return Date.now() - mtimeMs > FOREIGN_LOCK_STALE_MS ? 'stale' : `pid ${pidText} on ${host}`;
  }
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - mtimeMs > 10_000 ? 'stale' : 'pid ?';
  try {
    process.kill(pid, 0);
    return `pid ${pid}`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? `pid ${pid}` : 'stale';
  }
}

async function runLogged(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  logPath: string,
): Promise<void> {
  await appendFile(logPath, `$ ${cmd} ${args.join(' ')}\n`);
  const fh = await open(logPath, 'a');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fh.fd, fh.fd] });
      child.once('error', reject);
      child.once('exit', (c, signal) => resolve(signal ? null : c));
    });
    if (code !== 0) {
      const tail = (await readFile(logPath, 'utf8')).split('\n').slice(-30).join('\n');
      throw new Error(
        `\`go ${args.join(' ')}\` failed (exit ${code ?? 'by signal'}); last lines of ${logPath}:\n${tail}`,
      );
    }
  } finally {
    await fh.close();
  }
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      const candidate = join(dir, name);
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, fsc.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
