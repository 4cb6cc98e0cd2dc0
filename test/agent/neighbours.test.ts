// The neighbour table the recorder resolves client IPs with: one read serves concurrent questions, answers are
// reused briefly, and a client missing from the last read (it just appeared) makes a new read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NeighbourTable } from '../../agent/neighbours.ts';

const HEADER = 'IP address       HW type     Flags       HW address            Mask     Device\n';
const row = (ip: string, mac: string, flags = '0x2') =>
  `${ip}    0x1         ${flags}         ${mac}     *        veth0\n`;

function fakeProc(initial: string) {
  let text = initial;
  let reads = 0;
  let now = 0;
  return {
    table: new NeighbourTable(
      async () => {
        reads++;
        await new Promise((r) => setImmediate(r));
        return text;
      },
      1000,
      () => now,
    ),
    set: (t: string) => void (text = t),
    reads: () => reads,
    advance: (ms: number) => void (now += ms),
  };
}

test('concurrent questions share one read; answers are reused within the window', async () => {
  const p = fakeProc(HEADER + row('10.0.0.5', '52:54:00:AA:BB:01') + row('10.0.0.6', '52:54:00:aa:bb:02'));
  const answers = await Promise.all(['10.0.0.5', '10.0.0.6', '10.0.0.5'].map((ip) => p.table.macFor(ip)));
  assert.deepEqual(answers, ['52:54:00:aa:bb:01', '52:54:00:aa:bb:02', '52:54:00:aa:bb:01']);
  assert.equal(p.reads(), 1);
  p.advance(10);
  assert.equal(await p.table.macFor('10.0.0.6'), '52:54:00:aa:bb:02');
  assert.equal(p.reads(), 1, 'reused');
});

test('a client missing from the last read, or an answer past its window, is read again', async () => {
  const p = fakeProc(HEADER + row('10.0.0.5', '52:54:00:aa:bb:01'));
  assert.equal(await p.table.macFor('10.0.0.9'), undefined);
  assert.equal(p.reads(), 1);
  p.set(HEADER + row('10.0.0.5', '52:54:00:aa:bb:01') + row('10.0.0.9', '52:54:00:aa:bb:09'));
  p.advance(1);
  assert.equal(await p.table.macFor('10.0.0.9'), '52:54:00:aa:bb:09', 'the new client is found');
  assert.equal(p.reads(), 2);
  p.set(HEADER + row('10.0.0.5', '52:54:00:aa:bb:77'));
  p.advance(500);
  assert.equal(
    await p.table.macFor('10.0.0.5'),
    '52:54:00:aa:bb:01',
    'within the window: the answer read before',
  );
  p.advance(1000);
  assert.equal(await p.table.macFor('10.0.0.5'), '52:54:00:aa:bb:77', 'past it: read again');
});

test('incomplete entries (flags 0x0, no address) are not answers', async () => {
  const p = fakeProc(HEADER + row('10.0.0.7', '00:00:00:00:00:00', '0x0'));
  assert.equal(await p.table.macFor('10.0.0.7'), undefined);
});

test('by default the clock is monotonic: a wall-clock step back does not make it read forever', async () => {
  let reads = 0;
  const realNow = Date.now;
  let calls = 0;
  let steppingBack = true;
  // Each wall-clock reading an hour earlier than the one before, from before the table exists.
  Date.now = () => (steppingBack ? realNow() - 3_600_000 * ++calls : realNow());
  try {
    const table = new NeighbourTable(async () => {
      // A table driven by the wall clock would read again and again; give it its clock back so the test ends.
      if (++reads > 5) steppingBack = false;
      return HEADER + row('10.0.0.5', '52:54:00:aa:bb:01');
    });
    assert.equal(await table.macFor('10.0.0.9'), undefined);
  } finally {
    Date.now = realNow;
  }
  assert.equal(reads, 1);
});
