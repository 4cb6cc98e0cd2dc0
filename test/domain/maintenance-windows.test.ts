// The window arithmetic on its own: parsing, open or closed at an instant, the next opening, across midnight, the
// week's end and Europe/Berlin's daylight-saving changes (2026: Mar 29 01:00 UTC forward, Oct 25 01:00 UTC back).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isTimeZone,
  nextOpening,
  openWindow,
  parseWindow,
  parseWindows,
  windowGate,
} from '../../domain/maintenance-windows.ts';

const utc = (s: string) => Date.parse(`${s}Z`);

test('parses windows with and without an end day, full day names, crossing midnight and the week', () => {
  const w = (s: string) => {
    const p = parseWindow(s);
    assert.ok(p.ok, s);
    return p.window;
  };
  assert.deepEqual(
    [w('Sat 22:00-Sun 04:00').start, w('Sat 22:00-Sun 04:00').length],
    [5 * 1440 + 22 * 60, 360],
  );
  assert.equal(w('Wed 01:00-03:00').length, 120);
  assert.equal(w('Wed 22:00-02:00').length, 240);
  assert.equal(w('Sun 22:00-Mon 02:00').length, 240);
  assert.equal(w('saturday 22:00-Sunday 4:00').length, 360);
  assert.equal(w('Mon 10:00-Mon 09:00').length, 7 * 1440 - 60);
});

test('rejects bad days, times, shapes and zero-length windows with a reason', () => {
  for (const [s, re] of [
    ['Sab 22:00-Sun 04:00', /"Sab" is not a day/],
    ['Sat 22:00-Son 04:00', /"Son" is not a day/],
    ['Sat 24:00-Sun 04:00', /"24:00" is not a time/],
    ['Sat 22:00-Sun 04:60', /"04:60" is not a time/],
    ['Sat 22:00', /is not a window like/],
    ['22:00-04:00', /is not a window like/],
    ['Sat 22:00-22:00', /zero length/],
    ['Sat 22:00-Sat 22:00', /zero length/],
  ] as const) {
    const p = parseWindow(s);
    assert.equal(p.ok, false, s);
    if (!p.ok) assert.match(p.error, re);
  }
  assert.equal(parseWindows(['Sat 22:00-Sun 04:00', 'bad']).length, 1);
});

test('knows IANA zones and refuses unknown ones', () => {
  assert.ok(isTimeZone('Europe/Berlin'));
  assert.ok(isTimeZone('UTC'));
  assert.ok(!isTimeZone('Europe/Berlinn'));
  assert.ok(!isTimeZone('CEST+1'));
});

test('open or closed in UTC, across midnight and the end of the week', () => {
  const ws = parseWindows(['Sun 22:00-Mon 02:00', 'Wed 01:00-03:00']);
  // 2026-03-01 is a Sunday.
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-01T21:59:59')), undefined);
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-01T22:00:00'))?.text, 'Sun 22:00-Mon 02:00');
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-02T01:59:59'))?.text, 'Sun 22:00-Mon 02:00');
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-02T02:00:00')), undefined);
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-04T02:30:00'))?.text, 'Wed 01:00-03:00');
  assert.equal(openWindow(ws, 'UTC', utc('2026-03-04T03:00:00')), undefined);
});

test('the next opening is the nearest window start after the instant, in the next week when need be', () => {
  const ws = parseWindows(['Sun 22:00-Mon 02:00', 'Wed 01:00-03:00']);
  const n1 = nextOpening(ws, 'UTC', utc('2026-03-02T02:00:00'));
  assert.equal(n1?.at, utc('2026-03-04T01:00:00'));
  assert.equal(n1?.window.text, 'Wed 01:00-03:00');
  assert.equal(n1?.local, 'Wed 2026-03-04 01:00');
  assert.equal(nextOpening(ws, 'UTC', utc('2026-03-04T03:00:00'))?.at, utc('2026-03-08T22:00:00'));
  // While a window is open, the next opening is a later one.
  assert.equal(nextOpening(ws, 'UTC', utc('2026-03-01T22:00:00'))?.at, utc('2026-03-04T01:00:00'));
  assert.equal(
    nextOpening(parseWindows(['Mon 00:00-01:00']), 'UTC', utc('2026-03-02T00:00:00'))?.at,
    utc('2026-03-09T00:00:00'),
  );
});

test('Europe/Berlin: local times in winter and summer', () => {
  const ws = parseWindows(['Sat 22:00-Sun 04:00']);
  // Winter (UTC+1): Sat 2026-01-10 22:00 local is 21:00 UTC.
  assert.equal(openWindow(ws, 'Europe/Berlin', utc('2026-01-10T20:59:00')), undefined);
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-01-10T21:00:00')));
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-01-10T12:00:00'))?.at, utc('2026-01-10T21:00:00'));
  // Summer (UTC+2): Sat 2026-07-11 22:00 local is 20:00 UTC.
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-07-11T12:00:00'))?.at, utc('2026-07-11T20:00:00'));
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-07-12T01:59:00')));
  assert.equal(openWindow(ws, 'Europe/Berlin', utc('2026-07-12T02:00:00')), undefined);
});

test('Europe/Berlin: a window across the spring change keeps its local end (5 real hours)', () => {
  const ws = parseWindows(['Sat 22:00-Sun 04:00']);
  // Opens Sat 2026-03-28 22:00 CET (21:00 UTC); the clock jumps 02:00 -> 03:00 at 01:00 UTC; closes 04:00 CEST.
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-03-28T12:00:00'))?.at, utc('2026-03-28T21:00:00'));
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-03-29T01:30:00')));
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-03-29T01:59:00')));
  assert.equal(openWindow(ws, 'Europe/Berlin', utc('2026-03-29T02:00:00')), undefined);
  // The next opening after it closes is a week later, now in summer time.
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-03-29T02:00:00'))?.at, utc('2026-04-04T20:00:00'));
  // And from the winter side the opening after the change is computed with the summer offset.
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-03-26T00:00:00'))?.at, utc('2026-03-28T21:00:00'));
  assert.equal(
    nextOpening(parseWindows(['Sun 05:00-06:00']), 'Europe/Berlin', utc('2026-03-28T12:00:00'))?.at,
    utc('2026-03-29T03:00:00'),
  );
});

test('Europe/Berlin: a window starting in the skipped hour opens when the clock jumps', () => {
  const ws = parseWindows(['Sun 02:30-04:00']);
  // 02:30 does not exist on 2026-03-29: the window opens at the jump (01:00 UTC, 03:00 CEST).
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-03-28T12:00:00'))?.at, utc('2026-03-29T01:00:00'));
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-03-29T01:00:00')));
  // A window wholly inside the skipped hour does not open that day: the next one is a week later.
  const gap = parseWindows(['Sun 02:10-02:40']);
  assert.equal(nextOpening(gap, 'Europe/Berlin', utc('2026-03-28T12:00:00'))?.at, utc('2026-04-05T00:10:00'));
});

test('Europe/Berlin: a window across the autumn change (7 real hours), opening in the repeated hour', () => {
  const ws = parseWindows(['Sat 22:00-Sun 04:00']);
  // Opens Sat 2026-10-24 22:00 CEST (20:00 UTC); the clock goes back 03:00 -> 02:00 at 01:00 UTC; closes 04:00 CET.
  assert.equal(nextOpening(ws, 'Europe/Berlin', utc('2026-10-24T12:00:00'))?.at, utc('2026-10-24T20:00:00'));
  assert.ok(openWindow(ws, 'Europe/Berlin', utc('2026-10-25T02:59:00')));
  assert.equal(openWindow(ws, 'Europe/Berlin', utc('2026-10-25T03:00:00')), undefined);
  // 02:30 happens twice on 2026-10-25: the window opens at the first (00:30 UTC).
  assert.equal(
    nextOpening(parseWindows(['Sun 02:30-05:00']), 'Europe/Berlin', utc('2026-10-24T12:00:00'))?.at,
    utc('2026-10-25T00:30:00'),
  );
});

test('the gate: no windows is always open; closed says when it opens next', () => {
  assert.deepEqual(windowGate(undefined, undefined, utc('2026-03-01T00:00:00')), { open: true });
  assert.deepEqual(windowGate([], 'Europe/Berlin', utc('2026-03-01T00:00:00')), { open: true });
  const g = windowGate(['Wed 01:00-03:00'], undefined, utc('2026-03-02T00:00:00'));
  assert.equal(g.open, false);
  assert.equal(g.next?.at, utc('2026-03-04T01:00:00'));
  assert.equal(windowGate(['Wed 01:00-03:00'], 'UTC', utc('2026-03-04T01:00:00')).open, true);
});
