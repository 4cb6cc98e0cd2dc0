// The host page says what a run waits for that no stage name says (the status's note: a host without a BMC
// waiting for its own netboot, a validate-only run), escaped like every value; a run without a note shows none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostPage } from '../../server/dashboard/host-page.ts';
import type { HostDetail } from '../../server/fleet-ops.ts';

const detail = (extra: Partial<HostDetail>): HostDetail => ({
  site: 's1',
  host: 'n1',
  revision: 'dir-0123456789ab',
  state: 'running',
  stage: 'netboot/dhcp',
  bootStage: 1,
  bootStages: 1,
  attempt: 1,
  powerCycles: 0,
  timeline: [],
  workflowId: 'host/s1/n1',
  runId: 'r1',
  stageSince: '2026-12-04T10:00:00.000Z',
  secondsInStage: 5,
  startedAt: '2026-12-04T10:00:00.000Z',
  source: 'workflow',
  ...extra,
});

test('the host page shows the run’s note, escaped, and no note row without one', () => {
  const page = String(
    hostPage(detail({ note: 'no BMC: waiting for the host to netboot by itself <now>' }), {
      namespace: 'default',
    }),
  );
  assert.match(
    page,
    /<dt>Note<\/dt>\s*<dd class="note">no BMC: waiting for the host to netboot by itself &lt;now&gt;<\/dd>/,
  );
  assert.doesNotMatch(String(hostPage(detail({}), { namespace: 'default' })), /<dt>Note<\/dt>/);
});
