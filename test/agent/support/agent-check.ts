// `vaquero agent --config FILE --check` as an operator runs it: the real CLI in its own process, its exit code
// (0 ready, 2 problems) and what it printed. TEMPORAL_ADDRESS is cleared so the file's own address is the one used.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const VAQUERO = fileURLToPath(new URL('../../../bin/vaquero.js', import.meta.url));

export function agentCheck(
  file: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string }> {
  return run(process.execPath, [VAQUERO, 'agent', '--config', file, '--check'], {
    timeout: 60_000,
    env: { ...process.env, TEMPORAL_ADDRESS: '', ...env },
  }).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
}
