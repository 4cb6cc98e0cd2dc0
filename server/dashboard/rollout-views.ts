// Rollout pieces shared by the fleet page and the rollout page: the progress bar (done / running / failed /
// waiting) and the pause / resume / abort buttons, which only operate sessions get.
import { html } from './html.ts';
import type { Html } from './html.ts';
import type { Session } from './session.ts';

export interface Progress {
  done: number;
  running: number;
  failed: number;
  waiting: number;
  total: number;
}

/** From a rollout's per-host counts (RolloutHostState → n). */
export function progressOf(counts: Record<string, number> | undefined, total?: number): Progress {
  const c = counts ?? {};
  const n = (k: string) => c[k] ?? 0;
  const done = n('provisioned') + n('released') + n('skipped');
  const running = n('running');
  const failed = n('failed') + n('cancelled');
  const waiting = n('pending') + n('blocked');
  const sum = done + running + failed + waiting;
  return { done, running, failed, waiting, total: Math.max(total ?? 0, sum) };
}

/** An SVG bar (no inline style, so the page's CSP needs none) with the counts beside it. */
export function progressBar(p: Progress): Html {
  const parts: [keyof Progress, string][] = [
    ['done', 'done'],
    ['running', 'running'],
    ['failed', 'failed'],
    ['waiting', 'waiting'],
  ];
  let x = 0;
  const rects = parts.map(([k, cls]) => {
    const w = p.total > 0 ? (p[k] / p.total) * 100 : 0;
    const r = html`<rect
      class="${cls}"
      x="${x.toFixed(3)}"
      y="0"
      width="${w.toFixed(3)}"
      height="10"
    ></rect>`;
    x += w;
    return r;
  });
  return html`<div class="progress">
    <svg viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="progress">${rects}</svg>
    <span class="counts"
      ><span class="done">${p.done} done</span> · <span class="running">${p.running} running</span> ·
      <span class="failed">${p.failed} failed</span> · <span class="waiting">${p.waiting} waiting</span> of
      ${p.total}</span
    >
  </div>`;
}

/** Which actions a rollout in this state takes. */
export function actionsFor(state: string, status: string): ('pause' | 'resume' | 'abort')[] {
  if (status !== 'running') return [];
  const out: ('pause' | 'resume' | 'abort')[] = [];
  if (state === 'running' || state === 'preparing') out.push('pause');
  if (state === 'paused' || state === 'halted') out.push('resume');
  if (state !== 'aborting') out.push('abort');
  return out;
}

/** Buttons for an operate session; nothing at all for a read one. */
export function actionButtons(
  session: Session,
  rollout: { sot: string; revision: string; state: string; status: string },
  back: 'fleet' | 'rollout',
): Html {
  if (session.principal.role !== 'operate') return html``;
  const base = `/ui/rollouts/${encodeURIComponent(rollout.sot)}/${encodeURIComponent(rollout.revision)}`;
  return html`${actionsFor(rollout.state, rollout.status).map(
    (a) =>
      html`<form method="post" action="${base}/${a}" class="inline">
        <input type="hidden" name="csrf" value="${session.csrf}" /><input
          type="hidden"
          name="back"
          value="${back}"
        /><button type="submit" class="action ${a}" data-action="${a}">
          ${a[0]!.toUpperCase()}${a.slice(1)}
        </button>
      </form>`,
  )}`;
}
