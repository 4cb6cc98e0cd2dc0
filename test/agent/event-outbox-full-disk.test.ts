// The event outbox on a disk that is full for real: a small tmpfs (root only), filled to the brim. Recording boot
// events never rejects (a rejection fired from a DHCP or TFTP callback would end the agent), the events are held
// in memory and counted, the condition is logged once rather than per event, and once space returns every held
// event is written and delivered exactly once, in order. Held events beyond the bound, events still held at stop
// and events whose workflow is gone are all counted and logged.
import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BootEventRecorder } from '../../agent/boot-event-recorder.ts';
import { EventOutbox } from '../../agent/event-outbox.ts';
import type { OutboxLogLevel } from '../../agent/event-outbox.ts';
import { ModelCache } from '../../agent/model-cache.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { requireRoot } from '../../testkit/netns.ts';

requireRoot();

type T = { after: (fn: () => Promise<void> | void) => void };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MAC = '52:54:00:aa:00:01';
const WF = 'host/lab/h1';

/**
 * Cleanups run last-made first in one after-hook (node:test runs hooks in the order they were registered, and
 * the tmpfs can be unmounted only once the outbox on it has closed its files).
 */
function cleanups(t: T): (fn: () => Promise<unknown> | unknown) => void {
  const fns: (() => Promise<unknown> | unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => void fns.push(fn);
}

/** A tmpfs of `size` mounted on a fresh temp dir; unmounted and removed at cleanup. */
async function smallTmpfs(defer: ReturnType<typeof cleanups>, size = '64k'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-fulldisk-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  defer(() => execFileSync('umount', [dir]));
  return dir;
}

/** Writes `name` until the file system refuses more; returns its path (delete it to free the space). */
async function fill(dir: string): Promise<string> {
  const file = path.join(dir, 'filler');
  const h = await open(file, 'w');
  try {
    const page = Buffer.alloc(4096, 0x66);
    for (;;) {
      const { bytesWritten } = await h.write(page);
      if (bytesWritten < page.length) break;
    }
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await h.close();
  }
  return file;
}

/** Rejections that escape; the test only watches (the listener is removed after it). */
function watchRejections(t: T): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => void process.off('unhandledRejection', onRejection));
  return seen;
}

async function openGateCache(defer: ReturnType<typeof cleanups>): Promise<ModelCache> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-fulldisk-cache-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const cache = new ModelCache(dir);
  await cache.load();
  await cache.set({
    site: 'lab',
    host: 'h1',
    mac: MAC,
    sot: 'test',
    revision: 'r1',
    fingerprint: 'sha256:test',
    bootStage: 1,
    hasConfig: false,
    open: true,
    workflowId: WF,
    runId: 'run-1',
  });
  return cache;
}

interface Harness {
  box: EventOutbox;
  delivered: BootEvent[];
  logs: { level: OutboxLogLevel; msg: string }[];
}

function outbox(
  defer: ReturnType<typeof cleanups>,
  dir: string,
  limits: ConstructorParameters<typeof EventOutbox>[4] = {},
  send?: (wf: string, e: BootEvent) => Promise<void>,
): Harness {
  const delivered: BootEvent[] = [];
  const logs: Harness['logs'] = [];
  const box = new EventOutbox(
    dir,
    send ?? (async (_wf, e) => void delivered.push(e)),
    (msg, level = 'warn') => void logs.push({ level, msg }),
    { firstMs: 20, maxMs: 100 },
    { writeRetryMs: 50, reportEveryMs: 60_000, ...limits },
  );
  defer(() => box.stop());
  return { box, delivered, logs };
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok() && Date.now() < deadline) await sleep(20);
  assert.ok(ok(), `${what}: not reached in ${timeoutMs} ms`);
}

/** Every line of the outbox file is a whole record (no torn line a later append was glued to). */
async function fileRecords(dir: string): Promise<{ seq: number; event: BootEvent }[]> {
  const text = await readFile(path.join(dir, 'outbox.jsonl'), 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'the file ends with a whole line');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { seq: number; event: BootEvent });
}

test('on a full disk recording never rejects, events are held and counted; when space returns each is delivered once', async (t) => {
  const rejections = watchRejections(t);
  const defer = cleanups(t);
  const disk = await smallTmpfs(defer);
  const dir = path.join(disk, 'outbox');
  const { box, delivered, logs } = outbox(defer, dir);
  await box.start();
  const recorder = new BootEventRecorder('agent-1', await openGateCache(defer), box);

  // Some events while there is room: written and delivered as usual.
  for (let i = 0; i < 3; i++) await recorder.record({ kind: 'dhcp', mac: MAC, detail: `before ${i}` });
  assert.ok(await box.drain(5000));
  const filler = await fill(disk);

  // As the DHCP and TFTP services do: fired for every packet, not awaited.
  const N = 300;
  for (let i = 0; i < N; i++) void recorder.record({ kind: 'dhcp', mac: MAC, detail: `full ${i}` });
  await until(
    'every event held (or a rejection)',
    () => rejections.length > 0 || box.stats().unwritten === N,
  );
  assert.deepEqual(rejections, [], 'no rejection escaped');
  // Several write retries happen meanwhile (every 50 ms); none of them gets through.
  await sleep(400);
  assert.deepEqual(rejections, [], 'no rejection escaped');
  const held = box.stats();
  assert.equal(held.unwritten, N, JSON.stringify(held));
  assert.equal(held.queued, N);
  assert.ok(held.writeFailures >= 3, `write failures counted: ${JSON.stringify(held)}`);
  assert.match(held.lastWriteError ?? '', /ENOSPC|no space/i);
  assert.ok(held.oldestUndeliveredAgeMs >= 400, JSON.stringify(held));
  assert.equal(held.delivered, 3);
  assert.equal(held.dropped, 0);
  assert.equal(recorder.stats().recorded, 3 + N);
  assert.equal(recorder.stats().failed, 0);
  const told = logs.filter((l) => /cannot write events/.test(l.msg));
  assert.equal(
    told.length,
    1,
    `logged once, not per event or per retry:\n${logs.map((l) => l.msg).join('\n')}`,
  );
  assert.match(told[0]!.msg, /keep answering.*held in memory/);
  // A short write into the last page's slack was taken back: the file still holds whole lines only.
  assert.equal((await fileRecords(dir)).length, 3);

  await rm(filler);
  assert.ok(await box.drain(10_000), `held events delivered: ${JSON.stringify(box.stats())}`);
  const details = delivered.map((e) => e.detail);
  assert.deepEqual(details, [
    ...[0, 1, 2].map((i) => `before ${i}`),
    ...Array.from({ length: N }, (_, i) => `full ${i}`),
  ]);
  assert.equal(new Set(delivered.map((e) => e.id)).size, delivered.length, 'each event once');
  const after = box.stats();
  assert.deepEqual(
    [after.queued, after.unwritten, after.delivered, after.dropped, after.oldestUndeliveredAgeMs],
    [0, 0, 3 + N, 0, 0],
  );
  assert.equal(after.lastWriteError, undefined);
  assert.ok(logs.some((l) => /writing again/.test(l.msg)));
  assert.deepEqual(
    (await fileRecords(dir)).map((r) => r.event.detail),
    details,
    'the held events are on disk, in order',
  );
  assert.deepEqual(rejections, []);

  // The cursor was written too: a restart delivers none of them again.
  await box.stop();
  const again = outbox(defer, dir);
  await again.box.start();
  await sleep(100);
  assert.deepEqual(again.delivered, []);
});

test('beyond the bound the oldest held events are dropped, each counted, and logged; the rest are delivered', async (t) => {
  const rejections = watchRejections(t);
  const defer = cleanups(t);
  const disk = await smallTmpfs(defer);
  const dir = path.join(disk, 'outbox');
  const { box, delivered, logs } = outbox(defer, dir, { maxUnwritten: 50 });
  await box.start();
  const filler = await fill(disk);
  const ev = (n: number): BootEvent => ({ id: `e${n}`, kind: 'tftp', mac: MAC, at: Date.now(), source: 't' });
  for (let n = 1; n <= 80; n++) void box.enqueue(WF, ev(n));
  await until('held', () => box.stats().writeFailures > 0);
  const s = box.stats();
  assert.deepEqual([s.unwritten, s.droppedOverflow, s.dropped], [50, 30, 30], JSON.stringify(s));
  const dropLine = logs.find((l) => /dropped/.test(l.msg));
  assert.ok(dropLine, logs.map((l) => l.msg).join('\n'));
  assert.equal(dropLine.level, 'error');
  assert.match(dropLine.msg, /e1 \(tftp\) for host\/lab\/h1/);

  await rm(filler);
  assert.ok(await box.drain(10_000));
  assert.deepEqual(
    delivered.map((e) => e.id),
    Array.from({ length: 50 }, (_, i) => `e${i + 31}`),
  );
  assert.match(logs.find((l) => /writing again/.test(l.msg))?.msg ?? '', /30 event\(s\) dropped/);
  assert.deepEqual(rejections, []);
});

test('events still held when the outbox stops, or recorded after, are counted and logged as dropped', async (t) => {
  const defer = cleanups(t);
  const disk = await smallTmpfs(defer);
  const dir = path.join(disk, 'outbox');
  const { box, logs } = outbox(defer, dir);
  await box.start();
  await fill(disk);
  const ev = (n: number): BootEvent => ({ id: `e${n}`, kind: 'dhcp', mac: MAC, at: Date.now(), source: 't' });
  await Promise.all([1, 2, 3].map((n) => box.enqueue(WF, ev(n))));
  assert.equal(box.stats().unwritten, 3);
  await box.stop();
  await box.enqueue(WF, ev(4));
  const s = box.stats();
  assert.deepEqual([s.droppedAtStop, s.dropped, s.queued], [4, 4, 0], JSON.stringify(s));
  const lines = logs.filter((l) => /stopping with|stopped;/.test(l.msg)).map((l) => l.msg);
  assert.ok(
    logs.filter((l) => /stopping with|stopped;/.test(l.msg)).every((l) => l.level === 'error'),
    'logged as errors',
  );
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0]!, /stopping with 3 event\(s\) that could not be written/);
  assert.match(lines[1]!, /e4 \(dhcp\)/);
});

test('an event whose workflow is gone (closed, or never started) is dropped with an info line and a count', async (t) => {
  const defer = cleanups(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-outbox-gone-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const { box, logs } = outbox(defer, dir, {}, async (wf) => {
    throw new WorkflowNotFoundError('workflow execution already completed', wf, undefined);
  });
  await box.start();
  await box.enqueue(WF, { id: 'e1', kind: 'checkpoint', mac: MAC, at: Date.now(), source: 't' });
  assert.ok(await box.drain());
  const s = box.stats();
  assert.deepEqual([s.droppedNoWorkflow, s.dropped, s.delivered], [1, 1, 0]);
  const line = logs.find((l) => /e1/.test(l.msg));
  assert.equal(line?.level, 'info');
  assert.match(
    line.msg,
    /host\/lab\/h1 dropped: no running workflow \(workflow execution already completed\)/,
  );
});
