// Task containers for a boot's before_shutdown and validate steps, through dockerode (Docker, or podman's
// Docker-compatible API). The SoT has already rendered every templated field (command, args, env) for the
// host. Per task, in order, stopping at the first that fails:
//   * image: pulled per the pull policy; a failed pull (reported inside the progress stream) is a failure;
//   * command → the container's entrypoint, args → its command (Kubernetes' meaning); env, plus
//     VAQUERO_SITE, VAQUERO_HOST, VAQUERO_PHASE and VAQUERO_BOOT_STAGE;
//   * timeout_s: the container is killed (SIGKILL) when it runs longer; retries: further attempts, with backoff;
//   * the exit code decides (0 = ok); the output (stdout and stderr, in order, truncated) goes to the result,
//     which the host workflow puts in its timeline;
//   * every container is removed afterwards; a cancelled activity kills the running one.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { TaskRunInput, TaskRunResult } from '../../domain/activity-contracts.ts';
import type { TaskPlan } from '../../domain/host.ts';
import { demuxLogs, truncateLog } from './container-logs.ts';
import { ensureImage, ImagePullError } from './image-pull.ts';
import type { PullPolicy, RegistryAuth } from './image-pull.ts';
import type { TaskRunner } from './task-runner.ts';

export interface ContainerTaskRunnerOptions {
  /** Network of task containers: `bridge` (default), `host`, `none`, or a named network. */
  networkMode?: string;
  pullPolicy?: PullPolicy;
  /** Credentials for the registry images are pulled from, asked for at each pull. */
  registryAuth?: () => Promise<RegistryAuth>;
  /** Characters of output kept per task (default 4000): it lands in workflow history. */
  logLimit?: number;
  /** Delay before the second attempt, doubled for each further one (default 2 s, at most 30 s). */
  retryBackoffMs?: number;
  /** Seconds between heartbeats while a container runs. */
  heartbeatEveryMs?: number;
}

type TaskResult = TaskRunResult['results'][number];

interface Attempt {
  ok: boolean;
  exitCode?: number;
  log: string;
  error?: string;
}

export class ContainerTaskRunner implements TaskRunner {
  constructor(
    private readonly docker: Docker,
    private readonly opts: ContainerTaskRunnerOptions = {},
  ) {}

  async run(
    input: TaskRunInput,
    progress: (msg: string) => void = () => undefined,
    signal?: AbortSignal,
  ): Promise<TaskRunResult> {
    const results: TaskResult[] = [];
    for (const task of input.tasks) {
      const attempts = task.retries + 1;
      let last: Attempt = { ok: false, log: '' };
      let n: number;
      for (n = 1; n <= attempts; n++) {
        progress(`${input.phase} ${task.name}: attempt ${n}/${attempts}`);
        last = await this.attempt(input, task, progress, signal);
        if (last.ok || n === attempts) break;
        await sleep(Math.min(30_000, (this.opts.retryBackoffMs ?? 2000) * 2 ** (n - 1)), signal);
      }
      results.push({
        name: task.name,
        ok: last.ok,
        ...(last.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
        attempts: Math.min(n, attempts),
        log: last.log,
        ...(last.error ? { error: last.error } : {}),
      });
      if (!last.ok) break;
    }
    return { ok: results.every((r) => r.ok), results };
  }

  private async attempt(
    input: TaskRunInput,
    task: TaskPlan,
    progress: (msg: string) => void,
    signal?: AbortSignal,
  ): Promise<Attempt> {
    signal?.throwIfAborted();
    try {
      await ensureImage(
        this.docker,
        task.image,
        this.opts.pullPolicy ?? 'if-missing',
        progress,
        this.opts.registryAuth,
      );
    } catch (err) {
      if (err instanceof ImagePullError) return { ok: false, log: '', error: err.message };
      throw err;
    }
    const env = {
      ...task.env,
      VAQUERO_SITE: input.site,
      VAQUERO_HOST: input.host,
      VAQUERO_PHASE: input.phase,
      VAQUERO_BOOT_STAGE: String(input.bootStage),
    };
    const container = await this.docker.createContainer({
      name: containerName(input, task),
      Image: task.image,
      ...(task.command.length > 0 ? { Entrypoint: task.command } : {}),
      ...(task.args.length > 0 ? { Cmd: task.args } : {}),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        'vaquero.site': input.site,
        'vaquero.host': input.host,
        'vaquero.phase': input.phase,
        'vaquero.task': task.name,
        'vaquero.boot-stage': String(input.bootStage),
      },
      HostConfig: { NetworkMode: this.opts.networkMode ?? 'bridge' },
    });
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const beat = setInterval(
      () => progress(`${input.phase} ${task.name}: running`),
      this.opts.heartbeatEveryMs ?? 5000,
    );
    const kill = () => container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    const onAbort = () => void kill();
    try {
      signal?.addEventListener('abort', onAbort, { once: true });
      await container.start();
      // Cancelled while the container was being made or started: the listener came too late to see it.
      if (signal?.aborted) onAbort();
      timer = setTimeout(() => {
        timedOut = true;
        void kill();
      }, task.timeout_s * 1000);
      const waited = (await container.wait()) as { StatusCode?: number };
      clearTimeout(timer);
      signal?.throwIfAborted();
      const exitCode = waited.StatusCode ?? -1;
      const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer;
      const log = truncateLog(
        demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))),
        this.opts.logLimit ?? 4000,
      );
      if (timedOut) return { ok: false, exitCode, log, error: `timed out after ${task.timeout_s}s (killed)` };
      return {
        ok: exitCode === 0,
        exitCode,
        log,
        ...(exitCode === 0 ? {} : { error: `exit code ${exitCode}` }),
      };
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
      signal?.removeEventListener('abort', onAbort);
      await container.remove({ force: true }).catch(() => undefined);
    }
  }
}

function containerName(input: TaskRunInput, task: TaskPlan): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `vaq-${safe(input.site)}-${safe(input.host)}-${safe(task.name)}-${randomBytes(3).toString('hex')}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
      },
      { once: true },
    );
  });
}
