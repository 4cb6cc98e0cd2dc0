// Where a lab machine's installed system says it booted (lab/disk-image.ts): an HTTP listener of the lab, not of
// vaquero (an installed OS is no longer vaquero's to serve), on the bridge address at DISK_REPORT_PORT, which the
// installer wrote into the disk's seed. It keeps every `GET /disk-boot?mac=…&cmdline=…` with when and from where.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DISK_REPORT_PORT } from './tiny-initrd.ts';

export interface DiskBootReport {
  /** Epoch ms. */
  at: number;
  /** The sender's address. */
  from: string;
  mac: string;
  /** The installed system's /proc/cmdline. */
  cmdline: string;
}

export interface DiskReports {
  url: string;
  /** Every report so far, in arrival order. */
  reports(): DiskBootReport[];
  stop(): Promise<void>;
}

export async function startDiskReports(address: string, port = DISK_REPORT_PORT): Promise<DiskReports> {
  const got: DiskBootReport[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://lab');
    if (req.method !== 'GET' || url.pathname !== '/disk-boot') {
      res.writeHead(404).end();
      return;
    }
    got.push({
      at: Date.now(),
      from: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      mac: url.searchParams.get('mac') ?? '',
      cmdline: url.searchParams.get('cmdline') ?? '',
    });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    url: `http://${address}:${bound.port}/disk-boot`,
    reports: () => [...got],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
