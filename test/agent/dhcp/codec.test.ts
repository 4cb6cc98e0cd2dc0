import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DhcpParseErrorCode } from '../../../agent/dhcp/codec.ts';
import {
  BOOTREPLY,
  chaddrFromMac,
  DhcpEncodeError,
  emptyPacket,
  MAGIC_COOKIE,
  macOf,
  parseDhcp,
  serializeDhcp,
} from '../../../agent/dhcp/codec.ts';
import { formatIpv4, parseCidr, parseIpv4 } from '../../../agent/dhcp/ipv4.ts';
import { MessageType, Opt } from '../../../agent/dhcp/options.ts';
import { prng, request } from './support/fixtures.ts';

function parseOk(buf: Buffer) {
  const r = parseDhcp(buf);
  assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.message}`);
  return r.packet;
}

function parseErr(buf: Buffer): DhcpParseErrorCode {
  const r = parseDhcp(buf);
  assert.ok(!r.ok, 'expected a parse error');
  return r.error.code;
}

/** A valid DISCOVER with `tail` written as the options area (no End unless the caller adds it). */
function withOptions(tail: number[]): Buffer {
  const head = serializeDhcp(request({ type: MessageType.Discover })).subarray(0, 240);
  return Buffer.concat([head, Buffer.from(tail)]);
}

describe('DHCP codec', () => {
  it('round-trips header fields and options, message type first, padded to 300 bytes', () => {
    const p = emptyPacket(BOOTREPLY);
    p.xid = 0xdeadbeef;
    p.secs = 7;
    p.flags = 0x8000;
    p.hops = 2;
    p.ciaddr = '10.0.0.1';
    p.yiaddr = '10.77.1.10';
    p.siaddr = '10.77.1.1';
    p.giaddr = '10.77.9.1';
    p.chaddr = chaddrFromMac('52:54:00:AA:bb:0c');
    p.sname = 'agent';
    p.file = 'undionly.kpxe';
    p.options.set(Opt.ServerId, Buffer.from([10, 77, 1, 1]));
    p.options.set(Opt.MessageType, Buffer.from([MessageType.Offer]));
    const buf = serializeDhcp(p);
    assert.equal(buf.length, 300);
    assert.equal(buf.readUInt32BE(236), MAGIC_COOKIE);
    assert.deepEqual([...buf.subarray(240, 243)], [53, 1, 2], 'option 53 is written first');
    const q = parseOk(buf);
    assert.deepEqual({ ...q, options: [...q.options] }, { ...p, options: [...p.options].reverse() });
    assert.equal(macOf(q), '52:54:00:aa:bb:0c');
  });

  it('splits options longer than 255 bytes and concatenates them back (RFC 3396)', () => {
    const p = request({ type: MessageType.Discover });
    const long = Buffer.alloc(600, 0x41);
    p.options.set(224, long);
    const buf = serializeDhcp(p);
    assert.ok(buf.length > 600 + 240);
    assert.deepEqual(parseOk(buf).options.get(224), long);
  });

  it('reads options moved into file and sname by option 52, in that order', () => {
    const buf = Buffer.alloc(300);
    serializeDhcp(request({ type: MessageType.Request })).copy(buf, 0, 0, 240);
    Buffer.from([53, 1, 3, 52, 1, 3, 224, 2, 0x61, 0x62, 255]).copy(buf, 240);
    Buffer.from([224, 1, 0x63, 50, 4, 10, 77, 1, 10, 255]).copy(buf, 108); // file
    Buffer.from([224, 1, 0x64, 255]).copy(buf, 44); // sname
    const p = parseOk(buf);
    assert.equal(p.options.get(224)?.toString(), 'abcd');
    assert.deepEqual([...(p.options.get(50) ?? [])], [10, 77, 1, 10]);
    assert.equal(p.file, '');
    assert.equal(p.sname, '');
    assert.equal(p.options.has(52), false);
  });

  it('skips pad options and tolerates a missing End at the end of the datagram', () => {
    const p = parseOk(withOptions([0, 0, 53, 1, 1, 0, 12, 3, 0x61, 0x62, 0x63]));
    assert.deepEqual([...(p.options.get(53) ?? [])], [1]);
    assert.equal(p.options.get(12)?.toString(), 'abc');
  });

  it('returns a clear error for each kind of damage', () => {
    const good = serializeDhcp(request({ type: MessageType.Discover }));
    assert.equal(parseErr(Buffer.alloc(0)), 'too-short');
    assert.equal(parseErr(good.subarray(0, 239)), 'too-short');
    const op = Buffer.from(good);
    op[0] = 3;
    assert.equal(parseErr(op), 'bad-op');
    const hlen = Buffer.from(good);
    hlen[2] = 17;
    assert.equal(parseErr(hlen), 'bad-hlen');
    const cookie = Buffer.from(good);
    cookie.writeUInt32BE(0x01020304, 236);
    assert.equal(parseErr(cookie), 'bad-cookie');
    assert.equal(parseErr(withOptions([53, 1, 1, 12, 200, 0x61])), 'option-overflow');
    assert.equal(parseErr(withOptions([53, 1, 1, 12])), 'option-overflow');
    assert.equal(parseErr(withOptions([53, 1, 1, 52, 1, 9, 255])), 'bad-overload');
    assert.equal(parseErr(withOptions([53, 1, 1, 52, 2, 1, 1, 255])), 'bad-overload');
  });

  it('never throws on random bytes or mutated packets (seeded)', () => {
    const rnd = prng(0xd4c9);
    const base = serializeDhcp(
      request({
        type: MessageType.Discover,
        arch: 7,
        vendorClass: 'PXEClient:Arch:00007',
        params: [1, 3, 6, 67],
      }),
    );
    const codes = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      let buf: Buffer;
      if (i % 2 === 0) {
        buf = Buffer.alloc(Math.floor(rnd() * 700));
        for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
        if (buf.length >= 240 && i % 4 === 0) buf.writeUInt32BE(MAGIC_COOKIE, 236);
      } else {
        buf = Buffer.from(base.subarray(0, 236 + Math.floor(rnd() * (base.length - 236))));
        for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) {
          buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
        }
      }
      const r = parseDhcp(buf);
      codes.add(r.ok ? 'ok' : r.error.code);
      assert.ok(r.ok || r.error.code !== 'internal', r.ok ? '' : r.error.message);
    }
    for (const c of ['ok', 'too-short', 'bad-cookie', 'option-overflow']) assert.ok(codes.has(c), `saw ${c}`);
  });

  it('refuses to encode what no packet can carry', () => {
    const p = emptyPacket(BOOTREPLY);
    p.yiaddr = '10.0.0.300';
    assert.throws(() => serializeDhcp(p), DhcpEncodeError);
    const q = emptyPacket(BOOTREPLY);
    q.file = 'x'.repeat(128);
    assert.throws(() => serializeDhcp(q), DhcpEncodeError);
    const r = emptyPacket(BOOTREPLY);
    r.options.set(255, Buffer.alloc(1));
    assert.throws(() => serializeDhcp(r), DhcpEncodeError);
    assert.throws(() => chaddrFromMac('52:54:00'), DhcpEncodeError);
  });

  it('reports no MAC for non-Ethernet hardware', () => {
    const p = request({ type: MessageType.Discover });
    assert.equal(macOf({ ...p, htype: 6 }), undefined);
    assert.equal(macOf({ ...p, hlen: 8 }), undefined);
  });

  it('formats every MAC byte as two lowercase hex digits', () => {
    const p = request({ type: MessageType.Discover, mac: '00:0a:f0:ff:10:01' });
    assert.equal(macOf(p), '00:0a:f0:ff:10:01');
  });

  it('reads dotted-quad IPv4 strictly (four parts of 1-3 digits, at most 255), and nothing else', () => {
    assert.equal(parseIpv4('10.79.0.1'), 0x0a4f0001);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIpv4('0.0.0.0'), 0);
    assert.equal(parseIpv4('010.001.0.1'), 0x0a010001);
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.',
      '.1.2.3',
      '1..2.3',
      '256.1.1.1',
      '1.2.3.1000',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.-4',
      '1.2.3.a',
      '1.2.3.4/24',
      '１.2.3.4',
    ])
      assert.equal(parseIpv4(bad), undefined, JSON.stringify(bad));
    for (const n of [0, 1, 0x0a4f0001, 0x7fffffff, 0x80000000, 0xffffffff])
      assert.equal(parseIpv4(formatIpv4(n)), n);
  });

  it('parses a CIDR once and shares the frozen result', () => {
    const a = parseCidr('10.79.3.4/16');
    assert.deepEqual({ ...a }, { network: 0x0a4f0000, prefix: 16, mask: 0xffff0000, broadcast: 0x0a4fffff });
    assert.equal(parseCidr('10.79.3.4/16'), a);
    assert.ok(Object.isFrozen(a));
    assert.equal(parseCidr('10.79.3.4/33'), undefined);
    assert.equal(parseCidr('10.79.3/16'), undefined);
  });
});
