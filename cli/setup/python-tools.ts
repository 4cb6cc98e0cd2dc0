// Python tools the lab tests drive (DESIGN.md §5): sushy-tools, whose `sushy-emulator` is the Redfish BMC
// of the tests. Installed into a virtualenv in vaquero's cache dir (never the repository, never the system
// Python), pinned, and only when the pinned version is not there yet.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../../temporal/cache-dir.ts';

const run = promisify(execFile);

export const SUSHY_TOOLS_VERSION = '2.2.0';

export function pythonToolsVenv(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(vaqueroCacheDir(env), 'python-tools');
}

export function sushyEmulatorPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(pythonToolsVenv(env), 'bin', 'sushy-emulator');
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
  const venv = pythonToolsVenv(env);
  const have = await installedVersion(venv, 'sushy-tools');
  if (
    have === SUSHY_TOOLS_VERSION &&
    (await access(sushyEmulatorPath(env)).then(
      () => true,
      () => false,
    ))
  ) {
    say(`sushy-tools ${have} present (${venv})`);
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
  say(`installing sushy-tools==${SUSHY_TOOLS_VERSION}`);
  await run(
    path.join(venv, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `sushy-tools==${SUSHY_TOOLS_VERSION}`],
    {
      maxBuffer: 16 * 2 ** 20,
    },
  );
  const now = await installedVersion(venv, 'sushy-tools');
  if (now !== SUSHY_TOOLS_VERSION)
    throw new Error(`sushy-tools install in ${venv} did not take (found ${now ?? 'nothing'})`);
  say(`sushy-tools ${now} installed`);
}
