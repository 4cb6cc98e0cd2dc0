// A second agent of the lab's site on the same bridge (README "Agents": two per broadcast domain), run exactly as
// an operator runs one: `node bin/vaquero.js agent --config <file>`, a process of its own inside the lab
// namespace, with a second address on the bridge. Its pid is in the lab's pid files (the config's path names the
// run's directory, so lab/run.ts ends it too should the scenario die first); it can be SIGKILLed and started
// again on the same data_dir, as a crashed agent is.
import type { CodecSettings } from '../temporal/codec/codec-settings.ts';
import { execFileSync, spawn } from 'node:child_process';
import { openSync, closeSync, fstatSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { GateEntry } from '../domain/netboot-gate.ts';

const VAQUERO = fileURLToPath(new URL('../bin/vaquero.js', import.meta.url));

export interface SecondAgentOptions {
  dir: string;
  pidDir: string;
  site: string;
  agentId: string;
  bridge: string;
  /** Its own address on the bridge (added here), e.g. 10.77.56.3, and the bridge's prefix length. */
  address: string;
  prefixLength: number;
  /** The lab stack's Temporal and payload codec (key references). */
  temporal: { address: string; namespace: string; codec: CodecSettings };
  assetsDir: string;
  secretsFile: string;
  /** Serve DHCP (server mode) too; default true. */
  dhcp?: boolean;
  httpPort?: number;
}

export interface SecondAgent {
  id: string;
  url: string;
  dataDir: string;
  log: string;
  /** The pid of the current process (undefined while it is down). */
  pid(): number | undefined;
  /** Every pid it ran as. */
  pids: number[];
  start(): Promise<void>;
  /** SIGKILL, no grace: a crash. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** Its gate cache as it is on disk (data_dir/cache/netboot.json). */
  gates(): Promise<GateEntry[]>;
  /** GET /metrics, parsed: `name{labels}` → value. */
  metrics(): Promise<Record<string, number>>;
  health(): Promise<Record<string, unknown>>;
  /** The HTTP requests it answered, from its access log (every process it ran as), in order. */
  requests(): Promise<AgentRequest[]>;
  /** The messages of its log, in order: of every process it ran as, or of the last one only. */
  messages(last?: boolean): Promise<string[]>;
}

/** One line of an agent's access log (agent/http/app.ts). */
export interface AgentRequest {
  /** Epoch ms of the answer. */
  at: number;
  method: string;
  url: string;
  ip: string;
  status: number;
}

export async function startSecondAgent(o: SecondAgentOptions): Promise<SecondAgent> {
  await mkdir(o.dir, { recursive: true });
  execFileSync('ip', ['addr', 'add', `${o.address}/${o.prefixLength}`, 'dev', o.bridge, 'nodad'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = o.httpPort ?? 8080;
  const url = `http://${o.address}:${port}`;
  const dataDir = path.join(o.dir, 'data');
  const configFile = path.join(o.dir, 'agent.yaml');
  const log = path.join(o.dir, 'agent.log');
  await writeFile(
    configFile,
    stringify({
      agent_id: o.agentId,
      site: o.site,
      data_dir: dataDir,
      temporal: o.temporal,
      interfaces: [{ name: o.bridge, address: o.address, cidr: `${o.address}/${o.prefixLength}` }],
      dhcp: o.dhcp === false ? { enabled: false } : { mode: 'server' },
      // One namespace holds both agents, and TFTP binds 0.0.0.0:69: the first agent serves it (the lab's iPXE
      // ROMs fetch nothing over TFTP).
      tftp: { enabled: false },
      http: { listen: o.address, port, public_url: url },
      assets: { root: o.assetsDir },
      secrets: { file: o.secretsFile },
      log_level: 'info',
    }),
  );
  const pidFile = path.join(o.pidDir, `${o.agentId}.pid`);
  let child: ReturnType<typeof spawn> | undefined;
  /** Where the current process's lines start in its log (each start appends). */
  let logStart = 0;
  let exited: Promise<void> = Promise.resolve();
  const pids: number[] = [];

  const get = async (p: string): Promise<Response> => {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 3_000);
    try {
      return await fetch(`${url}${p}`, { signal: ctl.signal });
    } finally {
      clearTimeout(t);
    }
  };

  const agent: SecondAgent = {
    id: o.agentId,
    url,
    dataDir,
    log,
    pids,
    pid: () => child?.pid,
    async start() {
      if (child) throw new Error(`${o.agentId} is already running`);
      const fd = openSync(log, 'a');
      logStart = fstatSync(fd).size;
      const c = spawn(process.execPath, [VAQUERO, 'agent', '--config', configFile], {
        cwd: path.dirname(path.dirname(VAQUERO)),
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
      });
      closeSync(fd);
      if (c.pid === undefined) throw new Error(`${o.agentId}: cannot start ${VAQUERO}`);
      child = c;
      pids.push(c.pid);
      await writeFile(pidFile, `${c.pid}\n`);
      exited = new Promise<void>((resolve) =>
        c.once('exit', () => {
          if (child === c) child = undefined;
          resolve();
        }),
      );
      // Up once its HTTP answers and its site worker polls (the ready gauge of /metrics).
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (!child)
          throw new Error(`${o.agentId} exited at start: ${(await readFile(log, 'utf8')).slice(-2000)}`);
        const m = await agent.metrics().catch(() => undefined);
        if (m?.['vaquero_agent_worker_connected'] === 1) return;
        if (Date.now() > deadline) throw new Error(`${o.agentId} was not ready within 60 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await exited;
      await rm(pidFile, { force: true });
    },
    async stop() {
      const c = child;
      if (!c) return;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      await rm(pidFile, { force: true });
    },
    async gates() {
      const text = await readFile(path.join(dataDir, 'cache', 'netboot.json'), 'utf8').catch(() => '');
      return text ? ((JSON.parse(text) as { entries?: GateEntry[] }).entries ?? []) : [];
    },
    async metrics() {
      return parseMetrics(await (await get('/metrics')).text());
    },
    async health() {
      return (await (await get('/health')).json()) as Record<string, unknown>;
    },
    async requests() {
      return parseAccessLog(await readFile(log, 'utf8').catch(() => ''));
    },
    async messages(last = false) {
      const text = await readFile(log).catch(() => Buffer.alloc(0));
      return logMessages(text.subarray(last ? logStart : 0).toString('utf8'));
    },
  };
  await agent.start();
  return agent;
}

/** Prometheus text → `name{labels}` → value (comments skipped). */
export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+(?:\{.*\})?)\s+(\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The sum of a metric's series whose labels include every `labels` pair. */
export function metricSum(
  m: Record<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const [k, v] of Object.entries(m)) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([l, x]) => k.includes(`${l}="${x}"`))) sum += v;
  }
  return sum;
}

/** The access log lines (pino JSON, msg "request") of an agent's log; anything else is skipped. */
export function parseAccessLog(text: string): AgentRequest[] {
  const out: AgentRequest[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as Partial<AgentRequest> & { msg?: string; time?: number };
      if (l.msg !== 'request' || typeof l.url !== 'string') continue;
      out.push({
        at: l.time ?? 0,
        method: l.method ?? '',
        url: l.url,
        ip: l.ip ?? '',
        status: l.status ?? 0,
      });
    } catch {
      // A line cut short by the SIGKILL.
    }
  }
  return out;
}

/** The `msg` of every pino JSON line of an agent's log. */
export function logMessages(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const msg = (JSON.parse(line) as { msg?: unknown }).msg;
      if (typeof msg === 'string') out.push(msg);
    } catch {
      // A line cut short by the SIGKILL.
    }
  }
  return out;
}
