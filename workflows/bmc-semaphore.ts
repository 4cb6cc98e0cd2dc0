// Per-site BMC concurrency: one long-lived workflow per site, `bmc-semaphore/<site>`, holds the permits for BMC
// operations. Host workflows (workflows/bmc-permit.ts) ask for a permit by signal before their power activity,
// wait (durably, with no timeout of their own) for a grant signal, and release it by signal afterwards, so the
// limit holds across every agent and worker of the site: permits are counted here, not on any agent.
//
// * Limit: the site's `policy.bmc_concurrency` (default 20), carried by each request; the newest request's
//   limit applies, so a changed SoT takes effect with the next request. Lowering it revokes nothing.
// * Order: first come, first served.
// * Leases: a permit expires after the lease its holder asked for (longer than the holder's power activity can
//   run, retries included), so a host workflow terminated while holding one cannot leak it.
// * A grant to a holder that no longer exists is taken back at once.
// * Lifetime: started by the first host that finds none running; ends after an idle hour; continues as new
//   when history grows. A request racing the end is safe: completion fails while signals are unhandled.
import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

export const DEFAULT_BMC_CONCURRENCY = 20;
export const BMC_SEMAPHORE_WORKFLOW_TYPE = 'bmcSemaphore';
export const bmcSemaphoreWorkflowId = (site: string): string => `bmc-semaphore/${site}`;

const IDLE_MS = 60 * 60_000;
/** Grants per run before continuing as new (each grant costs a handful of history events). */
const GRANTS_PER_RUN = 1000;

export interface BmcPermitRequest {
  /** Workflow id of the requester (grants are signalled to it). */
  holder: string;
  /** Unique per BMC operation; repeats of a request are idempotent. */
  requestId: string;
  limit: number;
  /** How long the permit may be held before it is taken back. */
  leaseMs: number;
}

export interface BmcPermitRelease {
  holder: string;
  requestId: string;
}

export interface BmcPermitGrant {
  requestId: string;
}

interface Held {
  holder: string;
  requestId: string;
  since: number;
  expiresAt: number;
}

interface Waiting extends BmcPermitRequest {
  since: number;
}

export interface BmcSemaphoreStatus {
  site: string;
  limit: number;
  held: Held[];
  waiting: Waiting[];
  /** Most permits ever held at once (this run and the runs it continues). */
  maxHeld: number;
  granted: number;
  expired: number;
}

export interface BmcSemaphoreInput {
  site: string;
  /** The request that started the semaphore. */
  initial?: BmcPermitRequest;
  resume?: Omit<BmcSemaphoreStatus, 'site'>;
}

export const bmcAcquireSignal = defineSignal<[BmcPermitRequest]>('bmcAcquire');
export const bmcReleaseSignal = defineSignal<[BmcPermitRelease]>('bmcRelease');
/** Sent by the semaphore to a holder. */
export const bmcGrantSignal = defineSignal<[BmcPermitGrant]>('bmcGranted');
export const bmcSemaphoreStatusQuery = defineQuery<BmcSemaphoreStatus>('bmcSemaphoreStatus');

export async function bmcSemaphore(input: BmcSemaphoreInput): Promise<void> {
  const r = input.resume;
  let limit = r?.limit ?? input.initial?.limit ?? DEFAULT_BMC_CONCURRENCY;
  const held = new Map<string, Held>((r?.held ?? []).map((h) => [h.requestId, h]));
  const waiting: Waiting[] = r ? [...r.waiting] : [];
  let maxHeld = r?.maxHeld ?? 0;
  let granted = r?.granted ?? 0;
  let expired = r?.expired ?? 0;
  let grantedThisRun = 0;
  let changed = true;
  /** Permits to (re)send: new grants, and repeats of a request already granted. */
  const toGrant = new Set<string>();

  const enqueue = (req: BmcPermitRequest) => {
    if (req.limit > 0) limit = req.limit;
    if (held.has(req.requestId)) toGrant.add(req.requestId);
    else if (!waiting.some((w) => w.requestId === req.requestId)) waiting.push({ ...req, since: Date.now() });
    changed = true;
  };
  if (input.initial) enqueue(input.initial);

  setHandler(bmcAcquireSignal, enqueue);
  setHandler(bmcReleaseSignal, (rel) => {
    held.delete(rel.requestId);
    const i = waiting.findIndex((w) => w.requestId === rel.requestId);
    if (i >= 0) waiting.splice(i, 1);
    toGrant.delete(rel.requestId);
    changed = true;
  });
  setHandler(bmcSemaphoreStatusQuery, () => ({
    site: input.site,
    limit,
    held: [...held.values()],
    waiting: [...waiting],
    maxHeld,
    granted,
    expired,
  }));

  let idleSince = Date.now();
  for (;;) {
    const now = Date.now();
    for (const h of [...held.values()]) {
      if (h.expiresAt <= now) {
        held.delete(h.requestId);
        expired++;
      }
    }
    while (held.size < limit && waiting.length > 0) {
      const w = waiting.shift()!;
      held.set(w.requestId, {
        holder: w.holder,
        requestId: w.requestId,
        since: now,
        expiresAt: now + w.leaseMs,
      });
      toGrant.add(w.requestId);
      granted++;
      grantedThisRun++;
    }
    maxHeld = Math.max(maxHeld, held.size);
    const sending = [...toGrant].map((id) => held.get(id)).filter((h): h is Held => h !== undefined);
    toGrant.clear();
    changed = false;
    await Promise.all(
      sending.map((h) =>
        getExternalWorkflowHandle(h.holder)
          .signal(bmcGrantSignal, { requestId: h.requestId })
          .catch(() => {
            // The holder is gone (finished, terminated): its permit goes to the next in line.
            held.delete(h.requestId);
            changed = true;
          }),
      ),
    );
    if (changed) continue;

    if (held.size > 0 || waiting.length > 0) idleSince = Date.now();
    else if (Date.now() - idleSince >= IDLE_MS) return;

    if (grantedThisRun >= GRANTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof bmcSemaphore>({
        site: input.site,
        resume: { limit, held: [...held.values()], waiting, maxHeld, granted, expired },
      });
    }
    const nextExpiry = Math.min(...[...held.values()].map((h) => h.expiresAt));
    const wakeIn =
      held.size > 0 ? Math.max(1, nextExpiry - Date.now()) : Math.max(1, IDLE_MS - (Date.now() - idleSince));
    await condition(() => changed, wakeIn);
  }
}
