// An agent as the product starts it (startAgent(loadAgentConfig(file)), in metrics-agent-child.ts), run in a network
// namespace as a child process, driven over IPC: its log lines, HTTP GETs on its own loopback, site models and gates
// put into its cache, and a stop. Shared by the tests that need an agent on a namespace's segment.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNodeInNs } from '../../../testkit/netns.ts';
import type { FromMetricsChild, ToMetricsChild } from './metrics-agent-child.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface NsAgent {
  logs: Record<string, unknown>[];
  call(req: WithoutId<ToMetricsChild>): Promise<Extract<FromMetricsChild, { id: number }>>;
  get(p: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

export async function startNsAgent(ns: string, configFile: string): Promise<NsAgent> {
  const child = spawnNodeInNs(ns, path.join(here, 'metrics-agent-child.ts'), [configFile]);
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  child.stdout?.resume();
  const logs: Record<string, unknown>[] = [];
  const waiting = new Map<number, (m: Extract<FromMetricsChild, { id: number }>) => void>();
  let nextId = 1;
  const started = new Promise<void>((resolve, reject) => {
    child.on('message', (raw) => {
      const m = raw as FromMetricsChild;
      if ('log' in m) logs.push(JSON.parse(m.log) as Record<string, unknown>);
      else if ('started' in m) resolve();
      else if ('failed' in m) reject(new Error(`agent did not start: ${m.failed}`));
      else {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
    child.once('exit', (code) => reject(new Error(`agent exited (${code}): ${stderr}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await started;
  } finally {
    clearTimeout(timer);
  }
  const call: NsAgent['call'] = (req) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => reject(new Error(`no answer to ${req.op}: ${stderr}`)), 30_000);
      waiting.set(id, (m) => {
        clearTimeout(t);
        if (m.ok) resolve(m);
        else reject(new Error(m.error));
      });
      child.send({ ...req, id });
    });
  return {
    logs,
    call,
    async get(p) {
      const r = (await call({ op: 'get', path: p })) as { status: number; body: string };
      return { status: r.status, body: r.body };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await call({ op: 'stop' }).catch(() => undefined);
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(kill);
    },
  };
}
