// countRun: a run's timeline counted — time in each stage (a note within a stage does not restart it, a power retry
// does), boot events by kind, refused events, power cycles done and a power stage that failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TimelineEntry } from '../../domain/host.ts';
import { countRun } from '../../server/host-run-counts.ts';

const e = (at: number, stage: string, kind: string, message: string): TimelineEntry =>
  ({ at, bootStage: 1, stage, kind, message }) as TimelineEntry;

test('a run with a power retry that then fails at power is counted entry by entry', () => {
  const timeline = [
    e(0, 'planned', 'stage', 'planned'),
    e(1000, 'power', 'stage', 'power: attempt 1/2'),
    e(1500, 'power', 'power', 'power cycled: ok'),
    e(2000, 'netboot/dhcp', 'stage', 'netboot/dhcp'),
    e(2100, 'netboot/dhcp', 'event-ignored', 'dhcp from a1 for 52:54:00:00:00:09: not this host'),
    e(6000, 'netboot/dhcp', 'timeout', 'no dhcp within 4s (attempt 1/2)'),
    e(6000, 'power', 'stage', 'power: attempt 2/2'),
    e(6500, 'power', 'power', 'power cycled: ok'),
    e(7000, 'netboot/dhcp', 'stage', 'netboot/dhcp'),
    e(7200, 'netboot/dhcp', 'event', 'dhcp from a1: offer'),
    e(7300, 'netboot/tftp', 'stage', 'netboot/tftp'),
    e(7400, 'netboot/tftp', 'stage', 'netboot/tftp: a note in the same stage'),
    e(7500, 'netboot/tftp', 'event', 'tftp from a1: undionly.kpxe'),
    e(7600, 'netboot/ipxe', 'stage', 'netboot/ipxe'),
    e(7700, 'netboot/ipxe', 'event', 'ipxe from a1'),
    e(8000, 'power', 'stage', 'power: attempt 3/3'),
    e(9000, 'power', 'error', 'failed at power: BMC power cycle failed: refused'),
  ];
  const c = countRun({ timeline }, 9500);
  assert.deepEqual(c.stages, [
    { stage: 'planned', seconds: 1 },
    { stage: 'power', seconds: 1 },
    { stage: 'netboot/dhcp', seconds: 4 },
    { stage: 'power', seconds: 1 },
    { stage: 'netboot/dhcp', seconds: 0.3 },
    { stage: 'netboot/tftp', seconds: 0.3 },
    { stage: 'netboot/ipxe', seconds: 0.4 },
    { stage: 'power', seconds: 1.5 },
  ]);
  assert.deepEqual(c.events, { dhcp: 1, tftp: 1, ipxe: 1 });
  assert.equal(c.ignoredEvents, 1);
  assert.deepEqual(c.power, { ok: 2, failed: 1 });
});

test('outcome stages are not time spent: a provisioned run ends its last stage where provisioned begins', () => {
  const c = countRun(
    {
      timeline: [e(0, 'validate', 'stage', 'validate'), e(2500, 'provisioned', 'stage', 'provisioned')],
    },
    99_000,
  );
  assert.deepEqual(c.stages, [{ stage: 'validate', seconds: 2.5 }]);
});
