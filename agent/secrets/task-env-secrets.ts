// Task containers get their secret env values (`env: { NAME: { secret: REF } }`) from the agent's secret store as
// they start: the activity's input, in workflow history, holds only the references.
import type { SecretStore } from '../../domain/secret.ts';
import type { TaskRunner } from '../../activities/tasks/task-runner.ts';
import { resolveSecretPlaceholders } from './resolve-placeholders.ts';

export function withTaskSecrets(runner: TaskRunner, store: SecretStore): TaskRunner {
  return {
    async run(input, progress, signal) {
      const tasks = await Promise.all(
        input.tasks.map(async (t) => ({
          ...t,
          env: Object.fromEntries(
            await Promise.all(
              Object.entries(t.env).map(
                async ([k, v]) => [k, await resolveSecretPlaceholders(v, store)] as const,
              ),
            ),
          ),
        })),
      );
      return runner.run({ ...input, tasks }, progress, signal);
    },
  };
}
