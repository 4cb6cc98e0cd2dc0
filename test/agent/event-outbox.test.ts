// The outbox keeps events while delivery fails, delivers them in order when it works again, survives a
// restart of the agent, and drops events whose workflow is gone.
import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EventOutbox } from '../../agent/event-outbox.ts';
import type { BootEvent } from '../../domain/boot-events.ts';

const ev = (n: number): BootEvent => ({
  id: `e${n}`,
  kind: 'dhcp',
  mac: '52:54:00:00:00:01',
  at: n,
  source: 't',
});

async function tmp(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-outbox-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('events wait while the centre is unreachable, then go out in order', async (t) => {
  const dir = await tmp(t);
  let up = false;
  const got: string[] = [];
  const box = new EventOutbox(dir, async (_wf, e) => {
    if (!up) throw new Error('14 UNAVAILABLE: connection refused');
    got.push(e.id);
  });
  await box.start();
  t.after(() => box.stop());
  for (let i = 1; i <= 5; i++) await box.enqueue('host/a/h', ev(i));
  assert.equal(await box.drain(500), false);
  assert.equal(box.stats().queued, 5);
  assert.match(box.stats().lastError ?? '', /UNAVAILABLE/);
  up = true;
  assert.equal(await box.drain(15_000), true);
  assert.deepEqual(got, ['e1', 'e2', 'e3', 'e4', 'e5']);
});

test('undelivered events survive a restart; delivered ones are not sent again; a torn line is ignored', async (t) => {
  const dir = await tmp(t);
  const first: string[] = [];
  let fail = false;
  const a = new EventOutbox(dir, async (_wf, e) => {
    if (fail) throw new Error('UNAVAILABLE');
    first.push(e.id);
  });
  await a.start();
  await a.enqueue('host/a/h', ev(1));
  assert.ok(await a.drain());
  fail = true;
  await a.enqueue('host/a/h', ev(2));
  await a.enqueue('host/a/h', ev(3));
  await a.stop();
  await appendFile(path.join(dir, 'outbox.jsonl'), '{"seq": 99, "workflowId": "host/a/h", "ev');

  const second: string[] = [];
  const b = new EventOutbox(dir, async (_wf, e) => {
    second.push(e.id);
  });
  await b.start();
  t.after(() => b.stop());
  assert.ok(await b.drain());
  assert.deepEqual(first, ['e1']);
  assert.deepEqual(second, ['e2', 'e3']);
  await b.enqueue('host/a/h', ev(4));
  assert.ok(await b.drain());
  assert.deepEqual(second, ['e2', 'e3', 'e4']);
});

test('an event for a workflow that is gone is dropped, and the queue moves on', async (t) => {
  const dir = await tmp(t);
  const got: string[] = [];
  const box = new EventOutbox(dir, async (wf, e) => {
    if (wf === 'host/a/gone') throw new WorkflowNotFoundError('not found', wf, undefined);
    got.push(e.id);
  });
  await box.start();
  t.after(() => box.stop());
  await box.enqueue('host/a/gone', ev(1));
  await box.enqueue('host/a/h', ev(2));
  assert.ok(await box.drain());
  assert.deepEqual(got, ['e2']);
  assert.equal(box.stats().dropped, 1);
});

test('different workflows are signalled at once, each workflow in its own order', async (t) => {
  const dir = await tmp(t);
  const got = new Map<string, string[]>();
  let inFlight = 0;
  let maxInFlight = 0;
  const box = new EventOutbox(dir, async (wf, e) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // A round trip's worth of waiting, as a signal to Temporal has.
    await new Promise((r) => setTimeout(r, 2));
    got.set(wf, [...(got.get(wf) ?? []), e.id]);
    inFlight--;
  });
  await box.start();
  t.after(() => box.stop());
  const workflows = Array.from({ length: 40 }, (_, i) => `host/a/h${i}`);
  let n = 0;
  const expected = new Map<string, string[]>(workflows.map((w) => [w, []]));
  // Interleaved, as a rack's boots are: h0 e1, h1 e2, …, h0 e41, …
  const pending: Promise<void>[] = [];
  for (let round = 0; round < 5; round++)
    for (const wf of workflows) {
      const e = ev(++n);
      expected.get(wf)!.push(e.id);
      pending.push(box.enqueue(wf, e));
    }
  await Promise.all(pending);
  assert.ok(await box.drain(30_000));
  assert.deepEqual(got, expected);
  assert.ok(maxInFlight > 1, `signals went one at a time (max in flight ${maxInFlight})`);
  assert.ok(maxInFlight <= 16, `more than 16 signals at once (${maxInFlight})`);
  assert.equal(box.stats().delivered, 200);
});

test("one workflow's failure holds back only its own later events; nothing is sent twice", async (t) => {
  const dir = await tmp(t);
  const sent: string[] = [];
  let failuresLeft = 2;
  const box = new EventOutbox(dir, async (wf, e) => {
    if (wf === 'host/a/slow' && e.id === 'e3' && failuresLeft-- > 0) throw new Error('DEADLINE_EXCEEDED');
    sent.push(`${wf}:${e.id}`);
  });
  await box.start();
  t.after(() => box.stop());
  // Enqueued together (one group commit), so they are delivered as one batch.
  await Promise.all(
    (['fast', 'slow', 'slow', 'fast', 'slow', 'fast'] as const).map((w, i) =>
      box.enqueue(`host/a/${w}`, ev(i + 1)),
    ),
  );
  assert.ok(await box.drain(15_000));
  assert.deepEqual(
    sent.filter((x) => x.startsWith('host/a/slow')),
    ['host/a/slow:e2', 'host/a/slow:e3', 'host/a/slow:e5'],
  );
  assert.deepEqual(
    sent.filter((x) => x.startsWith('host/a/fast')),
    ['host/a/fast:e1', 'host/a/fast:e4', 'host/a/fast:e6'],
  );
  assert.equal(sent.length, 6, `sent ${sent.join(' ')}`);
  // Within the batch, the slow workflow's failure did not hold the fast one back until the retry.
  assert.ok(sent.indexOf('host/a/fast:e6') < sent.indexOf('host/a/slow:e3'));
});

test('after the file is compacted, new events still go to disk and survive a restart', async (t) => {
  const dir = await tmp(t);
  let fail = false;
  const a = new EventOutbox(dir, async () => {
    if (fail) throw new Error('UNAVAILABLE');
  });
  await a.start();
  // More than a compaction's worth, all delivered: the file is replaced by an empty one.
  await Promise.all(Array.from({ length: 1100 }, (_, i) => a.enqueue(`host/a/h${i % 7}`, ev(i + 1))));
  assert.ok(await a.drain(30_000));
  const lines = async () => (await readFile(path.join(dir, 'outbox.jsonl'), 'utf8')).split('\n').length;
  // Compaction follows the last delivery's cursor write.
  for (let i = 0; i < 100 && (await lines()) >= 200; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok((await lines()) < 200, 'compacted');
  fail = true;
  await a.enqueue('host/a/h', ev(5001));
  await a.enqueue('host/a/h', ev(5002));
  await a.stop();

  const second: string[] = [];
  const b = new EventOutbox(dir, async (_wf, e) => void second.push(e.id));
  await b.start();
  t.after(() => b.stop());
  assert.ok(await b.drain());
  assert.deepEqual(second, ['e5001', 'e5002']);
});

test('a failed append is held and written again: nothing is lost, order is kept, nothing rejects', async (t) => {
  const dir = await tmp(t);
  const got: string[] = [];
  const box = new EventOutbox(dir, async (_wf, e) => void got.push(e.id), undefined, undefined, {
    writeRetryMs: 50,
  });
  await box.start();
  t.after(() => box.stop());
  // The disk refuses one write (as a full disk would), through the file handle the outbox keeps open.
  const handle = (box as unknown as { eventsHandle: { write: (text: string) => Promise<unknown> } })
    .eventsHandle;
  const realWrite = handle.write.bind(handle);
  handle.write = async () => {
    handle.write = realWrite;
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  await box.enqueue('host/a/h', ev(1));
  assert.equal(box.stats().unwritten, 1);
  assert.equal(box.stats().writeFailures, 1);
  assert.match(box.stats().lastWriteError ?? '', /ENOSPC/);
  await box.enqueue('host/a/h', ev(2));
  assert.ok(await box.drain());
  assert.deepEqual(got, ['e1', 'e2'], 'the held event went out first, once written');
  const text = await readFile(path.join(dir, 'outbox.jsonl'), 'utf8');
  assert.match(text, /"id":"e1"[^\n]*\n[^\n]*"id":"e2"/);
  assert.equal(box.stats().unwritten, 0);
  assert.equal(box.stats().dropped, 0);
});

test("asked for one workflow's events, the outbox sends them at once instead of waiting out its retry pause", async (t) => {
  const dir = await tmp(t);
  let up = false;
  const got: string[] = [];
  // A pause far longer than the test: only the request can bring the events out.
  const box = new EventOutbox(
    dir,
    async (wf, e) => {
      if (!up) throw new Error('14 UNAVAILABLE: connection refused');
      got.push(`${wf}:${e.id}`);
    },
    undefined,
    { firstMs: 600_000, maxMs: 600_000 },
  );
  await box.start();
  t.after(() => box.stop());
  await box.enqueue('host/a/h1', ev(1));
  await box.enqueue('host/a/h2', ev(2));
  await box.enqueue('host/a/h1', ev(3));
  await waitUntil(() => box.stats().lastError !== undefined);

  assert.deepEqual(await box.deliverFor('host/a/none', 1000), { held: 0, left: 0 });
  // Still refused: the request waits out its own limit and says what is left.
  assert.deepEqual(await box.deliverFor('host/a/h1', 300), { held: 2, left: 2 });
  up = true;
  assert.deepEqual(await box.deliverFor('host/a/h1', 30_000), { held: 2, left: 0 });
  assert.deepEqual(
    got.filter((g) => g.startsWith('host/a/h1:')),
    ['host/a/h1:e1', 'host/a/h1:e3'],
  );
  // The round it started took the other workflow's event along.
  assert.ok(got.includes('host/a/h2:e2'), got.join(','));

  // Events reloaded after a restart are counted too.
  up = false;
  await box.enqueue('host/a/h3', ev(4));
  await waitUntil(() => box.stats().lastError !== undefined);
  await box.stop();
  const again = new EventOutbox(
    dir,
    async () => {
      throw new Error('14 UNAVAILABLE: connection refused');
    },
    undefined,
    { firstMs: 600_000, maxMs: 600_000 },
  );
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(await again.deliverFor('host/a/h3', 100), { held: 1, left: 1 });
  assert.deepEqual(await again.deliverFor('host/a/h1', 100), { held: 0, left: 0 });
});

async function waitUntil(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), 'condition not reached in 5 s');
}

test('events of a run that takes them together go out in one signal; others one by one; a restart keeps the mark', async (t) => {
  const dir = await tmp(t);
  let up = false;
  const sent: string[][] = [];
  const make = () =>
    new EventOutbox(
      dir,
      async (_wf, e) => {
        if (!up) throw new Error('14 UNAVAILABLE');
        sent.push([e.id]);
      },
      () => undefined,
      { firstMs: 50, maxMs: 100 },
      {},
      async (_wf, events) => {
        if (!up) throw new Error('14 UNAVAILABLE');
        sent.push(events.map((e) => e.id));
      },
    );
  const a = make();
  await a.start();
  const run = (n: number, runId: string): BootEvent => ({ ...ev(n), runId });
  // Held while the centre is away: three of run r1 (batchable), one of r2 (batchable), two of a run that is not.
  await a.enqueue('host/a/h', run(1, 'r1'), { batch: true });
  await a.enqueue('host/a/h', run(2, 'r1'), { batch: true });
  await a.enqueue('host/a/h', run(3, 'r1'), { batch: true });
  await a.enqueue('host/a/h', run(4, 'r2'), { batch: true });
  await a.enqueue('host/b/h', ev(5));
  await a.enqueue('host/b/h', ev(6));
  await a.stop();
  const b = make();
  await b.start();
  t.after(() => b.stop());
  up = true;
  assert.equal(await b.drain(15_000), true);
  assert.deepEqual(
    sent.sort((x, y) => x[0]!.localeCompare(y[0]!)),
    [['e1', 'e2', 'e3'], ['e4'], ['e5'], ['e6']],
  );
  assert.equal(b.stats().delivered, 6);
});

test('a run that takes events together: its events wait out the batch window and go in one signal; asked for, at once', async (t) => {
  const dir = await tmp(t);
  const sent: string[][] = [];
  const box = new EventOutbox(
    dir,
    async (_wf, e) => {
      sent.push([e.id]);
    },
    () => undefined,
    { firstMs: 50, maxMs: 100 },
    { batchWindowMs: 400 },
    async (_wf, events) => {
      sent.push(events.map((e) => e.id));
    },
  );
  await box.start();
  t.after(() => box.stop());
  const run = (n: number): BootEvent => ({ ...ev(n), runId: 'r1' });
  await box.enqueue('host/a/h', run(1), { batch: true });
  await new Promise((r) => setTimeout(r, 50));
  await box.enqueue('host/a/h', run(2), { batch: true });
  // An event of a run that does not take them together is not held back by the window.
  await box.enqueue('host/b/h', ev(3));
  const deadline = Date.now() + 10_000;
  while (sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(sent, [['e3'], ['e1', 'e2']]);

  // A long window: the workflow asking for its events gets them at once.
  const slow = new EventOutbox(
    await tmp(t),
    async (_wf, e) => {
      sent.push([e.id]);
    },
    () => undefined,
    { firstMs: 50, maxMs: 100 },
    { batchWindowMs: 600_000 },
    async (_wf, events) => {
      sent.push(events.map((e) => e.id));
    },
  );
  await slow.start();
  t.after(() => slow.stop());
  await slow.enqueue('host/c/h', { ...ev(4), runId: 'r2' }, { batch: true });
  await slow.enqueue('host/c/h', { ...ev(5), runId: 'r2' }, { batch: true });
  assert.deepEqual(await slow.deliverFor('host/c/h', 5000), { held: 2, left: 0 });
  assert.deepEqual(sent.at(-1), ['e4', 'e5']);
});
