// A TFTP test lab (LAB.md §1, §2): a veth pair of fresh namespaces, the agent's TFTP server running in the
// server namespace (server-child.ts), real clients (curl, atftp, tftp-hpa) and a raw UDP peer (udp-child.ts)
// in the client namespace. Only processes started here are ended, by their pid.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TftpEvent, TftpStats } from '../../../../agent/tftp/index.ts';
import {
  addAddress,
  createVethPair,
  requireRoot,
  runInNs,
  spawnNodeInNs,
} from '../../../../testkit/netns.ts';
import type { VethPair } from '../../../../testkit/netns.ts';
import type { FromServer, FromUdp, ServerSpec, ToServer, ToUdp } from './protocol.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Request/reply over a child's IPC channel; messages without an id are handed to `onOther`. */
class Rpc<TReq extends { id: number }, TRes> {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: TRes) => void>();
  readonly ready: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    onOther: (m: TRes) => void,
  ) {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout?.resume();
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`helper did not start: ${stderr}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`helper exited (${code}): ${stderr}`)));
      this.waiting.set(0, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.on('message', (raw) => {
      const m = raw as TRes & { id?: number };
      if (typeof m.id === 'number') {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.(m);
      } else {
        onOther(m);
      }
    });
  }

  call(req: WithoutId<TReq>, timeoutMs = 10_000): Promise<TRes> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply to ${JSON.stringify(req).slice(0, 80)}`)),
        timeoutMs,
      );
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.child.send({ ...req, id });
    });
  }

  async end(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

/** Raw UDP sockets in the client namespace. */
export class RawUdp {
  private readonly queues = new Map<number, Datagram[]>();
  private readonly wakers = new Map<number, () => void>();
  private readonly rpc: Rpc<ToUdp, FromUdp>;

  constructor(
    ns: string,
    private readonly serverIp: string,
  ) {
    this.rpc = new Rpc(spawnNodeInNs(ns, join(here, 'udp-child.ts')), (m) => {
      if (!('datagram' in m)) return;
      const d = m.datagram;
      const q = this.queues.get(d.sock) ?? [];
      q.push({ data: Buffer.from(d.data, 'base64'), address: d.address, port: d.port });
      this.queues.set(d.sock, q);
      this.wakers.get(d.sock)?.();
    });
  }

  ready(): Promise<void> {
    return this.rpc.ready;
  }

  async open(): Promise<number> {
    const r = await this.rpc.call({ cmd: 'open' });
    if (!('ok' in r) || !r.ok || r.sock === undefined) throw new Error('open failed');
    return r.sock;
  }

  async send(sock: number, data: Buffer, port = 69, address = this.serverIp): Promise<void> {
    const r = await this.rpc.call({ cmd: 'send', sock, data: data.toString('base64'), address, port });
    if ('ok' in r && !r.ok) throw new Error(r.error);
  }

  /** The next datagram on `sock`, or undefined after `timeoutMs`. */
  async recv(sock: number, timeoutMs: number): Promise<Datagram | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const q = this.queues.get(sock);
      if (q && q.length > 0) return q.shift();
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakers.set(sock, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.wakers.delete(sock);
    }
    return undefined;
  }

  /** Everything that arrives on `sock` within `ms`. */
  async drain(sock: number, ms: number): Promise<Datagram[]> {
    const out: Datagram[] = [];
    const deadline = Date.now() + ms;
    for (let i = 0; i < 100_000; i++) {
      const d = await this.recv(sock, Math.max(0, deadline - Date.now()));
      if (!d) break;
      out.push(d);
    }
    return out;
  }

  close(): Promise<void> {
    return this.rpc.end();
  }
}

export interface TftpLab {
  pair: VethPair;
  serverIp: string;
  /** Served directory and a scratch directory for client output. */
  root: string;
  out: string;
  events: TftpEvent[];
  startServer(spec?: Partial<ServerSpec>): Promise<void>;
  stats(): Promise<TftpStats>;
  udp(): Promise<RawUdp>;
  /** Runs a command in the client namespace. */
  client(
    cmd: string,
    args: string[],
    timeoutMs?: number,
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function createLab(prefix: string): Promise<TftpLab> {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'vaquero-tftp-'));
  const root = join(dir, 'root');
  const out = join(dir, 'out');
  mkdirSync(root);
  mkdirSync(out);
  const pair = createVethPair({ prefix });
  addAddress(pair.client, pair.clientIf, `${prefix}.2/24`);
  const events: TftpEvent[] = [];
  const helpers: Array<{ end(): Promise<void> }> = [];
  let server: Rpc<ToServer, FromServer> | undefined;
  try {
    server = new Rpc(spawnNodeInNs(pair.server, join(here, 'server-child.ts')), (m) => {
      if ('event' in m) events.push(m.event);
    });
    helpers.push(server);
    await server.ready;
  } catch (err) {
    await Promise.all(helpers.map((h) => h.end()));
    pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const srv = server;
  return {
    pair,
    serverIp: pair.serverIp,
    root,
    out,
    events,
    async startServer(spec = {}) {
      const r = await srv.call({ cmd: 'start', spec: { root, address: pair.serverIp, ...spec } });
      if ('ok' in r && !r.ok) throw new Error(r.error);
    },
    async stats() {
      const r = await srv.call({ cmd: 'stats' });
      if (!('ok' in r) || !r.ok || !r.stats) throw new Error('stats failed');
      return r.stats;
    },
    async udp() {
      const u = new RawUdp(pair.client, pair.serverIp);
      helpers.push({ end: () => u.close() });
      await u.ready();
      return u;
    },
    client(cmd, args, timeoutMs = 30_000) {
      return runInNs(pair.client, cmd, args, { timeoutMs });
    },
    async close() {
      await Promise.all(helpers.map((h) => h.end()));
      pair.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift128), so a failing checksum can be reproduced. */
export function seededBytes(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let a = seed | 0 || 1;
  let b = 0x9e3779b9;
  let c = 0x85ebca6b;
  let d = 0xc2b2ae35;
  const words = Math.floor(size / 4);
  for (let i = 0; i < words; i++) {
    const t = a ^ (a << 11);
    a = b;
    b = c;
    c = d;
    d = d ^ (d >>> 19) ^ (t ^ (t >>> 8));
    buf.writeInt32LE(d | 0, i * 4);
  }
  for (let i = words * 4; i < size; i++) buf[i] = (d >>> ((i % 4) * 8)) & 0xff;
  return buf;
}

export function writeSeeded(path: string, size: number, seed: number): string {
  const data = seededBytes(size, seed);
  writeFileSync(path, data);
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
