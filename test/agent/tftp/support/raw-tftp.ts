// Hand-built TFTP packets for tests that real clients cannot produce (bad names, dropped ACKs, garbage).
import type { Datagram, RawUdp } from './lab.ts';

export function rrq(
  name: string | Buffer,
  mode = 'octet',
  options: Record<string, string> = {},
  op = 1,
): Buffer {
  const parts: Buffer[] = [
    Buffer.from([0, op]),
    Buffer.isBuffer(name) ? name : Buffer.from(name),
    Buffer.from(`\0${mode}\0`),
  ];
  for (const [k, v] of Object.entries(options)) parts.push(Buffer.from(`${k}\0${v}\0`));
  return Buffer.concat(parts);
}

export function ack(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(4, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export interface Decoded {
  op: number;
  block?: number;
  code?: number;
  message?: string;
  payload?: Buffer;
  options?: Record<string, string>;
}

export function decode(d: Datagram): Decoded {
  const op = d.data.readUInt16BE(0);
  if (op === 3) return { op, block: d.data.readUInt16BE(2), payload: d.data.subarray(4) };
  if (op === 5)
    return { op, code: d.data.readUInt16BE(2), message: d.data.toString('latin1', 4, d.data.length - 1) };
  if (op === 6) {
    const fields = d.data.toString('latin1', 2, d.data.length - 1).split('\0');
    const options: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) options[fields[i] as string] = fields[i + 1] as string;
    return { op, options };
  }
  return { op };
}

/** Sends one request from a fresh socket and returns the decoded first reply (and where it came from). */
export async function firstReply(
  udp: RawUdp,
  request: Buffer,
  timeoutMs = 3000,
): Promise<(Decoded & { port: number }) | undefined> {
  const sock = await udp.open();
  await udp.send(sock, request);
  const d = await udp.recv(sock, timeoutMs);
  return d ? { ...decode(d), port: d.port } : undefined;
}
