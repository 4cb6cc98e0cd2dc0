// A plain UDP peer inside a namespace: opens named sockets, sends hex datagrams, hands back what arrived. Used for
// crafted PXE requests (port 68, port 4011) and for the malformed-packet corpus.
import dgram from 'node:dgram';
import type { Datagram, FromUdp, ToUdp } from './protocol.ts';

const sockets = new Map<string, { sock: dgram.Socket; inbox: Datagram[] }>();
const send = (m: FromUdp): void => void process.send?.(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** An inbox larger than this is a runaway test, not a result. */
const MAX_INBOX = 10_000;

function open(name: string, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const entry = { sock, inbox: [] as Datagram[] };
    sock.once('error', reject);
    sock.on('message', (msg, rinfo) => {
      if (entry.inbox.length < MAX_INBOX)
        entry.inbox.push({ hex: msg.toString('hex'), from: rinfo.address, port: rinfo.port });
    });
    sock.bind(port, address, () => {
      sock.setBroadcast(true);
      sockets.set(name, entry);
      resolve();
    });
  });
}

function sendOne(sock: dgram.Socket, buf: Buffer, port: number, to: string): Promise<string | undefined> {
  return new Promise((resolve) => sock.send(buf, port, to, (err) => resolve(err?.message)));
}

async function onMessage(m: ToUdp): Promise<void> {
  try {
    switch (m.op) {
      case 'open':
        await open(m.name, m.address, m.port);
        send({ id: m.id, ok: true });
        break;
      case 'send': {
        const entry = sockets.get(m.name);
        if (!entry) throw new Error(`no socket ${m.name}`);
        const errors: string[] = [];
        let sent = 0;
        for (const hex of m.packets) {
          const err = await sendOne(entry.sock, Buffer.from(hex, 'hex'), m.port, m.to);
          if (err) errors.push(err);
          else sent++;
          if (m.gapMs) await sleep(m.gapMs);
        }
        send({ id: m.id, ok: true, sent, errors: [...new Set(errors)] });
        break;
      }
      case 'collect': {
        const entry = sockets.get(m.name);
        if (!entry) throw new Error(`no socket ${m.name}`);
        await sleep(m.waitMs);
        send({ id: m.id, ok: true, received: entry.inbox.splice(0) });
        break;
      }
    }
  } catch (err) {
    send({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

process.on('message', (m) => void onMessage(m as ToUdp));
process.on('disconnect', () => {
  for (const { sock } of sockets.values()) sock.close();
  process.exit(0);
});
