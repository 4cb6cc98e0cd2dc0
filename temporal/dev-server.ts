// The embedded Temporal server: `temporal server start-dev` with a SQLite file in our data dir,
// bound to 127.0.0.1, every port it lets us choose chosen by us, run under the supervisor so it
// never outlives this process.
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureTemporalCli } from './cli-binary.ts';
import { NAMESPACE_DEFAULT, SEARCH_ATTRIBUTES } from '../domain/temporal-names.ts';
import { assertPortFree } from './ports.ts';
import { findProcesses } from './processes.ts';
import { ensureSearchAttributes } from './search-attributes.ts';
import { spawnSupervised } from './supervisor.ts';
import type { SupervisedProcess } from './supervisor.ts';

const HOST = '127.0.0.1';
export const DEFAULT_SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'wal',
  synchronous: 'normal',
};

export interface DevServerPorts {
  /** Frontend gRPC, default 7233; the other defaults derive from it so one number moves them all. */
  grpc?: number;
  /** Web UI, default grpc + 1000. */
  ui?: number;
  /** Frontend HTTP API, default grpc + 10. */
  http?: number;
  /** Prometheus /metrics, default grpc + 20. */
  metrics?: number;
}

export interface DevServerOptions {
  /** Holds temporal.sqlite and temporal.log. */
  dataDir: string;
  namespace?: string;
  /** Serve the Web UI (default true); false runs headless. */
  ui?: boolean;
  ports?: DevServerPorts;
  /** Default: vaquero's own search attributes. */
  searchAttributes?: Readonly<Record<string, SearchAttributeType>>;
  /**
   * SQLite pragmas. Default: WAL with synchronous=NORMAL, which survives a crash of any process (only an OS
   * crash can lose the last transactions) and makes the server about 2.5 times faster than SQLite's defaults
   * on a rollout of the example fleet (see README).
   */
  sqlitePragmas?: Readonly<Record<string, string>>;
  /** Extra `--dynamic-config-value` entries, e.g. { 'frontend.enableExecuteMultiOperation': true }. */
  dynamicConfig?: Readonly<Record<string, unknown>>;
  /** The Web UI's remote codec endpoint (`vaquero server`'s /codec): the UI posts payloads there to show them decoded. */
  uiCodecEndpoint?: string;
  /** How long to wait for the server to answer (default 60 s; a new SQLite file takes a few). */
  startTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL on stop (default 10 s). */
  stopGraceMs?: number;
  /** Default: ensureTemporalCli(). */
  cliPath?: string;
  log?: (msg: string) => void;
}

export interface DevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  uiUrl?: string;
  namespace: string;
  /** The `temporal` process. */
  pid: number;
  supervisorPid: number;
  logFile: string;
  /** Resolves when the server has exited (for any reason) with its exit status. */
  exited: Promise<number | null>;
  /** Idempotent; resolves when the server process is gone. */
  stop(): Promise<void>;
}

const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? (() => undefined);
  const dataDir = resolve(opts.dataDir);
  const namespace = opts.namespace ?? NAMESPACE_DEFAULT;
  const attrs = opts.searchAttributes ?? SEARCH_ATTRIBUTES;
  const withUi = opts.ui ?? true;
  const grpc = opts.ports?.grpc ?? 7233;
  const ports = {
    grpc,
    http: opts.ports?.http ?? grpc + 10,
    metrics: opts.ports?.metrics ?? grpc + 20,
    ui: opts.ports?.ui ?? grpc + 1000,
  };
  const address = `${HOST}:${ports.grpc}`;
  const uiUrl = withUi ? `http://${HOST}:${ports.ui}` : undefined;

  const dbFile = join(dataDir, 'temporal.sqlite');
  await mkdir(dataDir, { recursive: true });
  const cli = opts.cliPath ?? (await ensureTemporalCli({ log }));
  // Two servers on one SQLite file would corrupt each other's state; start-dev does not check.
  const holders = findProcesses((argv) =>
    argv.some((a, i) => a === '--db-filename' && argv[i + 1] === dbFile),
  );
  if (holders.length > 0) {
    throw new Error(`another Temporal dev server (pid ${holders.join(', ')}) is already using ${dbFile}`);
  }
  // Checked here rather than left to the CLI: until it fails, our readiness probe could be
  // answered by whatever already listens on the gRPC port.
  await assertPortFree(HOST, ports.grpc, 'Temporal gRPC');
  await assertPortFree(HOST, ports.http, 'Temporal HTTP API');
  await assertPortFree(HOST, ports.metrics, 'Temporal metrics');
  if (withUi) await assertPortFree(HOST, ports.ui, 'Temporal Web UI');

  const args = [
    'server',
    'start-dev',
    '--ip',
    HOST,
    '--port',
    String(ports.grpc),
    '--http-port',
    String(ports.http),
    '--metrics-port',
    String(ports.metrics),
    ...(withUi ? ['--ui-port', String(ports.ui)] : ['--headless']),
    ...(withUi && opts.uiCodecEndpoint !== undefined ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    '--db-filename',
    dbFile,
    ...Object.entries(opts.sqlitePragmas ?? DEFAULT_SQLITE_PRAGMAS).flatMap(([k, v]) => [
      '--sqlite-pragma',
      `${k}=${v}`,
    ]),
    // "default" always exists; naming it again is pointless.
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
    ...Object.entries(attrs).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${CLI_TYPE_NAMES[type]}`,
    ]),
    ...Object.entries(opts.dynamicConfig ?? {}).flatMap(([k, v]) => [
      '--dynamic-config-value',
      `${k}=${JSON.stringify(v)}`,
    ]),
    '--log-level',
    'warn',
  ];

  const logFile = join(dataDir, 'temporal.log');
  const logHandle = await open(logFile, 'a');
  let proc: SupervisedProcess;
  let logStart: number;
  try {
    await logHandle.write(`\n=== ${new Date().toISOString()} ${cli} ${args.join(' ')}\n`);
    logStart = (await logHandle.stat()).size;
    const supervise = {
      outputFd: logHandle.fd,
      ...(opts.stopGraceMs !== undefined ? { graceMs: opts.stopGraceMs } : {}),
    };
    proc = await spawnSupervised(cli, args, supervise).catch(async (err: unknown) => {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(
        `cannot start ${cli}: ${why}; last lines of ${logFile}:\n${await logTail(logFile, logStart)}`,
        {
          cause: err,
        },
      );
    });
  } finally {
    await logHandle.close();
  }
  log(`Temporal dev server starting (pid ${proc.pid}) on ${address}; log: ${logFile}`);

  try {
    await waitReady({
      address,
      namespace,
      attrs,
      log,
      timeoutMs: opts.startTimeoutMs ?? 60_000,
      exited: proc.exited,
      failure: async (why) =>
        new Error(
          `Temporal dev server on ${address} ${why}; last lines of ${logFile}:\n${await logTail(logFile, logStart)}`,
        ),
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  log(`Temporal dev server ready: ${address}, namespace ${namespace}${uiUrl ? `, UI ${uiUrl}` : ''}`);
  return {
    address,
    ...(uiUrl !== undefined ? { uiUrl } : {}),
    namespace,
    pid: proc.pid,
    supervisorPid: proc.supervisorPid,
    logFile,
    exited: proc.exited,
    stop: proc.stop,
  };
}

/** Polls until the namespace answers, then makes sure our search attributes are in it. */
interface ReadyCheck {
  address: string;
  namespace: string;
  attrs: Readonly<Record<string, SearchAttributeType>>;
  log: (msg: string) => void;
  timeoutMs: number;
  exited: Promise<number | null>;
  /** Builds the error to throw, with the log tail. */
  failure: (why: string) => Promise<Error>;
}

async function waitReady({
  address,
  namespace,
  attrs,
  log,
  timeoutMs,
  exited,
  failure,
}: ReadyCheck): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  let conn: Connection | undefined;
  let lastError = '';
  try {
    for (;;) {
      if (exitCode !== undefined) throw await failure(`exited during start (status ${exitCode})`);
      if (Date.now() > deadline) throw await failure(`did not answer within ${timeoutMs} ms (${lastError})`);
      try {
        // Short connect timeout: an early exit of the server is noticed between attempts.
        conn ??= await Connection.connect({ address, connectTimeout: 500 });
        const c = conn;
        await c.withDeadline(Date.now() + 2_000, () => c.workflowService.describeNamespace({ namespace }));
        break;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        await delay(250);
      }
    }
    const added = await ensureSearchAttributes(conn, namespace, attrs);
    if (added.length > 0) log(`added search attributes to namespace ${namespace}: ${added.join(', ')}`);
  } finally {
    await conn?.close();
  }
}

async function logTail(logFile: string, from: number, lines = 40): Promise<string> {
  try {
    const text = (await readFile(logFile)).subarray(from).toString('utf8');
    return text.split('\n').slice(-lines).join('\n').trimEnd() || '(empty)';
  } catch (err) {
    return `(cannot read log: ${err instanceof Error ? err.message : String(err)})`;
  }
}
