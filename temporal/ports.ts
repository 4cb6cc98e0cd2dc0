// TCP port helpers for the embedded server: a clear error before start when a port is taken
// (otherwise our readiness probe could be answered by somebody else's server), and free ports
// for tests that run beside a live instance.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      srv.close(() => resolve(bound));
    });
  });
}

export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  try {
    await listenOnce(host, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'is already in use (another Temporal server? set TEMPORAL_ADDRESS to use it, or pick other ports)'
        : `cannot be bound (${code ?? String(err)})`;
    throw new Error(`${what} port ${host}:${port} ${why}`, { cause: err });
  }
}

/**
 * A port that was free a moment ago; good enough for tests, not a reservation. It is picked
 * below the kernel's ephemeral range on purpose: start-dev gives its internal services ports
 * from that range (bind to :0), and a port we had the kernel hand out and released would be
 * handed out again, so the server would collide with itself.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = 10_000;
  const high = Math.max(low + 1000, ephemeralRangeStart());
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    try {
      return await listenOnce(host, port);
    } catch {
      // taken; try another
    }
  }
  throw new Error(`no free port found on ${host} between ${low} and ${high}`);
}

function ephemeralRangeStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}
