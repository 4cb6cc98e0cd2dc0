// One host (`/ui/hosts/:site/:host`): its stage, time in stage, power attempt and cycles, last error, the rollout
// that owns it, a link to its run in the Temporal UI, and its timeline — every stage change with the boot events
// (DHCP, TFTP, HTTP, checkpoint), power operations, tasks, timeouts and errors that happened in it — and the
// installer's log lines (installer-log-view.ts). From the host workflow itself (ctx.ops.host), so it is current when
// drawn.
import type { HostDetail } from '../fleet-ops.ts';
import { rolloutLink } from './fleet-page.ts';
import { duration, html } from './html.ts';
import type { Html } from './html.ts';
import { installerLogSection } from './installer-log-view.ts';
import type { InstallerLogView } from './installer-log-view.ts';

const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function temporalRunUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
}

function ownerLink(owner: string): Html {
  const m = /^rollout\/([^/]+)\/(.+)$/.exec(owner);
  return m ? html`<a href="${rolloutLink({ sot: m[1]!, revision: m[2]! })}">${owner}</a>` : html`${owner}`;
}

export function hostPage(
  h: HostDetail,
  temporal: { uiUrl?: string; namespace: string },
  installerLog: InstallerLogView = { kind: 'none' },
): Html {
  // Time in each stage: from one stage entry to the next (the last one: until now, or the run's end).
  const end = h.closedAt ? Date.parse(h.closedAt) : Date.now();
  const stageEntries = h.timeline.filter((e) => e.kind === 'stage');
  const lasted = new Map<number, number>();
  stageEntries.forEach((e, i) => lasted.set(e.at, (stageEntries[i + 1]?.at ?? end) - e.at));
  return html`<section id="host" data-host="${h.site}/${h.host}">
      <h1>Host ${h.site}/${h.host}</h1>
      <dl class="facts">
        <dt>State</dt>
        <dd class="state state-${h.state}" data-state="${h.state}">${h.state}</dd>
        <dt>Stage</dt>
        <dd data-stage="${h.stage}">
          ${h.stage} for ${duration(h.secondsInStage * 1000)} (boot stage ${h.bootStage} of ${h.bootStages})
        </dd>
        <dt>Power</dt>
        <dd>attempt ${h.attempt}, ${h.powerCycles} power cycle(s) this run</dd>
        ${
          h.note
            ? html`<dt>Note</dt>
                <dd class="note">${h.note}</dd>`
            : ''
        }
        <dt>Revision</dt>
        <dd>${h.revision}${h.pendingRevision ? html` (next: ${h.pendingRevision})` : ''}</dd>
        ${
          h.owner
            ? html`<dt>Rollout</dt>
                <dd>${ownerLink(h.owner)}</dd>`
            : ''
        }
        ${
          h.lastError
            ? html`<dt>Last error</dt>
                <dd class="error">${h.lastError}</dd>`
            : ''
        }
        <dt>Run</dt>
        <dd>
          ${
            temporal.uiUrl
              ? html`<a
                  class="temporal"
                  href="${temporalRunUrl(temporal.uiUrl, temporal.namespace, h.workflowId, h.runId)}"
                  >${h.workflowId} in the Temporal UI</a
                >`
              : html`${h.workflowId} (${h.runId})`
          }
          · started ${h.startedAt}${h.closedAt ? html` · closed ${h.closedAt}` : ''}
        </dd>
      </dl>
      ${h.source === 'index' ? html`<p class="note">No worker answered for this run: what the index knows, without its timeline.</p>` : ''}
    </section>
    <section>
      <h2>Timeline</h2>
      <table class="timeline">
        <thead>
          <tr>
            <th>At (UTC)</th>
            <th>Boot stage</th>
            <th>Stage</th>
            <th>Kind</th>
            <th>What</th>
            <th>Lasted</th>
          </tr>
        </thead>
        <tbody>
          ${h.timeline.map(
            (e) =>
              html`<tr class="kind-${e.kind}" data-kind="${e.kind}">
                <td>${iso(e.at)}</td>
                <td>${e.bootStage}</td>
                <td>${e.stage}</td>
                <td>${e.kind}</td>
                <td>${e.message}</td>
                <td>${e.kind === 'stage' && lasted.has(e.at) ? duration(lasted.get(e.at)!) : ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>
    ${installerLogSection(installerLog)}`;
}
