// Starts bench/servers/agent.ts inside a namespace and talks to it over IPC; optionally under `node --cpu-prof`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentServerSpec } from '../servers/agent.ts';
import { startDaemon } from './lab.ts';

const SCRIPT = fileURLToPath(new URL('../servers/agent.ts', import.meta.url));

export interface AgentServer {
  pid: number;
  /** Stops it and returns the counters it reported (services, recorder, outbox, resource usage). */
  stop(): Promise<Record<string, unknown>>;
}

export async function startAgentServer(
  ns: string,
  spec: AgentServerSpec,
  opts: { dir: string; name: string; profileDir?: string; timeoutMs?: number },
): Promise<AgentServer> {
  const specFile = path.join(opts.dir, `${opts.name}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const flags = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
  const d = startDaemon(ns, process.execPath, [...flags, '--import', 'tsx', SCRIPT, specFile], {
    logFile: path.join(opts.dir, `${opts.name}.log`),
    ipc: true,
  });
  let stats: Record<string, unknown> = {};
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent server ${opts.name} not ready (see ${opts.name}.log)`)),
      opts.timeoutMs ?? 30_000,
    );
    d.child.on('message', (m: { ready?: boolean; stats?: Record<string, unknown> }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve();
      }
      if (m.stats) stats = m.stats;
    });
    d.child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`agent server ${opts.name} exited with ${code} before it was ready (see ${opts.name}.log)`),
      );
    });
  });
  try {
    await ready;
  } catch (err) {
    await d.stop(1000);
    throw err;
  }
  return {
    pid: d.pid,
    async stop() {
      if (d.child.connected) {
        const exited = new Promise<void>((r) => d.child.once('exit', () => r()));
        d.child.send({ op: 'stop' });
        // A profile of a busy run takes a moment to write; then the pid is ended if still there.
        const timer = setTimeout(() => void d.stop(1000), 15_000);
        await exited;
        clearTimeout(timer);
      } else {
        await d.stop();
      }
      return stats;
    },
  };
}
