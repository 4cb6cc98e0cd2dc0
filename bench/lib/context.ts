// What the runner hands each benchmark.

export interface BenchContext {
  /** Scratch directory of this benchmark (configs, logs, lease files); the runner removes it. */
  dir: string;
  log(msg: string): void;
  /** When set, the agent's bench servers run under `node --cpu-prof` and write their profiles here. */
  profileDir?: string;
  /**
   * Path prefix for files a benchmark keeps beside the run's results (`<out>/<timestamp>`, e.g. a chart as
   * `<prefix>-fleet.svg`); absent when nothing is kept (tests).
   */
  artifactPrefix?: string;
}

/** Seconds since `t0` (a performance.now() value), for durations in results. */
export const secondsSince = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
