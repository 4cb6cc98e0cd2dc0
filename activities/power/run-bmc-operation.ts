// The frame every BMC activity runs in: credentials resolved from the agent's secret store just before the
// call (and dropped after it), a hard cap of 5 minutes, cancellation passed to the driver as an AbortSignal,
// a heartbeat at least every few seconds even while one BMC call hangs, the driver's session released, and
// any error scrubbed of the secret before it can reach history or a log.
import { ApplicationFailure } from '@temporalio/activity';
import type { SecretStore } from '../../domain/secret.ts';
import type { BmcRef } from '../../domain/host.ts';
import type { BmcTarget, PowerDriver } from './driver.ts';
import { BmcError } from './driver.ts';
import { redact, secretNeedles } from './redact.ts';

export const BMC_OPERATION_CAP_MS = 5 * 60_000;
const HEARTBEAT_EVERY_MS = 5_000;

export interface BmcOperationContext {
  driver: PowerDriver;
  target: Omit<BmcTarget, 'credentials' | 'signal'>;
  secrets?: SecretStore;
  /** The activity's cancellation. */
  cancelled: AbortSignal;
  heartbeat: (detail: string) => void;
  capMs?: number;
}

export async function runBmcOperation<T>(
  ctx: BmcOperationContext,
  op: (t: BmcTarget, progress: (step: string) => void) => Promise<T>,
): Promise<T> {
  const credentials = ctx.driver.credentialless
    ? undefined
    : await resolveCredentials(ctx.target.bmc, ctx.secrets);
  const needles = secretNeedles(credentials);
  const signal = AbortSignal.any([ctx.cancelled, AbortSignal.timeout(ctx.capMs ?? BMC_OPERATION_CAP_MS)]);
  const t: BmcTarget = { ...ctx.target, ...(credentials !== undefined ? { credentials } : {}), signal };
  let last = 'starting';
  const progress = (step: string) => {
    last = redact(step, needles);
    ctx.heartbeat(last);
    if (signal.aborted) throw signal.reason;
  };
  const ticker = setInterval(() => ctx.heartbeat(last), HEARTBEAT_EVERY_MS);
  try {
    return await op(t, progress);
  } catch (err) {
    // Cancellation goes back to the SDK untouched, so the activity reports itself cancelled.
    if (ctx.cancelled.aborted) throw err;
    if (signal.aborted) {
      throw ApplicationFailure.retryable(
        `BMC operation on ${t.bmc.address} exceeded ${(ctx.capMs ?? BMC_OPERATION_CAP_MS) / 1000}s (last step: ${last})`,
        'BmcTimeout',
      );
    }
    const message = redact(err instanceof Error ? err.message : String(err), needles);
    if (err instanceof BmcError) {
      throw err.retryable
        ? ApplicationFailure.retryable(message, 'BmcError')
        : ApplicationFailure.nonRetryable(message, 'BmcNotApplied');
    }
    // Not a BMC answer (a library bug, a socket error): retryable, and with no stack that could quote a secret.
    throw ApplicationFailure.retryable(message, err instanceof Error ? err.name : 'Error');
  } finally {
    clearInterval(ticker);
    await ctx.driver.release?.(t).catch(() => undefined);
  }
}

async function resolveCredentials(
  bmc: BmcRef,
  secrets: SecretStore | undefined,
): Promise<BmcTarget['credentials']> {
  const ref = bmc.credentials;
  if (!ref) return undefined;
  if (!secrets) {
    throw ApplicationFailure.nonRetryable(
      `credentials "${ref}" cannot be resolved: this agent has no secret store`,
      'CredentialsNotFound',
    );
  }
  let found;
  try {
    found = await secrets.resolve(ref);
  } catch (err) {
    // Store errors name the file and field, never a value (agent/secrets/secret.ts).
    throw ApplicationFailure.nonRetryable(
      `credentials "${ref}": ${err instanceof Error ? err.message : String(err)}`,
      'CredentialsInvalid',
    );
  }
  if (!found) {
    throw ApplicationFailure.nonRetryable(
      `credentials "${ref}" not found on this agent (looked in: ${secrets.describe(ref)})`,
      'CredentialsNotFound',
    );
  }
  return found;
}
