// A minimal TFTP read client (RFC 1350, octet, 512-byte blocks) for simulated hosts: enough to fetch a boot
// file from an agent the way a PXE ROM does, with a bounded number of retransmissions.
import { createSocket } from 'node:dgram';

const OP_RRQ = 1;
const OP_DATA = 3;
const OP_ACK = 4;
const OP_ERROR = 5;

export async function tftpGet(
  host: string,
  port: number,
  file: string,
  opts: { timeoutMs?: number; retries?: number; localAddress?: string } = {},
): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const retries = opts.retries ?? 5;
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, opts.localAddress ?? '0.0.0.0', r));
  const chunks: Buffer[] = [];
  try {
    const rrq = Buffer.concat([Buffer.from([0, OP_RRQ]), Buffer.from(`${file}\0octet\0`)]);
    let expect = 1;
    let peer: { address: string; port: number } | undefined;
    let last = rrq;
    let lastTo = { address: host, port };
    for (let attempt = 0; ;) {
      sock.send(last, lastTo.port, lastTo.address);
      const msg = await new Promise<{ data: Buffer; from: { address: string; port: number } } | undefined>(
        (resolve) => {
          const t = setTimeout(() => {
            sock.off('message', on);
            resolve(undefined);
          }, timeoutMs);
          const on = (data: Buffer, rinfo: { address: string; port: number }) => {
            clearTimeout(t);
            sock.off('message', on);
            resolve({ data, from: rinfo });
          };
          sock.on('message', on);
        },
      );
      if (!msg) {
        if (++attempt > retries)
          throw new Error(`TFTP ${file} from ${host}:${port}: no answer after ${retries} retries`);
        continue;
      }
      const op = msg.data.readUInt16BE(0);
      if (op === OP_ERROR)
        throw new Error(
          `TFTP ${file}: error ${msg.data.readUInt16BE(2)} ${msg.data.subarray(4).toString().replace(/\0.*$/s, '')}`,
        );
      if (op !== OP_DATA || msg.data.length < 4) continue;
      peer ??= msg.from;
      const block = msg.data.readUInt16BE(2);
      const ack = Buffer.from([0, OP_ACK, 0, 0]);
      ack.writeUInt16BE(block, 2);
      last = ack;
      lastTo = peer;
      if (block === (expect & 0xffff)) {
        chunks.push(msg.data.subarray(4));
        attempt = 0;
        expect++;
        if (msg.data.length - 4 < 512) {
          // The final ACK must leave before the socket closes (a send still queued at close() is dropped).
          const to = peer;
          await new Promise<void>((resolve, reject) =>
            sock.send(ack, to.port, to.address, (err) => (err ? reject(err) : resolve())),
          );
          return Buffer.concat(chunks);
        }
      }
    }
  } finally {
    sock.close();
  }
}
