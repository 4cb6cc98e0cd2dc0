// A Temporal client connection that can be closed while calls are still retrying.
// The client retries a failed call (UNAVAILABLE while the server is down, for one) from a timer; a connection closed
// while such a timer waits makes the timer call the closed channel, which throws "Channel has been shut down" outside
// any promise and ends the process (the lab's outage test: a call retrying through the outage, the connection closed
// when the rollout was done). Cancelling stops this only for calls made under an abort signal, and every caller
// would have to. So every connection of ours keeps the SDK's retry interceptor but notes when each scheduled retry
// fires and retries nothing once closing; close() waits for the retries already scheduled (at most the SDK's 10 s
// backoff cap, and only after an outage), then closes.
import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ClosableConnection {
  connection: Connection;
  /** Idempotent: no new retries; waits for the scheduled ones to have fired; then closes the connection. */
  close(): Promise<void>;
}

/** Retries that are refused once closing, and the time by which every scheduled one has fired. */
class RetryWatch {
  closing = false;
  private lastFiresAt = 0;

  interceptor(): NonNullable<ConnectionOptions['interceptors']>[number] {
    const base = defaultGrpcRetryOptions();
    return makeGrpcRetryInterceptor({
      retryableDecider: (attempt, status) => !this.closing && base.retryableDecider(attempt, status),
      // Called only for a retry that will be scheduled, just before its timer is set.
      delayFunction: (attempt, status) => {
        const ms = base.delayFunction(attempt, status);
        this.lastFiresAt = Math.max(this.lastFiresAt, Date.now() + ms);
        return ms;
      },
    });
  }

  /** Until every scheduled retry has fired. Timers fire in order of expiry, so one set later fires after them. */
  async settled(): Promise<void> {
    for (;;) {
      const wait = this.lastFiresAt - Date.now();
      if (wait < 0) return;
      await sleep(wait + 20);
    }
  }
}

function closable(connection: Connection, watch: RetryWatch): ClosableConnection {
  let closing: Promise<void> | undefined;
  return {
    connection,
    close() {
      closing ??= (async () => {
        watch.closing = true;
        await watch.settled();
        await connection.close();
      })();
      return closing;
    },
  };
}

/** Connection.connect, closable as above. Options' own interceptors are not supported (none of ours set any). */
export async function connectClosable(
  options: Omit<ConnectionOptions, 'interceptors'>,
): Promise<ClosableConnection> {
  const watch = new RetryWatch();
  const connection = await Connection.connect({ ...options, interceptors: [watch.interceptor()] });
  return closable(connection, watch);
}

/** Connection.lazy (connects on first call), closable as above. */
export function lazyClosable(options: Omit<ConnectionOptions, 'interceptors'>): ClosableConnection {
  const watch = new RetryWatch();
  const connection = Connection.lazy({ ...options, interceptors: [watch.interceptor()] });
  return closable(connection, watch);
}
