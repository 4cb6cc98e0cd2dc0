// Per-site BMC concurrency: one long-lived workflow per site, `bmc-semaphore/<site>`, holds the permits for BMC
// operations. Host workflows (workflows/bmc-permit.ts) ask for a permit before their power activity — by signal,
// or since `lean-host-history` through a control activity's update that grants a free permit at once — wait
// (durably) for a grant signal when none was free, and release it afterwards, so the limit holds across every
// agent and worker of the site: permits are counted here, not on any agent.
//
// * Limit: the site's `policy.bmc_concurrency` (default 20), carried by each request; the newest request's
//   limit applies, so a changed SoT takes effect with the next request. Lowering it revokes nothing.
// * Order: first come, first served.
// * Leases: a permit expires after the lease its holder asked for (longer than the holder's power activity can
//   run, retries included), so a host workflow terminated while holding one cannot leak it.
// * A grant to a holder that no longer exists is taken back at once.
// * Lifetime: started by the first host that finds none running; ends after an idle hour; continues as new
//   when history grows. A request racing the end is safe: completion fails while signals are unhandled.
// * Wake-ups (since `bmc-semaphore-steady-timer`): one timer at a time, for the earliest lease expiry or the idle
//   end, kept until it fires or an earlier deadline appears. Before, every workflow task that changed anything
//   cancelled the timer and started another: two history events per task, on the one workflow every host of the
//   site goes through.
import {
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import {
  bmcAcquireSignal,
  bmcAcquireUpdate,
  bmcGrantSignal,
  bmcReleaseSignal,
  bmcSemaphoreStatusQuery,
  DEFAULT_BMC_CONCURRENCY,
} from '../domain/bmc-semaphore-api.ts';
import type { BmcPermitRequest, BmcSemaphoreInput, BmcSemaphoreStatus } from '../domain/bmc-semaphore-api.ts';

const IDLE_MS = 60 * 60_000;
/** Grants per run before continuing as new (each grant costs a handful of history events). */
const GRANTS_PER_RUN = 1000;
export const BMC_SEMAPHORE_STEADY_TIMER_PATCH = 'bmc-semaphore-steady-timer';

/** A pending wake-up: a timer in a scope of its own, so that only it is cancelled when an earlier one is needed. */
interface Alarm {
  at: number;
  rang: boolean;
  scope: CancellationScope;
}

function setAlarm(at: number): Alarm {
  const scope = new CancellationScope();
  const alarm: Alarm = { at, rang: false, scope };
  scope
    .run(() => sleep(Math.max(1, at - Date.now())))
    .then(
      () => void (alarm.rang = true),
      () => undefined, // cancelled for an earlier one
    );
  return alarm;
}

type Held = BmcSemaphoreStatus['held'][number];
type Waiting = BmcSemaphoreStatus['waiting'][number];

export async function bmcSemaphore(input: BmcSemaphoreInput): Promise<void> {
  const steadyTimer = patched(BMC_SEMAPHORE_STEADY_TIMER_PATCH);
  let alarm: Alarm | undefined;
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
  // Host workflows' control activity asks this way: a free permit costs the host no signal and no wait.
  setHandler(bmcAcquireUpdate, (req) => {
    if (held.has(req.requestId)) return { granted: true };
    if (req.limit > 0) limit = req.limit;
    const now = Date.now();
    for (const h of [...held.values()]) {
      if (h.expiresAt <= now) {
        held.delete(h.requestId);
        expired++;
      }
    }
    if (held.size >= limit || waiting.length > 0) {
      enqueue(req);
      return { granted: false };
    }
    held.set(req.requestId, {
      holder: req.holder,
      requestId: req.requestId,
      since: now,
      expiresAt: now + req.leaseMs,
    });
    granted++;
    grantedThisRun++;
    maxHeld = Math.max(maxHeld, held.size);
    changed = true;
    return { granted: true };
  });
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
    if (steadyTimer) {
      const wakeAt = held.size > 0 ? nextExpiry : idleSince + IDLE_MS;
      // A release only moves the earliest expiry later, and a new lease ends after the pending one: the timer stays.
      if (alarm === undefined || alarm.rang || wakeAt < alarm.at) {
        alarm?.scope.cancel();
        alarm = setAlarm(wakeAt);
      }
      const pending = alarm;
      await condition(() => changed || pending.rang);
      continue;
    }
    const wakeIn =
      held.size > 0 ? Math.max(1, nextExpiry - Date.now()) : Math.max(1, IDLE_MS - (Date.now() - idleSince));
    await condition(() => changed, wakeIn);
  }
}
