// Temporal calls that a stop cancels, so a stop does not wait on them. A cancel ends a call in flight at once, but not
// one waiting between the client's retries: the SDK's retry interceptor has no cancel handler, so such a call ends
// when its retries are spent (17.6 s measured). Closing the connection safely meanwhile is closable-connection.ts's.
// One AbortController per call, not one signal for the process's life: the client adds an abort listener to the
// signal for every call and never removes it (connection.js), so a long-lived signal would hold every call made.
import type { Client } from '@temporalio/client';

export class CancellableCalls {
  private readonly inFlight = new Set<AbortController>();
  private cancelled = false;

  constructor(private readonly client: Client) {}

  /** Runs `fn`'s Temporal calls so that cancelAll() cancels them; after cancelAll(), they are cancelled at once. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const call = new AbortController();
    if (this.cancelled) call.abort();
    this.inFlight.add(call);
    try {
      return await this.client.withAbortSignal(call.signal, fn);
    } finally {
      this.inFlight.delete(call);
    }
  }

  /** Cancels every call in flight and every later one. */
  cancelAll(): void {
    this.cancelled = true;
    for (const call of this.inFlight) call.abort();
  }

  /** Calls in flight (for tests and metrics). */
  get size(): number {
    return this.inFlight.size;
  }
}
