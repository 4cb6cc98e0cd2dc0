// A boot file the agent refuses (over TFTP or HTTP boot) is a `refused` boot event on the asking host's run, saying
// what was asked and why (`tftp ipxe-arm64.efi: file not found`), once per run however often the firmware retries.
// Through the product entry (startAgent(loadAgentConfig(file))) with its TFTP service, real clients (tftp-hpa, curl)
// on loopback, and a real Temporal dev server whose history must hold the signal; the host "workflow" is a run of a
// type no worker polls, which takes signals into its history all the same. Payloads in clear (codec off) to read them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import { defaultPayloadConverter } from '@temporalio/common';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { bootEventSignal, bootEventsSignal } from '../../domain/workflow-api.ts';
import { freePort } from '../../temporal/ports.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { openGate } from './support/open-gate.ts';

const run = promisify(execFile);
const MAC = '52:54:00:5e:f0:01';
const WORKFLOW_ID = 'host/refused/h1';

let stack: TestStack;
let agent: RunningAgent;
let dir: string;
let tftpPort: number;

before(async () => {
  stack = await startTestStack({ name: 'refused-event', control: false, codec: { off: true } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-refused-'));
  const root = path.join(dir, 'tftp');
  await mkdir(root);
  await writeFile(path.join(root, 'undionly.kpxe'), 'pxe');
  await writeFile(path.join(root, 'ipxe.efi'), 'efi');
  tftpPort = await freePort();
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: refused-agent',
      'site: refused',
      `data_dir: ${path.join(dir, 'data')}`,
      `temporal: { address: ${stack.address}, namespace: ${stack.namespace}, codec: ${JSON.stringify(stack.temporal.codec.settings)} }`,
      'dhcp: { enabled: false }',
      `tftp: { enabled: true, root: ${root}, port: ${tftpPort} }`,
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
      'log_level: warn',
    ].join('\n'),
  );
  agent = await startAgent(await loadAgentConfig(file), { logger: pino({ level: 'silent' }) });
});

after(async () => {
  await agent?.stop();
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

async function eventsIn(runId: string): Promise<BootEvent[]> {
  const h = await stack.client.workflow.getHandle(WORKFLOW_ID, runId).fetchHistory();
  const out: BootEvent[] = [];
  for (const e of h.events ?? []) {
    const a = e.workflowExecutionSignaledEventAttributes;
    if (a?.signalName !== bootEventSignal.name && a?.signalName !== bootEventsSignal.name) continue;
    const payload = a.input?.payloads?.[0];
    if (!payload) continue;
    const decoded = defaultPayloadConverter.fromPayload<BootEvent | BootEvent[]>(payload);
    out.push(...(Array.isArray(decoded) ? decoded : [decoded]));
  }
  return out;
}

async function settled(): Promise<void> {
  for (let i = 0; i < 400 && agent.outbox.stats().queued > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(agent.outbox.stats().queued, 0, 'the outbox emptied');
}

const tftpGet = (name: string) =>
  run('tftp', ['-m', 'octet', '127.0.0.1', String(tftpPort), '-c', 'get', name, path.join(dir, 'got')], {
    timeout: 30_000,
  }).then(
    (r) => r.stdout + r.stderr,
    (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
  );

test("a refused TFTP or HTTP boot file is one `refused` event on the host's run, however often it is asked", async () => {
  const wf = await stack.client.workflow.start('noWorkerPollsThis', {
    workflowId: WORKFLOW_ID,
    taskQueue: 'nobody-polls-this',
  });
  const runId = wf.firstExecutionRunId;
  await agent.cache.set(openGate({ site: 'refused', host: 'h1', mac: MAC, workflowId: WORKFLOW_ID, runId }));
  // What the agent's DHCP server does when it gives the host its address: requests from there are the host's.
  agent.recorder.bind('127.0.0.1', MAC);

  // A firmware retrying the file it was offered: three refusals, one event.
  for (let i = 0; i < 3; i++) assert.match(await tftpGet('ipxe-arm64.efi'), /not found/i);
  assert.match(await tftpGet('../etc/passwd'), /Error code 2/i);
  const served = await tftpGet('undionly.kpxe');
  assert.doesNotMatch(served, /Error/i, served);
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${agent.httpUrl}/boot/snp-arm64.efi`);
    assert.equal(r.status, 404);
  }
  await settled();

  const events = await eventsIn(runId);
  const refused = events.filter((e) => e.kind === 'refused').map((e) => e.detail);
  assert.deepEqual(refused.sort(), [
    'http /boot/snp-arm64.efi: file not found',
    'tftp ../etc/passwd: path leaves the root',
    'tftp ipxe-arm64.efi: file not found',
  ]);
  assert.ok(
    events.every((e) => e.mac === MAC && e.runId === runId),
    'each on the host by its MAC, on its run',
  );
  assert.ok(events.some((e) => e.kind === 'tftp' && /undionly\.kpxe sent/.test(e.detail ?? '')));
  assert.equal(agent.recorder.stats().repeatedRefusals, 3, 'the repeats were counted, not recorded');
  await wf.terminate('done');
});
