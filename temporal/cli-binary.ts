// Finds a runnable `temporal` CLI (which contains the dev server and the Web UI), in the order of
// DESIGN.md §6: TEMPORAL_CLI_PATH, PATH, our cache, a build from the Go module proxy.
import { execFile } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildModuleDir, buildTemporalCli } from './cli-build.ts';
import { vaqueroCacheDir } from './cache-dir.ts';

/** The one place the CLI version is pinned. Bump both together (see `temporal --version`). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_SERVER_VERSION = '1.29.1';

export interface EnsureCliOptions {
  log?: (msg: string) => void;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

const execFileP = promisify(execFile);

export function cachedCliPath(cacheDir: string): string {
  return join(cacheDir, `temporal-${TEMPORAL_CLI_VERSION}`);
}

/** `temporal --version` output, e.g. "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)". */
export async function temporalCliVersion(binary: string): Promise<string> {
  const { stdout } = await execFileP(binary, ['--version'], { timeout: 30_000 });
  const line = stdout.trim();
  if (!/^temporal version /.test(line))
    throw new Error(`unexpected \`--version\` output: ${JSON.stringify(line)}`);
  return line;
}

export async function ensureTemporalCli(opts: EnsureCliOptions = {}): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const env = opts.env ?? process.env;
  const tried: string[] = [];

  if (env.TEMPORAL_CLI_PATH) {
    // An explicit choice is never silently replaced by another binary.
    const path = resolve(env.TEMPORAL_CLI_PATH);
    if (!(await isExecutableFile(path))) {
      throw new Error(
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file; fix or unset it`,
      );
    }
    let version: string;
    try {
      version = await temporalCliVersion(path);
    } catch (err) {
      throw new Error(
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not a working Temporal CLI: ${errText(err)}`,
        {
          cause: err,
        },
      );
    }
    log(`Temporal CLI from TEMPORAL_CLI_PATH: ${path} (${version})`);
    return path;
  }
  tried.push('TEMPORAL_CLI_PATH (unset)');

  const onPath = await findOnPath('temporal', env);
  if (onPath) {
    try {
      const version = await temporalCliVersion(onPath);
      if (!version.includes(`Server ${TEMPORAL_SERVER_VERSION}`)) {
        log(`note: ${onPath} is "${version}"; vaquero is tested with server ${TEMPORAL_SERVER_VERSION}`);
      }
      log(`Temporal CLI on PATH: ${onPath} (${version})`);
      return onPath;
    } catch (err) {
      log(`ignoring ${onPath}: ${errText(err)}`);
      tried.push(`${onPath} (does not run)`);
    }
  } else {
    tried.push('`temporal` on PATH (not found)');
  }

  const cacheDir = vaqueroCacheDir(env);
  const cached = cachedCliPath(cacheDir);
  const isUsable = async (path: string): Promise<boolean> => {
    if (!(await isExecutableFile(path))) return false;
    try {
      // The cache holds only our pinned build, so anything else there is not trusted.
      return (await temporalCliVersion(path)).includes(`Server ${TEMPORAL_SERVER_VERSION}`);
    } catch {
      return false;
    }
  };
  if (await isUsable(cached)) {
    log(`Temporal CLI from cache: ${cached}`);
    return cached;
  }
  tried.push(
    `cache ${cached} (${(await isExecutableFile(cached)) ? 'does not run or wrong version' : 'absent'})`,
  );

  const go = await findOnPath('go', env);
  if (go) {
    log(`building Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go} into ${cached}`);
    const built = await buildTemporalCli({
      cacheDir,
      version: TEMPORAL_CLI_VERSION,
      goBinary: go,
      outputPath: cached,
      log,
      env,
      isUsable,
    });
    if (!(await isUsable(built))) {
      throw new Error(`the freshly built ${built} does not report server ${TEMPORAL_SERVER_VERSION}`);
    }
    return built;
  }
  tried.push('`go` on PATH (not found, so no build from the Go module proxy)');

  throw new Error(
    [
      'No Temporal CLI found. Tried: ' + tried.join('; ') + '.',
      'To fix, do one of:',
      `  - install Go (https://go.dev/dl/) and run \`vaquero setup\`: it builds ${TEMPORAL_CLI_VERSION} into ${cacheDir}` +
        ` (module dir ${buildModuleDir(cacheDir, TEMPORAL_CLI_VERSION)});`,
      `  - put a Temporal CLI ${TEMPORAL_CLI_VERSION} (https://github.com/temporalio/cli/releases) on PATH` +
        ' or point TEMPORAL_CLI_PATH at it;',
      '  - set TEMPORAL_ADDRESS to use a Temporal server that is already running.',
      'The Temporal SDK can also download a dev server at run time, but only with internet access; vaquero does not rely on it.',
    ].join('\n'),
  );
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
