// TCP ports of the lab namespace's loopback, reachable from the host's: a unix socket is visible from every
// network namespace, so the lab (inside) serves one per port (`serveUnixToTcp`), and this forwarder (outside,
// detached, started by `vaquero lab up`) listens on the host's 127.0.0.1 and connects each client to its socket.
//
//   node --import tsx lab/forward.ts <port>=<socket> [...]     (port 0: a free one; prints `ready <port> ...`)
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function pipe(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  // One side gone: drop the other (no half-open connections piling up).
  a.once('error', () => b.destroy());
  b.once('error', () => a.destroy());
  a.once('close', () => b.destroy());
  b.once('close', () => a.destroy());
}

/** The sockets a lab run serves in its directory: the Temporal UI's and the REST API's (with the dashboard). */
export function labSockets(runDir: string): { ui: string; api: string } {
  return { ui: path.join(runDir, 'ui.sock'), api: path.join(runDir, 'api.sock') };
}

/** Inside the namespace: connections to `socket` go to 127.0.0.1:`port`. */
export function serveUnixToTcp(socket: string, port: number): Promise<net.Server> {
  const server = net.createServer((c) => pipe(c, net.connect(port, '127.0.0.1')));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}

/** Outside: 127.0.0.1:`port` (0: a free one) to `socket`; resolves with the port. */
export async function serveTcpToUnix(port: number, socket: string): Promise<number> {
  return (await forwardTcpToUnix(port, socket)).port;
}

/** The same, with the listening server (to close it). */
export function forwardTcpToUnix(
  port: number,
  socket: string,
): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((c) => pipe(c, net.connect(socket)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({ port: (server.address() as net.AddressInfo).port, server }),
    );
  });
}

async function main(): Promise<void> {
  const pairs = process.argv.slice(2).map((a) => {
    const m = /^(\d+)=(.+)$/.exec(a);
    if (!m) throw new Error(`usage: lab/forward.ts <port>=<socket> ... (got "${a}")`);
    return { port: Number(m[1]), socket: m[2]! };
  });
  const ports: number[] = [];
  for (const p of pairs) ports.push(await serveTcpToUnix(p.port, p.socket));
  process.stdout.write(`ready ${ports.join(' ')}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
