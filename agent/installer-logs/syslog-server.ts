// The agent's syslog receiver (UDP, port 514 by default): each datagram's lines go to the intake, which matches the
// sender's address to its host. Datagrams are never answered, so a spoofed source gets nothing back; one bigger than
// a syslog message can usefully be (RFC 5424 asks receivers for 480 bytes at least, we read 8 KB) is cut there.
import dgram from 'node:dgram';
import type { InstallerLogIntake } from './log-intake.ts';
import { parseSyslogDatagram } from './syslog-message.ts';

/** Bytes of a datagram read; the rest is ignored (the parser cuts each line shorter still). */
const MAX_DATAGRAM_READ = 8 * 1024;

export interface SyslogServerOptions {
  address: string;
  port: number;
  intake: InstallerLogIntake;
  warn: (msg: string) => void;
}

export interface SyslogServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The port it listens on (the one asked for, or the kernel's choice for 0). */
  port(): number;
  stats(): { datagrams: number; oversized: number; unparsed: number };
}

export function createSyslogServer(opts: SyslogServerOptions): SyslogServer {
  let socket: dgram.Socket | undefined;
  const counts = { datagrams: 0, oversized: 0, unparsed: 0 };
  return {
    async start() {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      s.on('message', (msg, rinfo) => {
        counts.datagrams++;
        let data = msg;
        if (data.length > MAX_DATAGRAM_READ) {
          counts.oversized++;
          data = data.subarray(0, MAX_DATAGRAM_READ);
        }
        const lines = parseSyslogDatagram(data);
        if (lines.length === 0) counts.unparsed++;
        void opts.intake.fromAddress(rinfo.address, lines).catch((err: unknown) => opts.warn(String(err)));
      });
      s.on('error', (err) => opts.warn(`syslog socket: ${err.message}`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: opts.address, port: opts.port }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      socket = s;
    },
    async stop() {
      const s = socket;
      socket = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    port: () => socket?.address().port ?? opts.port,
    stats: () => ({ ...counts }),
  };
}
