// One rollout (`/ui/rollouts/:sot/:revision`): state and reason, progress, the buttons an operate session gets,
// the hosts running now and the most recently finished, the failed hosts with their errors, and its timeline.
// From the rollout workflow itself (ctx.ops.rollout), so it is current when drawn.
import type { RolloutWorkflowProgress } from '../../domain/rollout.ts';
import type { RolloutDetail } from '../fleet-ops.ts';
import { hostLink } from './fleet-page.ts';
import { html } from './html.ts';
import type { Html } from './html.ts';
import { actionButtons, progressBar, progressOf } from './rollout-views.ts';
import type { Session } from './session.ts';

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

function hostLinkOf(key: string): Html {
  const [site, host] = key.split('/');
  return site && host ? html`<a href="${hostLink({ site, host })}">${key}</a>` : html`${key}`;
}

function workflowsSection(ws: RolloutWorkflowProgress[]): Html {
  return html`<section id="workflows">
    <h2>Workflows</h2>
    <table class="workflows">
      <thead>
        <tr>
          <th>Workflow</th>
          <th>Progress</th>
          <th>Policy</th>
        </tr>
      </thead>
      <tbody>
        ${ws.map((w) => {
          const p = w.policy;
          const done = Math.max(0, w.started - w.running - w.failed);
          return html`<tr data-workflow="${w.workflow}">
            <td>${w.workflow}</td>
            <td>
              ${progressBar({ done, running: w.running, failed: w.failed, waiting: Math.max(0, w.planned - w.started), total: w.planned })}
            </td>
            <td class="policy">
              ${p ? html`max_concurrent ${p.max_concurrent} · min_standing ${p.min_standing} · max_fail ${p.max_fail}${p.block_deps.length ? html` · after ${p.block_deps.join(', ')}` : ''}` : ''}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
  </section>`;
}

export function rolloutPage(r: RolloutDetail, session: Session): Html {
  return html`<section id="rollout" data-rollout="${r.id}">
      <h1>Rollout ${r.sot}@${r.revision}</h1>
      <p>
        State
        <strong class="state state-${r.state}" data-state="${r.state}">${r.state}</strong
        >${r.reason ? html` — ${r.reason}` : ''} · workflow ${r.status} · started
        ${r.startedAt}${r.closedAt ? html` · closed ${r.closedAt}` : ''}${r.supersededBy ? html` · superseded by ${r.supersededBy}` : ''}
      </p>
      ${progressBar(progressOf(r.counts, r.total))}
      <p class="plan">
        Plan: ${r.total ?? r.hosts.length} host(s) to reprovision, ${r.unchanged} unchanged, ${r.skipped}
        skipped (never_provision), ${r.removed} removed.
      </p>
      <div class="actions">${actionButtons(session, r, 'rollout')}</div>
    </section>
    ${r.workflows && r.workflows.length > 0 ? workflowsSection(r.workflows) : ''}
    ${
      r.failedHosts && r.failedHosts.length > 0
        ? html`<section>
            <h2>Failed hosts</h2>
            <table class="hosts">
              <thead>
                <tr>
                  <th>Host</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                ${r.failedHosts.map(
                  (f) =>
                    html`<tr>
                      <td>${hostLinkOf(f.host)}</td>
                      <td class="error">${f.error ?? ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </section>`
        : ''
    }
    <section>
      <h2>Hosts</h2>
      <table class="hosts">
        <thead>
          <tr>
            <th>Host</th>
            <th>Workflow</th>
            <th>State</th>
            <th>Started</th>
            <th>Finished</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          ${r.hosts.map(
            (h) =>
              html`<tr>
                <td><a href="${hostLink(h)}">${h.site}/${h.host}</a></td>
                <td>${h.workflow}</td>
                <td class="state state-${h.state}">${h.state}</td>
                <td>${h.startedAt !== undefined ? iso(h.startedAt) : ''}</td>
                <td>${h.finishedAt !== undefined ? iso(h.finishedAt) : ''}</td>
                <td class="error">${h.error ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>
    <section>
      <h2>Timeline</h2>
      <table class="timeline">
        <thead>
          <tr>
            <th>At</th>
            <th>Kind</th>
            <th>Host</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          ${r.timeline.map(
            (e) =>
              html`<tr class="kind-${e.kind}">
                <td>${iso(e.at)}</td>
                <td>${e.kind}</td>
                <td>${e.host ? hostLinkOf(e.host) : ''}</td>
                <td>${e.message}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
}
