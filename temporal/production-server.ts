// A production Temporal on this machine: the Temporal server itself (`temporal-server start`, built by
// server-build.ts), not the CLI's dev server, on PostgreSQL from Debian's packages for persistence and
// visibility, with mutual TLS on the frontend. Everything lives in one data directory:
//
//   production-temporal.json   ports and database passwords (0600), and which one-time steps are done
//   postgres/data              a private PostgreSQL cluster (initdb), owned by the `postgres` user when we are root
//   postgres.log, temporal.log, setup.log
//   temporal/config/           production.yaml (format of the module's config/development-postgres12.yaml) and
//                              dynamicconfig.yaml
//
// First start: initdb, a `temporal` role, both databases and their schemas (temporal-sql-tool), the server, the
// namespace and vaquero's search attributes (the `temporal` CLI over mTLS). Later starts on the same directory
// skip what is done. PostgreSQL and the server each run under the supervisor (supervisor.ts), so neither
// outlives this process; the server can be SIGKILLed and started again on the same PostgreSQL.
// The README's "Production Temporal" recipe runs the same commands by hand.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  access,
  chmod,
  chown,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { NAMESPACE_DEFAULT, SEARCH_ATTRIBUTES } from '../domain/temporal-names.ts';
import type { SearchAttributeType } from '@temporalio/common';
import { ensureTemporalCli } from './cli-binary.ts';
import { assertPortFree, freePort } from './ports.ts';
import { ensureTemporalServer } from './server-build.ts';
import type { TemporalServerBuild } from './server-build.ts';
import { spawnSupervised } from './supervisor.ts';
import { codecSettingsToEnv } from './codec/codec-settings.ts';
import { devCodecSettings } from './codec/dev-key.ts';
import type { SupervisedProcess } from './supervisor.ts';

const execFileP = promisify(execFile);
const HOST = '127.0.0.1';
const STATE_FILE = 'production-temporal.json';
const SQL_PLUGIN = 'postgres12';
const DATABASES = { persistence: 'temporal', visibility: 'temporal_visibility' } as const;
const SQL_USER = 'temporal';
/** `temporal-server --env production` reads config/production.yaml. */
const SERVER_ENV = 'production';

const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** PEM files for mutual TLS on the frontend. */
export interface FrontendTls {
  /** The frontend's certificate and key. */
  serverCert: string;
  serverKey: string;
  /** The CA whose client certificates the frontend accepts (and requires). */
  clientCa: string;
  /** The CA that signed serverCert: what clients trust. */
  serverCa: string;
  /** The name in serverCert that clients check (SNI). */
  serverName: string;
  /** A client certificate the server's own system worker and our CLI calls present. */
  clientCert: string;
  clientKey: string;
}

export interface ProductionPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  postgres: number;
}

export interface ProductionTemporalOptions {
  dataDir: string;
  tls: FrontendTls;
  namespace?: string;
  /** Default: vaquero's own (domain/temporal-names.ts). */
  searchAttributes?: Readonly<Record<string, SearchAttributeType>>;
  /** Fixed at the first start (kept in the state file); default: free ports. */
  ports?: Partial<ProductionPorts>;
  /** Fixed forever at the first start (Temporal cannot change it later); default 4, a production cluster wants more. */
  historyShards?: number;
  /** Namespace retention, as the CLI takes it (default 168h). */
  retention?: string;
  /** The user PostgreSQL runs as when we are root (it refuses to run as root); default `postgres`. */
  postgresUser?: string;
  /** The server's log level (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Default: ensureTemporalServer(). */
  build?: TemporalServerBuild;
  /** Default: ensureTemporalCli(). */
  cliPath?: string;
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface ProductionTemporal {
  /** host:port of the frontend (mTLS). */
  address: string;
  namespace: string;
  version: string;
  dataDir: string;
  configFile: string;
  serverLog: string;
  postgresLog: string;
  ports: ProductionPorts;
  /**
   * The environment connectTemporal() (and `vaquero server|worker`) take to reach this server over mTLS with the
   * client certificate of `tls`, and the payload codec's key (made in the data directory) as VAQUERO_CODEC_KEYS.
   */
  clientEnv: NodeJS.ProcessEnv;
  /** Pid of the running temporal-server process (undefined while it is stopped). */
  serverPid(): number | undefined;
  /** The `temporal` CLI against this server over mTLS (`--address` and the TLS flags added); returns stdout. */
  cli(args: readonly string[]): Promise<string>;
  /** SIGKILL to temporal-server (PostgreSQL keeps running); resolves once it is gone. */
  killServer(): Promise<void>;
  /** SIGTERM to temporal-server, SIGKILL after a grace period. */
  stopServer(): Promise<void>;
  /** Starts temporal-server again on the same config and PostgreSQL; resolves once the namespace answers. */
  startServer(): Promise<void>;
  /** Stops the server, then PostgreSQL. Idempotent. */
  stop(): Promise<void>;
}

interface State {
  version: string;
  ports: ProductionPorts;
  historyShards: number;
  postgresPassword: string;
  temporalPassword: string;
  schemaReady?: boolean;
  namespaceReady?: string[];
}

export async function startProductionTemporal(opts: ProductionTemporalOptions): Promise<ProductionTemporal> {
  const log = opts.log ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  const namespace = opts.namespace ?? NAMESPACE_DEFAULT;
  const attrs = opts.searchAttributes ?? SEARCH_ATTRIBUTES;
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  await mkdir(dataDir, { recursive: true });
  const cliPath = opts.cliPath ?? (await ensureTemporalCli({ log }));
  const build = opts.build ?? (await ensureTemporalServer({ log, cliPath }));
  const state = await loadOrCreateState(dataDir, build.version, opts);
  const save = () => writeState(dataDir, state);
  const files = {
    configDir: path.join(dataDir, 'temporal', 'config'),
    configFile: path.join(dataDir, 'temporal', 'config', `${SERVER_ENV}.yaml`),
    dynamicConfig: path.join(dataDir, 'temporal', 'config', 'dynamicconfig.yaml'),
    serverLog: path.join(dataDir, 'temporal.log'),
    postgresLog: path.join(dataDir, 'postgres.log'),
    setupLog: path.join(dataDir, 'setup.log'),
  };
  const address = `${HOST}:${state.ports.frontend}`;
  const tlsArgs = [
    '--address',
    address,
    '--tls-cert-path',
    opts.tls.clientCert,
    '--tls-key-path',
    opts.tls.clientKey,
    '--tls-ca-path',
    opts.tls.serverCa,
    '--tls-server-name',
    opts.tls.serverName,
  ];
  const cli = async (args: readonly string[]): Promise<string> => {
    const { stdout } = await execFileP(cliPath, [...args, ...tlsArgs], { timeout: 30_000 });
    return stdout;
  };

  const postgres = await startPostgres({
    dataDir,
    port: state.ports.postgres,
    superuserPassword: state.postgresPassword,
    logFile: files.postgresLog,
    ...(opts.postgresUser !== undefined ? { user: opts.postgresUser } : {}),
    log,
  });
  let server: SupervisedProcess | undefined;
  const stopServer = async () => {
    const s = server;
    server = undefined;
    await s?.stop();
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await stopServer();
      } finally {
        await postgres.stop();
      }
    })();
    return stopping;
  };

  try {
    if (!state.schemaReady) {
      await setUpDatabases({
        build,
        port: state.ports.postgres,
        superuserPassword: state.postgresPassword,
        temporalPassword: state.temporalPassword,
        logFile: files.setupLog,
        log,
      });
      state.schemaReady = true;
      await save();
    }
    await writeServerConfig(files, state, opts);
    const startServer = async () => {
      if (server) throw new Error(`temporal-server is already running (pid ${server.pid})`);
      for (const [what, port] of Object.entries(state.ports)) {
        if (what !== 'postgres') await assertPortFree(HOST, port, `Temporal ${what}`);
      }
      server = await spawnServer(build, files, dataDir);
      log(
        `temporal-server ${build.version} starting (pid ${server.pid}) on ${address}; log: ${files.serverLog}`,
      );
      const proc = server;
      await waitFor(
        'the frontend to answer over mTLS',
        async () => /SERVING/.test(await cli(['operator', 'cluster', 'health'])),
        { timeoutMs, exited: proc.exited, logFile: files.serverLog },
      );
      const wanted = [namespace, ...Object.keys(attrs).sort()];
      if (JSON.stringify(state.namespaceReady) !== JSON.stringify(wanted)) {
        await createNamespace(cli, namespace, opts.retention ?? '168h', attrs, log, async (what, call) => {
          let result: Awaited<ReturnType<typeof call>> | undefined;
          await waitFor(
            what,
            async () => {
              result = await call();
              return true;
            },
            { timeoutMs, exited: proc.exited, logFile: files.serverLog },
          );
          return result!;
        });
        state.namespaceReady = wanted;
        await save();
      }
      // The frontend learns of a new namespace and its search attribute names on its next cache refresh.
      const probe = Object.keys(attrs)
        .map((name) => `${name} = ''`)
        .join(' AND ');
      await waitFor(
        `namespace ${namespace} to answer a query on its search attributes`,
        async () => {
          await cli(['workflow', 'count', '--namespace', namespace, '--query', probe || "WorkflowId = ''"]);
          return true;
        },
        { timeoutMs, exited: proc.exited, logFile: files.serverLog },
      );
      log(`Temporal ${build.version} ready: ${address} (mTLS), namespace ${namespace}`);
    };
    await startServer();
    const codecEnv = codecSettingsToEnv(await devCodecSettings(dataDir));

    return {
      address,
      namespace,
      version: build.version,
      dataDir,
      configFile: files.configFile,
      serverLog: files.serverLog,
      postgresLog: files.postgresLog,
      ports: state.ports,
      clientEnv: {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        TEMPORAL_TLS_CERT: opts.tls.clientCert,
        TEMPORAL_TLS_KEY: opts.tls.clientKey,
        TEMPORAL_TLS_CA: opts.tls.serverCa,
        TEMPORAL_TLS_SERVER_NAME: opts.tls.serverName,
        ...codecEnv,
      },
      serverPid: () => server?.pid,
      cli,
      async killServer() {
        const s = server;
        if (!s) return;
        server = undefined;
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
        await s.stop();
      },
      stopServer,
      startServer,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function loadOrCreateState(
  dataDir: string,
  version: string,
  opts: ProductionTemporalOptions,
): Promise<State> {
  const file = path.join(dataDir, STATE_FILE);
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as State;
    if (state.version !== version) {
      // Newer servers need `temporal-sql-tool update-schema` first; not done here.
      throw new Error(
        `${dataDir} holds a Temporal ${state.version} cluster; this is ${version}: update its schemas first`,
      );
    }
    return state;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const seen = new Set<number>(Object.values(opts.ports ?? {}));
  const next = async (): Promise<number> => {
    for (;;) {
      const p = await freePort(HOST);
      if (!seen.has(p)) {
        seen.add(p);
        return p;
      }
    }
  };
  const p = opts.ports ?? {};
  const ports: ProductionPorts = {
    frontend: p.frontend ?? (await next()),
    frontendHttp: p.frontendHttp ?? (await next()),
    frontendMembership: p.frontendMembership ?? (await next()),
    history: p.history ?? (await next()),
    historyMembership: p.historyMembership ?? (await next()),
    matching: p.matching ?? (await next()),
    matchingMembership: p.matchingMembership ?? (await next()),
    worker: p.worker ?? (await next()),
    workerMembership: p.workerMembership ?? (await next()),
    postgres: p.postgres ?? (await next()),
  };
  const state: State = {
    version,
    ports,
    historyShards: opts.historyShards ?? 4,
    postgresPassword: randomBytes(18).toString('hex'),
    temporalPassword: randomBytes(18).toString('hex'),
  };
  await writeState(dataDir, state);
  return state;
}

async function writeState(dataDir: string, state: State): Promise<void> {
  const file = path.join(dataDir, STATE_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** The newest PostgreSQL server Debian's packages installed: /usr/lib/postgresql/<major>/bin. */
export async function postgresBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const majors = await readdir(root).then(
    (names) => names.filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(b) - Number(a)),
    () => [] as string[],
  );
  for (const major of majors) {
    const bin = path.join(root, major, 'bin');
    if (
      await access(path.join(bin, 'postgres')).then(
        () => true,
        () => false,
      )
    )
      return bin;
  }
  throw new Error(
    'PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/postgres): ' +
      '`apt-get install postgresql` or `vaquero setup --lab`',
  );
}

interface Postgres {
  stop(): Promise<void>;
}

/**
 * A private PostgreSQL cluster in <dataDir>/postgres/data listening on 127.0.0.1:<port> only (no Unix socket),
 * password authentication (scram-sha-256) for every connection. Never the system's cluster.
 */
async function startPostgres(o: {
  dataDir: string;
  port: number;
  superuserPassword: string;
  logFile: string;
  user?: string;
  log: (msg: string) => void;
}): Promise<Postgres> {
  const bin = await postgresBinDir();
  const pgDir = path.join(o.dataDir, 'postgres');
  const data = path.join(pgDir, 'data');
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  // PostgreSQL refuses to run as root: as root, it runs as an unprivileged user (setpriv execs, so the pid we
  // supervise is the postmaster's own).
  let asUser: string[] = [];
  let owner: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    const user = o.user ?? 'postgres';
    const id = async (flag: string) => Number((await execFileP('id', [flag, user])).stdout.trim());
    const [uid, gid] = [await id('-u'), await id('-g')];
    owner = { uid, gid };
    await chown(pgDir, uid, gid);
    await chmod(pgDir, 0o700);
    // The data directory we were given must let that user through to postgres/.
    const mode = (await stat(o.dataDir)).mode;
    if ((mode & 0o001) === 0) await chmod(o.dataDir, (mode & 0o777) | 0o711);
    asUser = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
    try {
      await execFileP(asUser[0]!, [...asUser.slice(1), 'test', '-w', pgDir], { timeout: 10_000 });
    } catch {
      throw new Error(`user ${user} cannot write ${pgDir}: make every directory above it traversable (o+x)`);
    }
  }
  const as = (cmd: string, args: string[]): [string, string[]] =>
    asUser.length > 0 ? [asUser[0]!, [...asUser.slice(1), cmd, ...args]] : [cmd, args];

  const initialized = await access(path.join(data, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!initialized) {
    const pwFile = path.join(pgDir, 'initdb.pw');
    await writeFile(pwFile, o.superuserPassword + '\n', { mode: 0o600 });
    if (owner) await chown(pwFile, owner.uid, owner.gid);
    o.log(`initdb ${data}`);
    try {
      const [cmd, args] = as(path.join(bin, 'initdb'), [
        '-D',
        data,
        '-U',
        'postgres',
        '--auth=scram-sha-256',
        `--pwfile=${pwFile}`,
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
      ]);
      await execFileP(cmd, args, { timeout: 120_000, cwd: pgDir });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`initdb failed: ${e.stderr?.trim() || e.message}`, { cause: err });
    } finally {
      await rm(pwFile, { force: true });
    }
  }

  await assertPortFree(HOST, o.port, 'PostgreSQL');
  const [cmd, args] = as(path.join(bin, 'postgres'), [
    '-D',
    data,
    '-c',
    `listen_addresses=${HOST}`,
    '-c',
    `port=${o.port}`,
    '-c',
    'unix_socket_directories=',
    // Every Temporal service (frontend, history, matching, worker) keeps its own pools.
    '-c',
    'max_connections=200',
  ]);
  const logHandle = await open(o.logFile, 'a');
  let proc: SupervisedProcess;
  try {
    await logHandle.write(`\n=== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    proc = await spawnSupervised(cmd, args, { outputFd: logHandle.fd, graceMs: 30_000, cwd: pgDir });
  } finally {
    await logHandle.close();
  }
  o.log(`PostgreSQL starting (pid ${proc.pid}) on ${HOST}:${o.port}; log: ${o.logFile}`);
  const stop = async () => {
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
    try {
      process.kill(proc.pid, 'SIGINT');
    } catch {
      // already gone
    }
    const ac = new AbortController();
    await Promise.race([proc.exited, delay(30_000, undefined, { signal: ac.signal }).catch(() => undefined)]);
    ac.abort();
    await proc.stop();
  };
  try {
    await waitFor(
      'PostgreSQL to accept connections',
      async () => {
        await execFileP(
          path.join(bin, 'pg_isready'),
          ['-h', HOST, '-p', String(o.port), '-d', 'postgres', '-t', '2'],
          {
            timeout: 10_000,
          },
        );
        return true;
      },
      { timeoutMs: 60_000, exited: proc.exited, logFile: o.logFile },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

/** The `temporal` role, both databases and their schemas, as the module's SQL tool sets them up. */
async function setUpDatabases(o: {
  build: TemporalServerBuild;
  port: number;
  superuserPassword: string;
  temporalPassword: string;
  logFile: string;
  log: (msg: string) => void;
}): Promise<void> {
  const bin = await postgresBinDir();
  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv) =>
    runLogged(cmd, args, { ...process.env, ...env }, o.logFile);
  o.log('creating the temporal role and databases, and setting up their schemas (temporal-sql-tool)');
  await run(
    path.join(bin, 'psql'),
    [
      '-h',
      HOST,
      '-p',
      String(o.port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `CREATE ROLE ${SQL_USER} LOGIN CREATEDB PASSWORD '${o.temporalPassword}'`,
    ],
    { PGPASSWORD: o.superuserPassword },
  );
  const common = ['--plugin', SQL_PLUGIN, '--ep', HOST, '-p', String(o.port), '-u', SQL_USER];
  const env = { SQL_PASSWORD: o.temporalPassword };
  for (const [kind, db] of Object.entries(DATABASES)) {
    const schema = path.join(o.build.postgresSchemaDir, kind === 'persistence' ? 'temporal' : 'visibility');
    await run(o.build.sqlToolBinary, [...common, '--db', db, 'create'], env);
    await run(o.build.sqlToolBinary, [...common, '--db', db, 'setup-schema', '-v', '0.0'], env);
    await run(
      o.build.sqlToolBinary,
      [...common, '--db', db, 'update-schema', '-d', path.join(schema, 'versioned')],
      env,
    );
  }
}

/** The server's static config (the module's config/development-postgres12.yaml, with mTLS) and dynamic config. */
async function writeServerConfig(
  files: { configDir: string; configFile: string; dynamicConfig: string },
  state: State,
  opts: ProductionTemporalOptions,
): Promise<void> {
  const { ports } = state;
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: SQL_PLUGIN,
      databaseName,
      connectAddr: `${HOST}:${ports.postgres}`,
      connectProtocol: 'tcp',
      user: SQL_USER,
      password: state.temporalPassword,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: HOST, ...extra },
  });
  // A function, not one object: YAML would write a shared object as an anchor and an alias.
  const clientTls = () => ({ serverName: opts.tls.serverName, rootCaFiles: [opts.tls.serverCa] });
  const config = {
    log: { stdout: true, level: opts.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: state.historyShards,
      datastores: {
        'postgres-default': sql(DATABASES.persistence, 20),
        'postgres-visibility': sql(DATABASES.visibility, 10),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: HOST },
      tls: {
        // Only the frontend is exposed; the other services listen on loopback in this one process.
        frontend: {
          server: {
            certFile: opts.tls.serverCert,
            keyFile: opts.tls.serverKey,
            clientCaFiles: [opts.tls.clientCa],
            requireClientAuth: true,
          },
          client: clientTls(),
        },
        // The server's own system workers (and other internal callers) reach the frontend like any client.
        systemWorker: { certFile: opts.tls.clientCert, keyFile: opts.tls.clientKey, client: clientTls() },
      },
    },
    services: {
      frontend: rpc(ports.frontend, ports.frontendMembership, { httpPort: ports.frontendHttp }),
      history: rpc(ports.history, ports.historyMembership),
      matching: rpc(ports.matching, ports.matchingMembership),
      worker: rpc(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `${HOST}:${ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: files.dynamicConfig, pollInterval: '10s' },
  };
  // The dev server's visibility rate (its default is 10 per second per namespace, which the REST API's listings
  // and a rollout's queries can exceed).
  const dynamic = { 'frontend.namespaceRPS.visibility': [{ value: 100 }] };
  await mkdir(files.configDir, { recursive: true });
  await writeFile(
    files.configFile,
    '# Written by vaquero (temporal/production-server.ts); read by `temporal-server --env production start`.\n' +
      stringify(config),
    { mode: 0o600 },
  );
  await writeFile(files.dynamicConfig, stringify(dynamic));
}

async function spawnServer(
  build: TemporalServerBuild,
  files: { configDir: string; serverLog: string },
  dataDir: string,
): Promise<SupervisedProcess> {
  const root = path.dirname(files.configDir);
  const args = [
    '--root',
    root,
    '--config',
    path.basename(files.configDir),
    '--env',
    SERVER_ENV,
    // Authentication is the frontend's mTLS (a certificate from the client CA); no per-namespace authorizer.
    '--allow-no-auth',
    'start',
  ];
  const logHandle = await open(files.serverLog, 'a');
  try {
    await logHandle.write(`\n=== ${new Date().toISOString()} ${build.serverBinary} ${args.join(' ')}\n`);
    return await spawnSupervised(build.serverBinary, args, {
      outputFd: logHandle.fd,
      graceMs: 15_000,
      cwd: dataDir,
    });
  } finally {
    await logHandle.close();
  }
}

/** The namespace and the search attributes, with the CLI (what the README's recipe runs). */
async function createNamespace(
  cli: (args: readonly string[]) => Promise<string>,
  namespace: string,
  retention: string,
  attrs: Readonly<Record<string, SearchAttributeType>>,
  log: (msg: string) => void,
  untilAnswered: <T>(what: string, call: () => Promise<T>) => Promise<T>,
): Promise<void> {
  const exists = await cli(['operator', 'namespace', 'describe', '--namespace', namespace]).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await cli(['operator', 'namespace', 'create', '--namespace', namespace, '--retention', retention]);
    log(`created namespace ${namespace}`);
  }
  // A new namespace reaches the frontend's cache within seconds.
  const listed = await untilAnswered(`namespace ${namespace} to be served`, () =>
    cli(['operator', 'search-attribute', 'list', '--namespace', namespace]),
  );
  const have = new Map(
    listed
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w.length === 2)
      .map(([name, type]) => [name, type]),
  );
  const missing = Object.entries(attrs).filter(([name]) => !have.has(name));
  for (const [name, type] of Object.entries(attrs)) {
    const existing = have.get(name);
    if (existing !== undefined && existing !== CLI_TYPE_NAMES[type]) {
      throw new Error(
        `search attribute ${name} exists in ${namespace} as ${existing}, not ${CLI_TYPE_NAMES[type]}`,
      );
    }
  }
  if (missing.length === 0) return;
  await cli([
    'operator',
    'search-attribute',
    'create',
    '--namespace',
    namespace,
    ...missing.flatMap(([name, type]) => ['--name', name, '--type', CLI_TYPE_NAMES[type]]),
  ]);
  log(`added search attributes to ${namespace}: ${missing.map(([n]) => n).join(', ')}`);
}

async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  o: { timeoutMs: number; exited: Promise<number | null>; logFile: string },
): Promise<void> {
  let exitCode: number | null | undefined;
  void o.exited.then((code) => (exitCode = code));
  const deadline = Date.now() + o.timeoutMs;
  let lastError = '';
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `exited (status ${exitCode}) while waiting for ${what}; see ${o.logFile}:\n${await tail(o.logFile)}`,
      );
    }
    try {
      if (await probe()) return;
    } catch (err) {
      const e = err as { stderr?: string; message?: string };
      lastError = (e.stderr || e.message || String(err)).trim().split('\n').slice(-2).join(' ');
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${o.timeoutMs} ms waiting for ${what} (${lastError}); see ${o.logFile}:\n${await tail(o.logFile)}`,
      );
    }
    await delay(250);
  }
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n').trimEnd();
  } catch {
    return '(no log)';
  }
}

async function runLogged(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
): Promise<void> {
  const fh = await open(logFile, 'a');
  try {
    await fh.write(`$ ${cmd} ${args.join(' ')}\n`);
    const { stdout, stderr } = await execFileP(cmd, args, {
      env,
      timeout: 120_000,
      maxBuffer: 16 << 20,
    }).catch(async (err: { stdout?: string; stderr?: string; message: string }) => {
      await fh.write(`${err.stdout ?? ''}${err.stderr ?? ''}\n`);
      throw new Error(
        `${path.basename(cmd)} ${args.slice(-3).join(' ')} failed: ${err.message}; see ${logFile}`,
        {
          cause: err,
        },
      );
    });
    await fh.write(stdout + stderr);
  } finally {
    await fh.close();
  }
}
