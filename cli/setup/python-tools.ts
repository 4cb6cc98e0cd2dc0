// Python tools the tests drive (DESIGN.md §5): sushy-tools, whose `sushy-emulator` is the Redfish BMC of the
// tests, and schemathesis, the API fuzzer run against the server's OpenAPI document. Each in its own virtualenv in
// vaquero's cache dir (never the repository, never the system Python; their dependencies need not agree), pinned,
// and installed only when the pinned version is not there yet.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../../temporal/cache-dir.ts';

const run = promisify(execFile);

export const SUSHY_TOOLS_VERSION = '2.2.0';
export const SCHEMATHESIS_VERSION = '4.32.5';

export function pythonToolsVenv(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(vaqueroCacheDir(env), 'python-tools');
}

export function sushyEmulatorPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(pythonToolsVenv(env), 'bin', 'sushy-emulator');
}

export function apiFuzzVenv(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(vaqueroCacheDir(env), 'api-fuzz');
}

export function schemathesisPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(apiFuzzVenv(env), 'bin', 'schemathesis');
}

async function installedVersion(venv: string, pkg: string): Promise<string | undefined> {
  try {
    const r = await run(path.join(venv, 'bin', 'python'), [
      '-c',
      `import importlib.metadata as m; print(m.version("${pkg}"))`,
    ]);
    return r.stdout.trim();
  } catch {
    return undefined;
  }
}

export async function ensurePythonTools(
  say: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  await ensureVenvPackage(
    say,
    env,
    pythonToolsVenv(env),
    'sushy-tools',
    SUSHY_TOOLS_VERSION,
    sushyEmulatorPath(env),
  );
  await ensureVenvPackage(
    say,
    env,
    apiFuzzVenv(env),
    'schemathesis',
    SCHEMATHESIS_VERSION,
    schemathesisPath(env),
  );
}

async function ensureVenvPackage(
  say: (msg: string) => void,
  env: NodeJS.ProcessEnv,
  venv: string,
  pkg: string,
  version: string,
  program: string,
): Promise<void> {
  const have = await installedVersion(venv, pkg);
  if (
    have === version &&
    (await access(program).then(
      () => true,
      () => false,
    ))
  ) {
    say(`${pkg} ${have} present (${venv})`);
    return;
  }
  const python = env.VAQUERO_PYTHON ?? 'python3';
  if (
    !(await access(path.join(venv, 'bin', 'python')).then(
      () => true,
      () => false,
    ))
  ) {
    say(`creating a Python virtualenv in ${venv}`);
    await run(python, ['-m', 'venv', venv]);
  }
  say(`installing ${pkg}==${version}`);
  await run(
    path.join(venv, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `${pkg}==${version}`],
    { maxBuffer: 16 * 2 ** 20 },
  );
  const now = await installedVersion(venv, pkg);
  if (now !== version) throw new Error(`${pkg} install in ${venv} did not take (found ${now ?? 'nothing'})`);
  say(`${pkg} ${now} installed`);
}
