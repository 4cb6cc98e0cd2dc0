// Two agents of one broadcast domain both answer a host's DISCOVER: each records a DHCP event, and the host
// workflow must count that answer once. An event's id comes from what happened (kind, MAC, run, and the
// exchange's transaction id and message), not from the agent that saw it; a TFTP or HTTP request, which reaches
// one agent only, keeps an id of that agent's own.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BootEventRecorder } from '../../agent/boot-event-recorder.ts';
import { EventOutbox } from '../../agent/event-outbox.ts';
import { ModelCache } from '../../agent/model-cache.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { SeenEvents } from '../../workflows/bounded-history.ts';
import { openGate } from './support/open-gate.ts';

const MAC = '52:54:00:aa:00:01';

test("the same DHCP answer seen by two agents is one event; each agent's TFTP request is its own", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-identity-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const delivered: BootEvent[] = [];
  const agent = async (id: string) => {
    const cache = new ModelCache(path.join(dir, id, 'cache'));
    await cache.load();
    await cache.set(openGate({ site: 'lab', host: 'h1', mac: MAC, runId: 'run-1' }));
    const outbox = new EventOutbox(path.join(dir, id, 'outbox'), async (_wf, e) => void delivered.push(e));
    await outbox.start();
    t.after(() => outbox.stop());
    return new BootEventRecorder(id, cache, outbox, () => undefined);
  };
  const a = await agent('agent-a');
  const b = await agent('agent-b');
  const offer = {
    kind: 'dhcp' as const,
    mac: MAC,
    detail: 'DHCPOFFER 10.20.1.11',
    identity: '5f3a/DHCPOFFER',
  };
  await a.record(offer);
  await b.record({ ...offer, detail: 'DHCPOFFER 10.20.1.11 (from b)' });
  await a.record({ kind: 'tftp', mac: MAC, detail: 'TFTP undionly.kpxe sent' });
  await b.record({ kind: 'tftp', mac: MAC, detail: 'TFTP undionly.kpxe sent' });
  for (let i = 0; i < 100 && delivered.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(delivered.length, 4);
  const dhcp = delivered.filter((e) => e.kind === 'dhcp');
  assert.equal(dhcp[0]!.id, dhcp[1]!.id);
  assert.equal(dhcp[0]!.id, `dhcp/${MAC}/run-1/5f3a/DHCPOFFER`);
  const tftp = delivered.filter((e) => e.kind === 'tftp');
  assert.notEqual(tftp[0]!.id, tftp[1]!.id);
  // What the host workflow does with them: the answer counts once, each transfer once.
  const seen = new SeenEvents([]);
  assert.deepEqual(delivered.map((e) => seen.firstSighting(e.id)).filter(Boolean).length, 3);
});
