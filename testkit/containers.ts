// Running vaquero's image in tests: `podman` with vaquero's containers.conf (testkit/image.ts gives the env), its
// answers as values (a failed command is a result, not a throw), detached containers remembered by name so that
// removeAll() ends exactly the ones this test made, and a wait for a line in a container's log.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Containers {
  podman(args: string[], timeoutMs?: number): Promise<PodmanResult>;
  /** `podman run -d --name <prefix>-<name> …`; returns the full name. */
  start(name: string, args: string[]): Promise<string>;
  logs(name: string): Promise<string>;
  /** running, exited, … */
  state(name: string): Promise<string>;
  /** Waits for `pattern` in the log; fails when the container stops first or after `timeoutMs`. */
  waitForLog(name: string, pattern: RegExp, timeoutMs: number): Promise<string>;
  /** How often podman restarted it (its RestartCount). */
  restarts(name: string): Promise<number>;
  removeAll(): Promise<void>;
}

export function containers(env: NodeJS.ProcessEnv, prefix: string): Containers {
  const made: string[] = [];
  const podman = (args: string[], timeoutMs = 60_000): Promise<PodmanResult> =>
    run('podman', args, { env, timeout: timeoutMs, maxBuffer: 32 * 2 ** 20 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code?: number | string; stdout?: string; stderr?: string }) => ({
        code: typeof err.code === 'number' ? err.code : -1,
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? String(err),
      }),
    );
  const logs = async (name: string) => {
    const r = await podman(['logs', name]);
    return r.stdout + r.stderr;
  };
  const state = async (name: string) =>
    (await podman(['inspect', '--format', '{{.State.Status}}', name])).stdout.trim();
  return {
    podman,
    async start(name, args) {
      const full = `${prefix}-${name}`;
      made.push(full);
      const r = await podman(['run', '-d', '--name', full, ...args]);
      if (r.code !== 0) throw new Error(`podman run ${full}: ${r.stderr}`);
      return full;
    },
    logs,
    state,
    async waitForLog(name, pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await logs(name);
        if (pattern.test(text)) return text;
        const s = await state(name);
        if (s !== 'running') throw new Error(`${name} is ${s} before ${pattern}:\n${text.slice(-4000)}`);
        if (Date.now() > deadline)
          throw new Error(`${name}: no ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async restarts(name) {
      return Number((await podman(['inspect', '--format', '{{.RestartCount}}', name])).stdout.trim());
    },
    async removeAll() {
      for (const c of made.splice(0).reverse())
        await podman(['rm', '-f', '-t', '3', c]).catch(() => undefined);
    },
  };
}
