// The syslog datagram parser on what real senders write — busybox syslogd's forwarding (no HOSTNAME), util-linux
// logger in both formats, RFC 5424 structured data with escapes, netconsole's bare lines — and on hostile input:
// control characters, oversized lines, broken UTF-8, an out-of-range PRI, a datagram of many lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LINES_PER_DATAGRAM, parseSyslogDatagram } from '../../agent/installer-logs/syslog-message.ts';
import { MAX_LOG_LINE_BYTES } from '../../domain/installer-logs.ts';

const parse = (s: string | Buffer) => parseSyslogDatagram(Buffer.isBuffer(s) ? s : Buffer.from(s));

test('the senders installers use', () => {
  assert.deepEqual(parse('<14>Dec  4 12:00:00 tiny: TINY: init'), [
    { severity: 6, app: 'tiny', text: 'TINY: init' },
  ]);
  assert.deepEqual(parse('<11>Dec  4 12:00:00 host1 d-i[812]: partman failed'), [
    { severity: 3, app: 'd-i', text: 'partman failed' },
  ]);
  assert.deepEqual(
    parse('<13>1 2026-12-04T12:00:00.1+00:00 host1 installer 77 - [timeQuality tzKnown="1" x="a\\]b"] hello'),
    [{ severity: 5, app: 'installer', text: 'hello' }],
  );
  assert.deepEqual(parse('<13>1 - - - - - - \uFEFFbom'), [{ severity: 5, text: 'bom' }]);
  assert.deepEqual(parse('[    1.234] e1000: eth0 NIC Link is Up\n[    1.300] next\n'), [
    { text: '[    1.234] e1000: eth0 NIC Link is Up' },
    { text: '[    1.300] next' },
  ]);
});

test('hostile input is cut, cleaned or dropped, never thrown', () => {
  assert.deepEqual(parse('<14>Dec  4 12:00:00 t: a\u001b[31mred\u0000'), [
    { severity: 6, app: 't', text: 'a [31mred' },
  ]);
  const long = parse(`<14>${'é'.repeat(5000)}`)[0]!;
  assert.ok(Buffer.byteLength(long.text) <= MAX_LOG_LINE_BYTES);
  assert.ok(long.text.endsWith('é …'), 'cut on a character boundary, marked');
  assert.equal(parse(Buffer.from([0x3c, 0x31, 0x34, 0x3e, 0xff, 0xfe, 0x41]))[0]!.text, '\uFFFD\uFFFDA');
  assert.deepEqual(parse('<999>x'), [{ text: '<999>x' }], 'no PRI past 191: a plain line');
  assert.deepEqual(parse('<13>1 broken'), [], 'an RFC 5424 header cut short gives nothing');
  assert.deepEqual(parse(''), []);
  assert.equal(parse('l\n'.repeat(1000)).length, MAX_LINES_PER_DATAGRAM);
});
