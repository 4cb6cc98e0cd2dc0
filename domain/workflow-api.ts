// Signals, queries and updates of vaquero's workflows, defined once so clients and workflows agree.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { NetbootGateInput } from './activity-contracts.ts';
import type { BootEvent } from './boot-events.ts';
import type { DesiredRevision, HostFinished, HostStatus, StageOverride } from './host.ts';
import type { RolloutStatus } from './rollout.ts';

export const HOST_WORKFLOW_TYPE = 'hostReprovision';
export const ROLLOUT_WORKFLOW_TYPE = 'rollout';

export const hostWorkflowId = (site: string, host: string): string => `host/${site}/${host}`;
export const rolloutWorkflowId = (sot: string, revision: string): string => `rollout/${sot}/${revision}`;

// Host workflow
export const bootEventSignal = defineSignal<[BootEvent]>('bootEvent');
/** Several boot events of one run at once (an agent's held events, a sim host's quick steps): one workflow task. */
export const bootEventsSignal = defineSignal<[BootEvent[]]>('bootEvents');
/** A newer revision for this host (see the rule in workflows/host-reprovision.ts). */
export const desiredRevisionSignal = defineSignal<[DesiredRevision]>('desiredRevision');
export const hostStatusQuery = defineQuery<HostStatus>('status');
/** The netboot gate this run wants every agent of its site to have (null before the first); agents catch up with it. */
export const netbootGateQuery = defineQuery<NetbootGateInput | null>('netbootGate');
/** Complete or fail the stage the host waits in (netboot/*, installing); rejected in any other stage. */
export const overrideStageUpdate = defineUpdate<HostStatus, [StageOverride]>('overrideStage');

// Rollout workflow
export const hostFinishedSignal = defineSignal<[HostFinished]>('hostFinished');
export const rolloutStatusQuery = defineQuery<RolloutStatus>('status');
export const pauseUpdate = defineUpdate<RolloutStatus['state'], [reason: string]>('pause');
export const resumeUpdate = defineUpdate<RolloutStatus['state'], []>('resume');
export const abortUpdate = defineUpdate<RolloutStatus['state'], [reason: string]>('abort');
/** A newer rollout of the same SoT takes over: stop starting hosts; hosts already running are handed over. */
export const supersedeUpdate = defineUpdate<RolloutStatus['state'], [by: string]>('supersede');
