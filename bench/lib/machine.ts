// The machine a run happened on, and the versions of the reference servers and load tools, for the report.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import type { Machine } from './results.ts';

const run = promisify(execFile);

/** Debian packages whose versions name the references and tools a result was measured with. */
const VERSIONED = [
  'dnsmasq-base',
  'tftpd-hpa',
  'nginx-light',
  'kea-admin',
  'kea-dhcp4-server',
  'curl',
  'wrk',
  'ipxe',
  'iproute2',
];

async function packageVersion(name: string): Promise<string | undefined> {
  return run('dpkg-query', ['-W', '-f=${Version}', name]).then(
    (r) => r.stdout.trim() || undefined,
    () => undefined,
  );
}

export async function describeMachine(extra: Record<string, string> = {}): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const release = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  const tools: Record<string, string> = {};
  for (const p of VERSIONED) {
    const v = await packageVersion(p);
    if (v) tools[p] = v;
  }
  return {
    hostname: os.hostname(),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: release,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    tools: { ...tools, ...extra },
  };
}
