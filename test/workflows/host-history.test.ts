// What one reprovision writes to its host's history (issue 20, item 1): a one-stage host of a sim site with no
// delays — the benchmark's case — stays within 36 events (83 before the lean path, 33–42 with it; 31 since
// host-end-by-completion, more when the boot events fall into more workflow tasks): one patch marker, no BMC
// semaphore call of its own (the permit comes with the plan and the power activity gives it back), no gate
// activity of its own, no report to the rollout that started it (it reads the child's completion) and no memo
// write (the rollout put it in at the start); and every boot event it counted is readable in the history's signals.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import proto from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import { hostWorkflowId } from '../../domain/workflow-api.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { ZERO_DELAYS } from '../../sim/sim-delays.ts';
import { writeSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, startRollout } from '../../testkit/workflows.ts';

const { temporal } = proto;
const T = temporal.api.enums.v1.EventType;

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'host-history' });
});
after(() => stack?.close());

test('a one-stage sim host: at most 36 history events, every boot event readable in them', async () => {
  const sot = await writeSot({
    sot: 'lean',
    site: 'lean',
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 4 } } },
    hosts: ['l1', 'l2', 'l3', 'l4'].map((name) => ({ name, workflow: 'one' })),
  });
  await stack.startSimSite(sot.site, ZERO_DELAYS);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 4);

  for (const host of ['l1', 'l2', 'l3', 'l4']) {
    const history = await stack.client.workflow.getHandle(hostWorkflowId(sot.site, host)).fetchHistory();
    const events = history.events ?? [];
    const types = events.map((e) => T[e.eventType ?? 0]);
    const where = `${host}: ${types.join(' ')}`;
    assert.ok(events.length <= 36, `${events.length} events; ${where}`);
    const markers = events.flatMap((e) =>
      e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes] : [],
    );
    assert.deepEqual(
      markers.map((m) => m.markerName),
      ['core_patch'],
      where,
    );
    assert.ok(!types.includes('EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED'), where);
    // No signal sent: the rollout that started it learns the end from its completion.
    assert.ok(!types.includes('EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED'), where);
    // No memo written: the rollout put what the run aims at in it at the start, and the run reached that.
    assert.ok(!types.includes('EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED'), where);
    const patchIds: unknown[] = [];
    for (const m of markers) {
      const payloads = Object.values(m.details ?? {})[0]?.payloads ?? [];
      // The marker's data may be encrypted by the stack's codec, like every payload.
      let decoded = payloads.slice(0, 1);
      for (const codec of [...(stack.temporal.dataConverter.payloadCodecs ?? [])].reverse())
        decoded = await codec.decode(decoded);
      patchIds.push(
        decoded[0] ? defaultPayloadConverter.fromPayload<{ id?: string }>(decoded[0]).id : undefined,
      );
    }
    assert.deepEqual(patchIds, ['host-end-by-completion'], where);
    console.log(`${host}: ${events.length} events`);
    const scheduled = events.flatMap((e) =>
      e.activityTaskScheduledEventAttributes
        ? [e.activityTaskScheduledEventAttributes.activityType?.name]
        : [],
    );
    assert.ok(!scheduled.includes('setNetbootGate'), `a gate activity of its own; ${where}`);
    assert.ok(!scheduled.includes('acquireBmcPermit'), where);

    // The boot events, from the signals' payloads: each kind of the sim's boot, once (`quick` has no config).
    const kinds: string[] = [];
    for (const e of events) {
      const s = e.workflowExecutionSignaledEventAttributes;
      if (!s || !s.signalName?.startsWith('bootEvent')) continue;
      // Encrypted by the stack's codec: decoded as the Temporal UI does through the codec endpoint.
      let payloads = [s.input!.payloads![0]!];
      for (const codec of [...(stack.temporal.dataConverter.payloadCodecs ?? [])].reverse())
        payloads = await codec.decode(payloads);
      const arg = defaultPayloadConverter.fromPayload<BootEvent | BootEvent[]>(payloads[0]!);
      for (const ev of Array.isArray(arg) ? arg : [arg]) kinds.push(ev.kind);
    }
    assert.deepEqual(kinds.sort(), ['checkpoint', 'dhcp', 'initrd', 'ipxe', 'kernel', 'tftp'], where);
  }
});
