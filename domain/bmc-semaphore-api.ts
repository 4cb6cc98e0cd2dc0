// The per-site BMC semaphore's vocabulary (workflows/bmc-semaphore.ts): what host workflows and the control
// activities that ask it for permits send and receive.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const DEFAULT_BMC_CONCURRENCY = 20;
export const BMC_SEMAPHORE_WORKFLOW_TYPE = 'bmcSemaphore';
export const bmcSemaphoreWorkflowId = (site: string): string => `bmc-semaphore/${site}`;

/** A permit's lease for a power cycle whose activity may run `powerTimeoutS` (capped at 300 s), retries included. */
export const bmcPermitLeaseMs = (powerTimeoutS: number): number =>
  (Math.min(powerTimeoutS, 300) * 4 + 60) * 1000;

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
/**
 * A request answered at once: granted when a permit is free and nobody waits (no grant signal follows), else
 * queued like bmcAcquireSignal (the grant signal follows when its turn comes).
 */
export const bmcAcquireUpdate = defineUpdate<{ granted: boolean }, [BmcPermitRequest]>('bmcAcquireNow');
export const bmcReleaseSignal = defineSignal<[BmcPermitRelease]>('bmcRelease');
/** Sent by the semaphore to a holder. */
export const bmcGrantSignal = defineSignal<[BmcPermitGrant]>('bmcGranted');
export const bmcSemaphoreStatusQuery = defineQuery<BmcSemaphoreStatus>('bmcSemaphoreStatus');
