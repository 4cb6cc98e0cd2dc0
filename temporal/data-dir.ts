// Where vaquero keeps its state on this machine: --data-dir, VAQUERO_DATA_DIR, or a per-user default.
import os from 'node:os';
import path from 'node:path';

export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag);
  if (env.VAQUERO_DATA_DIR) return path.resolve(env.VAQUERO_DATA_DIR);
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'vaquero');
}
