// The SDK's process-wide runtime, installed once with a quiet logger.
import { DefaultLogger, Runtime } from '@temporalio/worker';

let runtimeInstalled = false;

/** The SDK's own log goes to stderr at WARN; vaquero's progress view owns stdout. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        // Site workers run activities only; the SDK warns about that on every start.
        if (entry.message.startsWith('No workflows registered')) return;
        process.stderr.write(`${entry.level} ${entry.message}\n`);
      }),
    });
  } catch {
    // Already installed by the embedding program: keep its choice.
  }
}
