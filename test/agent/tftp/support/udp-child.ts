// Runs inside the client namespace: raw UDP sockets driven by the test over IPC, so a test can hand-craft
// TFTP packets (drop ACKs, send garbage) and read every reply. Exits when the IPC channel closes.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { FromUdp, ToUdp } from './protocol.ts';

const sockets = new Map<number, Socket>();
let nextSock = 1;

function reply(m: FromUdp): void {
  process.send?.(m);
}

process.on('message', (raw) => {
  const m = raw as ToUdp;
  if (m.cmd === 'open') {
    const sock = nextSock++;
    const s = createSocket('udp4');
    s.on('error', () => undefined);
    s.on('message', (data, rinfo) =>
      reply({ datagram: { sock, data: data.toString('base64'), address: rinfo.address, port: rinfo.port } }),
    );
    s.bind(0, '0.0.0.0', () => {
      sockets.set(sock, s);
      reply({ id: m.id, ok: true, sock, port: s.address().port });
    });
  } else if (m.cmd === 'send') {
    const s = sockets.get(m.sock);
    if (!s) return reply({ id: m.id, ok: false, error: 'no such socket' });
    s.send(Buffer.from(m.data, 'base64'), m.port, m.address, (err) =>
      reply(err ? { id: m.id, ok: false, error: err.message } : { id: m.id, ok: true }),
    );
  } else {
    sockets.get(m.sock)?.close();
    sockets.delete(m.sock);
    reply({ id: m.id, ok: true });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true });
