// An open netboot gate for agent tests: the fields a host workflow sends that these tests do not look at get
// fixed values; what a test cares about (site, host, MAC, run, artifacts…) it passes.
import type { NetbootGateInput } from '../../../domain/activity-contracts.ts';

export function openGate(
  g: Pick<NetbootGateInput, 'site' | 'host' | 'mac' | 'runId'> & Partial<NetbootGateInput>,
): NetbootGateInput {
  return {
    sot: 's',
    revision: 'r1',
    fingerprint: 'f',
    bootStage: 1,
    hasConfig: false,
    open: true,
    workflowId: `host/${g.site}/${g.host}`,
    ...g,
  };
}
