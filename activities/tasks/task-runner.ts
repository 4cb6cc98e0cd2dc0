// Runs a boot's before_shutdown or validate tasks for one host. Implementations: task containers through
// dockerode (real hosts) and the sim fleet's simulated tasks (sim hosts).
import type { TaskRunInput, TaskRunResult } from '../../domain/activity-contracts.ts';

export interface TaskRunner {
  /** `progress` heartbeats the activity; `signal` aborts (the activity was cancelled): running tasks are stopped. */
  run(input: TaskRunInput, progress?: (msg: string) => void, signal?: AbortSignal): Promise<TaskRunResult>;
}
