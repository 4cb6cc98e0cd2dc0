// An agent signals a boot event to the run its netboot gate names, never to whichever run of the host is current:
// an event held in the outbox while its run ended (the agent was down, Temporal unreachable) is dropped, logged
// and counted, and a later run of the same host never counts an older boot's events. Through the product entry
// (startAgent(loadAgentConfig(file))) on a real Temporal dev server; the host "workflow" is a run of a type no
// worker polls, which takes signals into its history all the same.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { bootEventSignal } from '../../domain/workflow-api.ts';
import { freePort } from '../../temporal/ports.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { openGate as gateOf } from './support/open-gate.ts';

const MAC = '52:54:00:5a:1e:01';
const WORKFLOW_ID = 'host/stale/h1';

let stack: TestStack;
let agent: RunningAgent;
let dir: string;

before(async () => {
  stack = await startTestStack({ name: 'stale-run', control: false });
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-stale-run-'));
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: stale-agent',
      'site: stale',
      `data_dir: ${path.join(dir, 'data')}`,
      `temporal: { address: ${stack.address}, namespace: ${stack.namespace}, codec: ${JSON.stringify(stack.temporal.codec.settings)} }`,
      'dhcp: { enabled: false }',
      'tftp: { enabled: false, root: /usr/lib/ipxe }',
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
      'log_level: warn',
    ].join('\n'),
  );
  agent = await startAgent(await loadAgentConfig(file), {
    logger: pino({ level: 'silent' }),
    services: () => [],
  });
});

after(async () => {
  await agent?.stop();
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

async function openGate(runId: string): Promise<void> {
  await agent.cache.set(gateOf({ site: 'stale', host: 'h1', mac: MAC, workflowId: WORKFLOW_ID, runId }));
}

async function signalsIn(runId: string): Promise<string[]> {
  const h = await stack.client.workflow.getHandle(WORKFLOW_ID, runId).fetchHistory();
  return (h.events ?? [])
    .filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === bootEventSignal.name)
    .map((e) => JSON.stringify(e.workflowExecutionSignaledEventAttributes?.input));
}

async function settled(): Promise<void> {
  for (let i = 0; i < 200 && agent.outbox.stats().queued > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(agent.outbox.stats().queued, 0, 'the outbox emptied');
}

test("an event for an ended run is dropped and counted, not delivered to the host's next run", async () => {
  const start = () =>
    stack.client.workflow.start('noWorkerPollsThis', {
      workflowId: WORKFLOW_ID,
      taskQueue: 'nobody-polls-this',
    });
  const first = await start();
  await openGate(first.firstExecutionRunId);
  await first.terminate('the boot ended');
  const second = await start();
  const before = agent.outbox.stats().droppedNoWorkflow;
  // The gate still names the ended run, as an agent's gate does until its reconciler hears of the end: set again
  // here, since the agent's first reconciliation (at its connection, slow under load) may have closed it already,
  // and an event of a closed gate is not recorded at all (seen once in a full run).
  await openGate(first.firstExecutionRunId);

  await agent.recorder.record({ kind: 'checkpoint', mac: MAC, detail: 'held while its run ended' });
  await settled();
  assert.equal(agent.outbox.stats().droppedNoWorkflow, before + 1);
  assert.deepEqual(await signalsIn(second.firstExecutionRunId), [], 'the later run got nothing');

  // The gate of the current run: its events reach it.
  await openGate(second.firstExecutionRunId);
  await agent.recorder.record({ kind: 'checkpoint', mac: MAC, detail: 'this boot' });
  await settled();
  assert.equal(agent.outbox.stats().droppedNoWorkflow, before + 1);
  const got = await signalsIn(second.firstExecutionRunId);
  assert.equal(got.length, 1);
  await second.terminate('done');
});
