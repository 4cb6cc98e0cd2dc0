// The SDK's process-wide runtime, installed once with a quiet logger.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { LogEntry } from '@temporalio/worker';

let runtimeInstalled = false;

/** The fields of an SDK log entry worth a line: which run, which activity, what went wrong. */
const SHOWN = ['workflowType', 'workflowId', 'runId', 'activityType', 'attempt', 'taskQueue'] as const;
const MAX_FIELD = 300;
const MAX_LINE = 1200;

function short(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function errorText(e: unknown): string | undefined {
  if (e === undefined || e === null) return undefined;
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? ` (cause: ${e.cause.message})` : '';
    return `${e.name}: ${e.message}${cause}`;
  }
  return typeof e === 'string' ? e : JSON.stringify(e);
}

/**
 * One line for an SDK log entry, or undefined for one not worth printing: level, message, the run and activity it
 * concerns, and the error. Without them "WARN Activity failed" says nothing an operator can act on.
 */
export function formatSdkLogEntry(entry: LogEntry): string | undefined {
  // Site workers run activities only; the SDK warns about that on every start.
  if (entry.message.startsWith('No workflows registered')) return undefined;
  const meta = entry.meta ?? {};
  const fields = SHOWN.flatMap((k) => {
    const v = meta[k];
    return v === undefined || v === null || v === '' ? [] : [`${k}=${short(String(v), MAX_FIELD)}`];
  });
  const error = errorText(meta.error);
  const line = `${entry.level} ${entry.message}${fields.length ? ` (${fields.join(', ')})` : ''}${error ? `: ${short(error, MAX_FIELD * 2)}` : ''}`;
  return short(line, MAX_LINE);
}

/**
 * The SDK's own log goes to stderr at WARN, one line per entry; vaquero's progress view owns stdout. The native
 * side's log is not forwarded here: its forwarding (SDK 1.24) holds the event loop open for as long as the runtime
 * lives, and a process that installed it but never made a worker or native connection (a server without a worker, a
 * test) would then never exit by itself. Left alone it prints its warnings to stdout.
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        const line = formatSdkLogEntry(entry);
        if (line !== undefined) process.stderr.write(`${line}\n`);
      }),
    });
  } catch {
    // Already installed by the embedding program: keep its choice.
  }
}
