// A real stack for workflow tests: an embedded Temporal dev server (headless, free ports, its own temp data
// dir), the control worker, and sim site workers started per test with small sim delays.
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';
import type { Client } from '@temporalio/client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ZERO_DELAYS } from '../sim/sim-delays.ts';
import type { SimDelays } from '../sim/sim-delays.ts';
import { connectTemporal } from '../temporal/connection.ts';
import type { TemporalConnection } from '../temporal/connection.ts';
import type { DevServerPorts } from '../temporal/dev-server.ts';
import { freePort } from '../temporal/ports.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';
import { startWorkerStack } from '../workers/stack.ts';
import type { WorkerStack } from '../workers/stack.ts';
import type { SimSite } from '../sim/sim-site.ts';

/** Small but non-zero: boot events of one host arrive in order, and a whole host takes well under a second. */
export const FAST_SIM_DELAYS: SimDelays = {
  ...ZERO_DELAYS,
  bmc: 5,
  dhcp: 30,
  tftp: 30,
  ipxe: 30,
  kernel: 30,
  initrd: 30,
  config: 30,
  checkpoint: 40,
  task: 20,
};

export interface TestStack {
  temporal: TemporalConnection;
  client: Client;
  /** host:port of the dev server's frontend. */
  address: string;
  namespace: string;
  /** The payload codec every client and worker of the stack uses (key references; the key is in the data dir). */
  codec: CodecSettings;
  /** Data dir shared by the control worker (revision store) and sim sites (power log); the server's is below it. */
  dataDir: string;
  /** The in-process control worker, if started. */
  control?: WorkerStack;
  /** Starts a sim site worker (site-<site>) in this process; stopped by close() or by the returned stop(). */
  /** `agents`: the site's agent ids when the SoT lists several (the sim site serves their queues too). */
  startSimSite(
    site: string,
    delays?: Partial<SimDelays>,
    agents?: string[],
  ): Promise<SimSite & { stop(): Promise<void> }>;
  /** Stops every worker, the server, and removes the data dir. Idempotent. */
  close(): Promise<void>;
}

export interface TestStackOptions {
  /** Run the control worker in this process (default true). */
  control?: boolean;
  /** Data dir prefix, for debugging. */
  name?: string;
  log?: (msg: string) => void;
  /** The payload codec (default: a key made in the stack's data dir, as `vaquero dev` does; `{ off: true }` to compare). */
  codec?: CodecSettings;
  /** Extra dynamic config of the embedded Temporal server. */
  dynamicConfig?: Readonly<Record<string, unknown>>;
}

export async function freeServerPorts(): Promise<Required<Omit<DevServerPorts, 'ui'>> & { ui: number }> {
  const seen = new Set<number>();
  const next = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!seen.has(p)) {
        seen.add(p);
        return p;
      }
    }
  };
  return { grpc: await next(), http: await next(), metrics: await next(), ui: await next() };
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `vaq-${opts.name ?? 'wf'}-`));
  const log = opts.log ?? (() => undefined);
  let temporal: TemporalConnection | undefined;
  const stacks: WorkerStack[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const s of stacks.reverse()) await s.stop().catch(() => undefined);
      await temporal?.close().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return closing;
  };
  // Before the first native connection, which would otherwise install the SDK's chatty default runtime.
  installQuietRuntime();
  try {
    temporal = await connectTemporal({
      dataDir: path.join(dataDir, 'temporal'),
      ui: false,
      ports: await freeServerPorts(),
      // Always our own server, even when the caller's environment points at another one.
      env: { ...process.env, TEMPORAL_ADDRESS: '' },
      log,
      ...(opts.codec !== undefined ? { codec: opts.codec } : {}),
      ...(opts.dynamicConfig !== undefined ? { dynamicConfig: opts.dynamicConfig } : {}),
    });
    const t = temporal;
    const native = await t.nativeConnection();
    let control: WorkerStack | undefined;
    if (opts.control !== false) {
      control = await startWorkerStack({
        connection: native,
        client: t.client,
        dataConverter: t.dataConverter,
        namespace: t.namespace,
        dataDir,
        control: true,
        simSites: [],
        simDelays: FAST_SIM_DELAYS,
        log,
      });
      stacks.push(control);
    }
    return {
      temporal: t,
      client: t.client,
      address: t.address,
      namespace: t.namespace,
      codec: t.codec.settings,
      dataDir,
      ...(control !== undefined ? { control } : {}),
      async startSimSite(site, delays, agents) {
        const s = await startWorkerStack({
          connection: native,
          client: t.client,
          dataConverter: t.dataConverter,
          namespace: t.namespace,
          dataDir,
          control: false,
          simSites: [site],
          simDelays: { ...FAST_SIM_DELAYS, ...delays },
          ...(agents ? { simSiteAgents: { [site]: agents } } : {}),
          log,
        });
        stacks.push(s);
        return { ...s.sims.get(site)!, stop: () => s.stop() };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
