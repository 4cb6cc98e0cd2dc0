// Fills an agent's on-disk model cache directly (the files ModelCache.load() reads), because setting thousands
// of gates one by one through the cache would rewrite the whole gate file each time.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CheckpointTokens } from '../../agent/checkpoint-token.ts';
import type { GateEntry } from '../../domain/netboot-gate.ts';
import type { AgentSubnet, BootArtifacts, Reservation, SiteModel } from '../../domain/site-model.ts';

export interface CacheHost {
  host: string;
  mac: string;
  ipv4?: string;
  artifacts?: BootArtifacts;
}

/** The benchmark agent's key (in its data dir, as a real agent keeps it), so the runner can compute what its DHCP gives. */
const BENCH_AGENT_KEY = Buffer.alloc(32, 0x42);

/** The boot credential the agent's DHCP would put in `h`'s script URL: what a host fetching from elsewhere shows. */
export function benchBootCredential(h: Pick<CacheHost, 'host' | 'mac'>): string {
  return new CheckpointTokens(BENCH_AGENT_KEY).bootCredential({
    workflowId: `host/bench/${h.host}`,
    runId: `run-${h.host}`,
    bootStage: 1,
    mac: h.mac,
  });
}

/** Every host gets a reservation and an open gate at boot stage 1 (all of them are being reprovisioned). */
export function fillModelCache(
  dataDir: string,
  opts: { httpUrl: string; subnet: AgentSubnet; hosts: CacheHost[] },
): void {
  const dir = path.join(dataDir, 'cache');
  mkdirSync(dir, { recursive: true });
  const reservations: Reservation[] = opts.hosts.map((h) => ({
    host: h.host,
    mac: h.mac,
    ...(h.ipv4 !== undefined ? { ipv4: h.ipv4 } : {}),
    hostname: h.host,
    subnet: opts.subnet.id,
  }));
  const model: SiteModel = {
    sot: 'bench',
    revision: 'bench-r1',
    site: 'bench',
    httpUrl: opts.httpUrl,
    dhcpMode: 'server',
    subnets: [opts.subnet],
    reservations,
  };
  const now = Date.now();
  const entries: GateEntry[] = opts.hosts.map((h) => ({
    site: 'bench',
    host: h.host,
    mac: h.mac,
    sot: 'bench',
    revision: 'bench-r1',
    fingerprint: 'sha256:bench',
    bootStage: 1,
    hasConfig: !!h.artifacts?.config,
    open: true,
    workflowId: `host/bench/${h.host}`,
    runId: `run-${h.host}`,
    ...(h.ipv4 !== undefined ? { ipv4: h.ipv4 } : {}),
    subnet: opts.subnet.id,
    hostname: h.host,
    ...(h.artifacts !== undefined ? { artifacts: h.artifacts } : {}),
    updatedAt: now,
  }));
  writeFileSync(path.join(dataDir, 'checkpoint.key'), BENCH_AGENT_KEY.toString('hex') + '\n', {
    mode: 0o600,
  });
  writeFileSync(path.join(dir, 'site-model.json'), JSON.stringify(model));
  writeFileSync(path.join(dir, 'netboot.json'), JSON.stringify({ entries }));
}
