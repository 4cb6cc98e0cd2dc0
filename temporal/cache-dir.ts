// Where vaquero keeps machine-local artefacts (the Temporal CLI binary and its build module).
// Large binaries must never land in the repository, so a cache dir inside it is refused.
import { homedir } from 'node:os';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export function vaqueroCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.VAQUERO_CACHE_DIR
    ? resolve(env.VAQUERO_CACHE_DIR)
    : env.XDG_CACHE_HOME
      ? join(resolve(env.XDG_CACHE_HOME), 'vaquero')
      : join(homedir(), '.cache', 'vaquero');
  const rel = relative(PROJECT_ROOT, dir);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new Error(
      `cache directory ${dir} is inside the project (${PROJECT_ROOT}); ` +
        'set VAQUERO_CACHE_DIR or XDG_CACHE_HOME to a directory outside it',
    );
  }
  return dir;
}
