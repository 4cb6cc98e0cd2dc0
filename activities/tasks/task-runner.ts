// Runs a boot's before_shutdown or validate tasks for one host. Implementations: task containers through
// dockerode (real hosts) and the sim fleet's simulated tasks (sim hosts).
import type { TaskRunInput, TaskRunResult } from '../contracts.ts';

export interface TaskRunner {
  run(input: TaskRunInput, progress?: (msg: string) => void): Promise<TaskRunResult>;
}
