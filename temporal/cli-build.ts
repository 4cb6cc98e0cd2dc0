// Builds the pinned Temporal CLI from the Go module proxy through a small wrapper module of our
// own (later CLI versions carry `replace` directives, which `go install pkg@version` refuses).
// Only one process builds at a time: a lock file in the cache dir, and a waiter re-checks the
// cache once the lock is gone. The binary is written under a temporary name and renamed, so a
// reader never sees a half-written file, and even two builds racing through a stale lock would
// only waste CPU (Go's module and build caches are themselves safe for concurrent use).
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, appendFile, chmod, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';
const CLI_MODULE = 'github.com/temporalio/cli';
// Where v1.x keeps its version string; the linker ignores -X for a symbol that does not exist.
const VERSION_SYMBOL = 'github.com/temporalio/cli/temporalcli.Version';
const WRAPPER_MODULE = 'vaquero.local/temporal-cli-build';
// A lock whose owner we cannot check (another host) counts as abandoned after this long.
const FOREIGN_LOCK_STALE_MS = 2 * 60 * 60 * 1000;
const LOCK_POLL_MS = 2000;

export interface BuildOptions {
  cacheDir: string;
  /** e.g. v1.5.1 */
  version: string;
  goBinary: string;
  /** Final location of the binary. */
  outputPath: string;
  log: (msg: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Returns true when outputPath already holds a usable binary (checked after waiting on a lock). */
  isUsable: (path: string) => Promise<boolean>;
}

export function buildModuleDir(cacheDir: string, version: string): string {
  return join(cacheDir, `temporal-build-${version}`);
}

/** Builds the CLI into opts.outputPath unless another process does it first; returns that path. */
export async function buildTemporalCli(opts: BuildOptions): Promise<string> {
  await mkdir(opts.cacheDir, { recursive: true });
  const lockPath = join(opts.cacheDir, `temporal-build-${opts.version}.lock`);
  for (;;) {
    if (await tryLock(lockPath)) break;
    const holder = await lockHolder(lockPath);
    if (holder === 'gone') continue;
    if (holder === 'stale') {
      opts.log(`removing stale build lock ${lockPath}`);
      await rm(lockPath, { force: true });
      continue;
    }
    opts.log(`another process (${holder}) is building the Temporal CLI; waiting for it`);
    while ((await lockHolder(lockPath)) === holder) await delay(LOCK_POLL_MS);
    if (await opts.isUsable(opts.outputPath)) return opts.outputPath;
  }
  try {
    // The previous holder may have finished between our check and taking the lock.
    if (await opts.isUsable(opts.outputPath)) return opts.outputPath;
    await runBuild(opts);
    return opts.outputPath;
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
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
  // A lock written a moment ago may not hold its pid yet.
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - mtimeMs > 10_000 ? 'stale' : 'pid ?';
  return isAlive(pid) ? `pid ${pid}` : 'stale';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function runBuild(opts: BuildOptions): Promise<void> {
  const moduleDir = buildModuleDir(opts.cacheDir, opts.version);
  const logPath = join(moduleDir, 'build.log');
  await mkdir(moduleDir, { recursive: true });
  await appendFile(
    logPath,
    `\n=== ${new Date().toISOString()} build ${CLI_MODULE}@${opts.version} (pid ${process.pid})\n`,
  );
  const env = { ...(opts.env ?? process.env), CGO_ENABLED: '0' };
  const go = (args: string[]) => runLogged(opts.goBinary, args, moduleDir, env, logPath);

  const hasGoMod = await access(join(moduleDir, 'go.mod'), fsc.F_OK).then(
    () => true,
    () => false,
  );
  if (!hasGoMod) await go(['mod', 'init', WRAPPER_MODULE]);
  opts.log(`fetching ${CLI_MODULE}@${opts.version} from the Go module proxy (log: ${logPath})`);
  await go(['get', `${CLI_PACKAGE}@${opts.version}`]);
  opts.log(
    'compiling the Temporal CLI (several minutes on the first build; later builds reuse the Go cache)',
  );
  const tmp = `${opts.outputPath}.tmp-${process.pid}`;
  try {
    const ldflags = `-X ${VERSION_SYMBOL}=${opts.version.replace(/^v/, '')}`;
    await go(['build', '-ldflags', ldflags, '-o', tmp, CLI_PACKAGE]);
    await chmod(tmp, 0o755);
    await rename(tmp, opts.outputPath);
  } finally {
    await rm(tmp, { force: true });
  }
  opts.log(`built ${opts.outputPath}`);
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
