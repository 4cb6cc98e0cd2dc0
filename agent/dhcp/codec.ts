// DHCPv4 wire format (RFC 2131 §2, RFC 2132, RFC 3396 long options, option 52 overload). Knows nothing about
// hosts, subnets or boot files. parseDhcp never throws: anything a network can send becomes either a packet or
// a DhcpParseError saying what was wrong, so the server can count it and go on.
import { formatIpv4, parseIpv4 } from './ipv4.ts';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** op … file: the fixed BOOTP header (RFC 951), followed by the 4-byte magic cookie and the options. */
export const HEADER_LENGTH = 236;
export const OPTIONS_OFFSET = 240;
/** Replies are padded to the BOOTP minimum: some PXE ROMs and relays drop anything shorter. */
export const MIN_BOOTP_LENGTH = 300;

const SNAME_OFFSET = 44;
const SNAME_LENGTH = 64;
const FILE_OFFSET = 108;
const FILE_LENGTH = 128;
const OPT_PAD = 0;
const OPT_OVERLOAD = 52;
const OPT_MESSAGE_TYPE = 53;
const OPT_END = 255;

/** Option code → value. Repeated instances of one code are already concatenated (RFC 3396). */
export type DhcpOptions = Map<number, Buffer>;

export interface DhcpPacket {
  op: typeof BOOTREQUEST | typeof BOOTREPLY;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the field; the hardware address is the first `hlen`. */
  chaddr: Buffer;
  /** Text up to the first NUL; empty when the field carried options (overload). */
  sname: string;
  file: string;
  options: DhcpOptions;
}

export type DhcpParseErrorCode =
  'too-short' | 'bad-op' | 'bad-hlen' | 'bad-cookie' | 'option-overflow' | 'bad-overload' | 'internal';

export interface DhcpParseError {
  code: DhcpParseErrorCode;
  message: string;
}

export type DhcpParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: DhcpParseError };

/** Thrown by serializeDhcp for values no valid packet can hold (a programming error, not network input). */
export class DhcpEncodeError extends Error {
  override name = 'DhcpEncodeError';
}

export const BROADCAST_FLAG = 0x8000;

function fail(code: DhcpParseErrorCode, message: string): DhcpParseResult {
  return { ok: false, error: { code, message } };
}

function ipAt(buf: Buffer, offset: number): string {
  return formatIpv4(buf.readUInt32BE(offset));
}

function textAt(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? length : nul);
}

/**
 * Collects the options of one area into `options`, a repeated code's instances concatenated in order (RFC 3396).
 * A missing End option is tolerated when the area ends exactly after an option (several real clients do this);
 * an option whose length runs past the area is not. Values are views of the datagram, not copies.
 */
function scanOptions(area: Buffer, where: string, options: DhcpOptions): DhcpParseError | undefined {
  let i = 0;
  while (i < area.length) {
    const code = area[i]!;
    if (code === OPT_PAD) {
      i++;
      continue;
    }
    if (code === OPT_END) return undefined;
    if (i + 1 >= area.length) {
      return { code: 'option-overflow', message: `option ${code} in ${where} has no length byte` };
    }
    const len = area[i + 1]!;
    if (i + 2 + len > area.length) {
      return {
        code: 'option-overflow',
        message: `option ${code} in ${where} claims ${len} bytes but ${area.length - i - 2} remain`,
      };
    }
    const value = area.subarray(i + 2, i + 2 + len);
    const earlier = options.get(code);
    options.set(code, earlier ? Buffer.concat([earlier, value]) : value);
    i += 2 + len;
  }
  return undefined;
}

function parseUnsafe(buf: Buffer): DhcpParseResult {
  if (buf.length < OPTIONS_OFFSET) {
    return fail('too-short', `${buf.length} bytes, a DHCP message has at least ${OPTIONS_OFFSET}`);
  }
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY)
    return fail('bad-op', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  const hlen = buf[2]!;
  if (hlen > 16) return fail('bad-hlen', `hlen ${hlen} exceeds the 16-byte chaddr field`);
  const cookie = buf.readUInt32BE(HEADER_LENGTH);
  if (cookie !== MAGIC_COOKIE)
    return fail('bad-cookie', `magic cookie 0x${cookie.toString(16)} is not 0x63825363`);

  const options: DhcpOptions = new Map();
  const main = scanOptions(buf.subarray(OPTIONS_OFFSET), 'options', options);
  if (main) return { ok: false, error: main };

  // Overload (RFC 2132 §9.3) is only valid in the options field; it moves more options into file, then sname.
  let overload = 0;
  const v = options.get(OPT_OVERLOAD);
  if (v) {
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3)
      return fail('bad-overload', 'option 52 must be one byte 1, 2 or 3');
    overload = v[0]!;
    options.delete(OPT_OVERLOAD);
  }
  if (overload & 1) {
    const e = scanOptions(buf.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH), 'file', options);
    if (e) return { ok: false, error: e };
  }
  if (overload & 2) {
    const e = scanOptions(buf.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH), 'sname', options);
    if (e) return { ok: false, error: e };
  }

  return {
    ok: true,
    packet: {
      op,
      htype: buf[1]!,
      hlen,
      hops: buf[3]!,
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: ipAt(buf, 12),
      yiaddr: ipAt(buf, 16),
      siaddr: ipAt(buf, 20),
      giaddr: ipAt(buf, 24),
      chaddr: Buffer.from(buf.subarray(28, 44)),
      sname: overload & 2 ? '' : textAt(buf, SNAME_OFFSET, SNAME_LENGTH),
      file: overload & 1 ? '' : textAt(buf, FILE_OFFSET, FILE_LENGTH),
      options,
    },
  };
}

/** Decodes one UDP payload. Never throws. Option values are views of `data`: it must not be reused meanwhile. */
export function parseDhcp(data: Uint8Array): DhcpParseResult {
  try {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return parseUnsafe(buf);
  } catch (err) {
    // Every read above is bounds-checked; this is a guard for the API promise, not an expected path.
    return fail('internal', err instanceof Error ? err.message : String(err));
  }
}

function writeIp(buf: Buffer, offset: number, ip: string, field: string): void {
  const n = parseIpv4(ip);
  if (n === undefined) throw new DhcpEncodeError(`${field} ${JSON.stringify(ip)} is not an IPv4 address`);
  buf.writeUInt32BE(n, offset);
}

function writeText(buf: Buffer, offset: number, length: number, text: string, field: string): void {
  const bytes = Buffer.from(text, 'latin1');
  // Keep one NUL: readers treat the field as a C string.
  if (bytes.length > length - 1)
    throw new DhcpEncodeError(`${field} is ${bytes.length} bytes, at most ${length - 1} fit`);
  bytes.copy(buf, offset);
}

/** Bytes the options take on the wire, long values split into 255-byte instances (RFC 3396). */
function encodedOptionLength(value: Buffer): number {
  const instances = Math.max(1, Math.ceil(value.length / 255));
  return instances * 2 + value.length;
}

function writeOption(out: Buffer, at: number, code: number, value: Buffer): number {
  if (value.length <= 255) {
    out[at] = code;
    out[at + 1] = value.length;
    value.copy(out, at + 2);
    return at + 2 + value.length;
  }
  let pos = at;
  let rest = value;
  do {
    const chunk = rest.subarray(0, 255);
    out[pos++] = code;
    out[pos++] = chunk.length;
    chunk.copy(out, pos);
    pos += chunk.length;
    rest = rest.subarray(chunk.length);
  } while (rest.length > 0);
  return pos;
}

/** Size serializeDhcp would produce, without the BOOTP minimum padding. */
export function encodedLength(p: Pick<DhcpPacket, 'options'>): number {
  let n = OPTIONS_OFFSET + 1;
  for (const value of p.options.values()) n += encodedOptionLength(value);
  return n;
}

/**
 * Encodes a packet. Option 53 goes first (some PXE ROMs look for it there), the rest in insertion order, then
 * End, then zero padding up to `minLength`. Throws DhcpEncodeError for values no packet can carry.
 */
export function serializeDhcp(p: DhcpPacket, opts: { minLength?: number } = {}): Buffer {
  if (p.chaddr.length > 16) throw new DhcpEncodeError(`chaddr is ${p.chaddr.length} bytes, at most 16`);
  for (const code of p.options.keys()) {
    if (!Number.isInteger(code) || code <= OPT_PAD || code >= OPT_END)
      throw new DhcpEncodeError(`option code ${code} cannot be sent`);
  }
  const length = Math.max(encodedLength(p), opts.minLength ?? MIN_BOOTP_LENGTH);
  // From Node's pool, zeroed (padding and unused fields are zero): cheaper than a buffer of its own per reply.
  const out = Buffer.allocUnsafe(length).fill(0);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid >>> 0, 4);
  out.writeUInt16BE(p.secs & 0xffff, 8);
  out.writeUInt16BE(p.flags & 0xffff, 10);
  writeIp(out, 12, p.ciaddr, 'ciaddr');
  writeIp(out, 16, p.yiaddr, 'yiaddr');
  writeIp(out, 20, p.siaddr, 'siaddr');
  writeIp(out, 24, p.giaddr, 'giaddr');
  p.chaddr.copy(out, 28);
  writeText(out, SNAME_OFFSET, SNAME_LENGTH, p.sname, 'sname');
  writeText(out, FILE_OFFSET, FILE_LENGTH, p.file, 'file');
  out.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  let pos = OPTIONS_OFFSET;
  const type = p.options.get(OPT_MESSAGE_TYPE);
  if (type) pos = writeOption(out, pos, OPT_MESSAGE_TYPE, type);
  for (const [code, value] of p.options) {
    if (code !== OPT_MESSAGE_TYPE) pos = writeOption(out, pos, code, value);
  }
  out[pos] = OPT_END;
  return out;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** The Ethernet address as lowercase aa:bb:cc:dd:ee:ff, or undefined when the packet is not Ethernet. */
export function macOf(p: Pick<DhcpPacket, 'htype' | 'hlen' | 'chaddr'>): string | undefined {
  if (p.htype !== 1 || p.hlen !== 6) return undefined;
  const c = p.chaddr;
  // Read per packet, before anything else: six table lookups, not an array and six number formats.
  return `${HEX_BYTE[c[0]!]}:${HEX_BYTE[c[1]!]}:${HEX_BYTE[c[2]!]}:${HEX_BYTE[c[3]!]}:${HEX_BYTE[c[4]!]}:${HEX_BYTE[c[5]!]}`;
}

/** A 16-byte chaddr field holding a MAC given as aa:bb:cc:dd:ee:ff (or with dashes). */
export function chaddrFromMac(mac: string): Buffer {
  const hex = mac.replace(/[:-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex))
    throw new DhcpEncodeError(`${JSON.stringify(mac)} is not a MAC address`);
  const out = Buffer.alloc(16);
  Buffer.from(hex, 'hex').copy(out);
  return out;
}

/** A packet with every header field zero and no options; callers fill what they need. */
export function emptyPacket(op: DhcpPacket['op']): DhcpPacket {
  return {
    op,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.alloc(16),
    sname: '',
    file: '',
    options: new Map(),
  };
}
