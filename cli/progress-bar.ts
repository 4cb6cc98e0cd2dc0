// A progress bar for a rollout followed through the server: one line redrawn in place on a terminal (failures
// printed above it as they happen), one line per change otherwise (logs, CI).
import type { ApiClient } from './server-client.ts';
import { rolloutPath } from './server-client.ts';

export interface RolloutView {
  id: string;
  state: string;
  reason?: string;
  counts: Record<string, number>;
  unchanged: number;
  skipped: number;
  hosts: { site: string; host: string; state: string; error?: string }[];
}

const FINAL = new Set(['completed', 'failed', 'aborted', 'superseded']);

/** `[####xx>>......] 6/14 provisioned, 2 failed, 2 running, 4 pending  running` */
export function renderBar(v: Pick<RolloutView, 'state' | 'counts'>, width = 30): string {
  const c = (k: string) => v.counts[k] ?? 0;
  const total = Object.values(v.counts).reduce((a, b) => a + b, 0);
  const cells = (n: number) => (total === 0 ? 0 : Math.round((n / total) * width));
  const ok = cells(c('provisioned') + c('released') + c('skipped'));
  const bad = Math.min(width - ok, cells(c('failed') + c('cancelled') + c('blocked')));
  const run = Math.min(width - ok - bad, cells(c('running')));
  const bar = '#'.repeat(ok) + 'x'.repeat(bad) + '>'.repeat(run) + '.'.repeat(width - ok - bad - run);
  const parts = [`${c('provisioned')}/${total} provisioned`];
  if (c('failed')) parts.push(`${c('failed')} failed`);
  if (c('running')) parts.push(`${c('running')} running`);
  if (c('pending') + c('blocked')) parts.push(`${c('pending') + c('blocked')} pending`);
  if (c('cancelled')) parts.push(`${c('cancelled')} cancelled`);
  return `[${bar}] ${parts.join(', ')}  ${v.state}`;
}

export async function followWithBar(
  api: ApiClient,
  id: string,
  opts: { write?: (s: string) => void; tty?: boolean; intervalMs?: number; timeoutMs?: number } = {},
): Promise<RolloutView> {
  const write = opts.write ?? ((s: string) => process.stdout.write(s));
  const tty = opts.tty ?? process.stdout.isTTY === true;
  const started = Date.now();
  const reported = new Set<string>();
  let last = '';
  for (;;) {
    const v = await api.get<RolloutView>(rolloutPath(id));
    for (const h of v.hosts) {
      const key = `${h.site}/${h.host}`;
      if ((h.state === 'failed' || h.state === 'cancelled') && !reported.has(key)) {
        reported.add(key);
        const line = `  ${key} ${h.state}${h.error ? `: ${h.error.split('\n')[0]}` : ''}`;
        write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
        last = '';
      }
    }
    const bar = renderBar(v);
    if (bar !== last) {
      write(tty ? `\r\x1b[2K${bar}` : `${bar}\n`);
      last = bar;
    }
    if (FINAL.has(v.state)) {
      if (tty) write('\n');
      return v;
    }
    if (opts.timeoutMs && Date.now() - started > opts.timeoutMs) {
      if (tty) write('\n');
      throw new Error(`gave up following ${id} after ${opts.timeoutMs / 1000}s (it goes on)`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}
