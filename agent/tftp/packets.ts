// TFTP wire format (RFC 1350 packets, RFC 2347 options and OACK). Parsing never throws: every length is
// checked before it is read, because any datagram from the network may be truncated or hostile.

export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_DATA = 3;
export const OP_ACK = 4;
export const OP_ERROR = 5;
export const OP_OACK = 6;

/** RFC 1350 / RFC 2347 error codes. */
export const ERR_UNDEFINED = 0;
export const ERR_NOT_FOUND = 1;
export const ERR_ACCESS = 2;
export const ERR_ILLEGAL = 4;
export const ERR_UNKNOWN_TID = 5;
export const ERR_OPTIONS = 8;

/** Requests above this are not TFTP (RFC 2347 caps them at 512 octets; we allow some slack for padded clients). */
export const MAX_REQUEST_BYTES = 1024;
const MAX_OPTIONS = 32;
const MAX_STRING = 512;

export interface TftpRequest {
  op: typeof OP_RRQ | typeof OP_WRQ;
  /** Raw file name bytes (decoded later by path-safety, which owns the character rules). */
  name: Buffer;
  /** Lower-cased transfer mode. */
  mode: string;
  /** Option names lower-cased (RFC 2347: case-insensitive); first occurrence wins. */
  options: Map<string, string>;
}

export type ParsedRequest = { ok: true; request: TftpRequest } | { ok: false; reason: string };

/** Index of the NUL ending the string at `start`, or -1 when there is none within bounds. */
function nulFrom(buf: Buffer, start: number): number {
  const end = Math.min(buf.length, start + MAX_STRING + 1);
  for (let i = start; i < end; i++) if (buf[i] === 0) return i;
  return -1;
}

export function opcodeOf(buf: Buffer): number {
  return buf.length >= 2 ? buf.readUInt16BE(0) : -1;
}

/** Parses an RRQ or WRQ. Options are read liberally: a trailing name without a value, or NUL padding, ends them. */
export function parseRequest(buf: Buffer): ParsedRequest {
  if (buf.length < 4 || buf.length > MAX_REQUEST_BYTES) return { ok: false, reason: 'bad request length' };
  const op = buf.readUInt16BE(0);
  if (op !== OP_RRQ && op !== OP_WRQ) return { ok: false, reason: 'not a request' };
  const nameEnd = nulFrom(buf, 2);
  if (nameEnd < 0) return { ok: false, reason: 'file name not terminated' };
  const modeEnd = nulFrom(buf, nameEnd + 1);
  if (modeEnd < 0) return { ok: false, reason: 'mode not terminated' };
  const name = buf.subarray(2, nameEnd);
  const mode = buf.toString('latin1', nameEnd + 1, modeEnd).toLowerCase();
  const options = new Map<string, string>();
  let at = modeEnd + 1;
  for (let n = 0; n < MAX_OPTIONS && at < buf.length; n++) {
    const keyEnd = nulFrom(buf, at);
    if (keyEnd <= at) break; // no terminator, or an empty name (padding)
    const valueEnd = nulFrom(buf, keyEnd + 1);
    if (valueEnd < 0) break;
    const key = buf.toString('latin1', at, keyEnd).toLowerCase();
    if (!options.has(key)) options.set(key, buf.toString('latin1', keyEnd + 1, valueEnd));
    at = valueEnd + 1;
  }
  return { ok: true, request: { op, name, mode, options } };
}

export function errorPacket(code: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 200), 'latin1');
  const buf = Buffer.allocUnsafe(5 + text.length);
  buf.writeUInt16BE(OP_ERROR, 0);
  buf.writeUInt16BE(code, 2);
  text.copy(buf, 4);
  buf[buf.length - 1] = 0;
  return buf;
}

export function oackPacket(options: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, OP_OACK])];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'latin1'));
  return Buffer.concat(parts);
}

/** A DATA packet buffer with its header's opcode written; the block number is set per use. */
export function dataPacket(payloadLength: number): Buffer {
  const buf = Buffer.allocUnsafe(4 + payloadLength);
  buf.writeUInt16BE(OP_DATA, 0);
  return buf;
}

export interface TftpError {
  code: number;
  message: string;
}

export function parseError(buf: Buffer): TftpError | undefined {
  if (buf.length < 4 || buf.readUInt16BE(0) !== OP_ERROR) return undefined;
  const end = nulFrom(buf, 4);
  return {
    code: buf.readUInt16BE(2),
    message: buf.toString('latin1', 4, end < 0 ? Math.min(buf.length, 4 + MAX_STRING) : end),
  };
}
