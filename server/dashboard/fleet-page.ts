// The fleet at a glance (`/`): rollouts with their progress, hosts per site × stage, the hosts that need attention
// (failed first, then the running ones longest in their stage), and one filtered page of hosts. Everything comes
// from this replica's index, so a page costs a pass over it, whatever the fleet's size; the host table shows one
// page at a time.
import { HOST_STAGES } from '../../domain/host-stages.ts';
import type { FleetIndex, HostRow } from '../fleet-index.ts';
import { decodeCursor } from '../fleet-index.ts';
import { duration, html } from './html.ts';
import type { Html } from './html.ts';
import { actionButtons, progressBar, progressOf } from './rollout-views.ts';
import type { Session } from './session.ts';

export interface FleetQuery {
  site?: string;
  stage?: string;
  state?: string;
  cursor?: string;
  limit?: number;
}

const ATTENTION = 20;
const ROLLOUTS = 10;
const FAILED_STATES = new Set(['failed', 'timed_out', 'terminated']);

export const hostLink = (h: { site: string; host: string }): string =>
  `/ui/hosts/${encodeURIComponent(h.site)}/${encodeURIComponent(h.host)}`;

export const rolloutLink = (r: { sot: string; revision: string }): string =>
  `/ui/rollouts/${encodeURIComponent(r.sot)}/${encodeURIComponent(r.revision)}`;

function fleetLink(q: FleetQuery): string {
  const p = new URLSearchParams();
  for (const k of ['site', 'stage', 'state', 'cursor'] as const) if (q[k]) p.set(k, q[k]);
  const s = p.toString();
  return s ? `/?${s}` : '/';
}

function rolloutsSection(index: FleetIndex, session: Session): Html {
  const rollouts = index.listRollouts().slice(0, ROLLOUTS);
  if (rollouts.length === 0)
    return html`<section id="rollouts">
      <h2>Rollouts</h2>
      <p>No rollouts yet.</p>
    </section>`;
  return html`<section id="rollouts">
    <h2>Rollouts</h2>
    <table class="rollouts">
      <thead>
        <tr>
          <th>Rollout</th>
          <th>State</th>
          <th>Progress</th>
          <th>Started</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${rollouts.map(
          (r) =>
            html`<tr data-rollout="${r.id}">
              <td><a href="${rolloutLink(r)}">${r.sot}@${r.revision.slice(0, 12)}</a></td>
              <td class="state state-${r.state}" data-state="${r.state}">${r.state}</td>
              <td>${progressBar(progressOf(r.counts, r.total))}</td>
              <td>
                <time datetime="${new Date(r.startedAt).toISOString()}"
                  >${new Date(r.startedAt).toISOString().slice(0, 19).replace('T', ' ')}</time
                >
              </td>
              <td class="actions">${actionButtons(session, r, 'fleet')}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function matrixSection(index: FleetIndex): Html {
  const sites = index.sites();
  const stages = HOST_STAGES.filter((st) => sites.some((s) => (s.byStage[st] ?? 0) > 0));
  if (sites.length === 0)
    return html`<section id="matrix">
      <h2>Hosts</h2>
      <p>No host has been reprovisioned yet.</p>
    </section>`;
  return html`<section id="matrix">
    <h2>Hosts per site and stage</h2>
    <table class="matrix">
      <thead>
        <tr>
          <th>Site</th>
          <th>Hosts</th>
          ${stages.map((st) => html`<th>${st}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${sites.map(
          (s) =>
            html`<tr>
              <th><a href="${fleetLink({ site: s.site })}">${s.site}</a></th>
              <td>${s.hosts}</td>
              ${stages.map((st) => {
                const n = s.byStage[st] ?? 0;
                return html`<td class="n${n ? '' : ' zero'}">
                  ${n ? html`<a href="${fleetLink({ site: s.site, stage: st })}">${n}</a>` : '·'}
                </td>`;
              })}
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/**
 * What the sites' agents report about their segments (GET /sites `agents`): shown only when one of them has an
 * alert — another DHCP server answering, or in proxy mode the site's DHCP server missing — which stops hosts from
 * booting as planned.
 */
function segmentsSection(index: FleetIndex): Html {
  const rows = index
    .siteStatuses()
    .flatMap((s) => s.agents.flatMap((a) => a.alerts.map((alert) => ({ site: s.site, agent: a, alert }))));
  if (rows.length === 0) return html``;
  return html`<section id="segments">
    <h2>Site networks</h2>
    <table class="segments">
      <thead>
        <tr>
          <th>Site</th>
          <th>Agent</th>
          <th>DHCP</th>
          <th>Alert</th>
          <th>Reported</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr class="alert" data-agent="${r.site}/${r.agent.agent}">
              <th><a href="${fleetLink({ site: r.site })}">${r.site}</a></th>
              <td>${r.agent.agent}</td>
              <td>${r.agent.dhcp?.mode ?? 'off'}</td>
              <td>${r.alert}</td>
              <td>${r.agent.reportedAt}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** Failed hosts first (newest failure first), then running hosts longest in their stage. */
export function attentionHosts(index: FleetIndex, limit: number): HostRow[] {
  const failed: HostRow[] = [];
  const running: HostRow[] = [];
  for (const h of index.allHosts()) {
    if (FAILED_STATES.has(h.state)) failed.push(h);
    else if (h.state === 'running') running.push(h);
  }
  failed.sort((a, b) => (b.closedMs ?? b.stageSinceMs) - (a.closedMs ?? a.stageSinceMs));
  running.sort((a, b) => a.stageSinceMs - b.stageSinceMs);
  return [...failed, ...running].slice(0, limit);
}

function hostRows(hosts: HostRow[], now: number): Html {
  return html`${hosts.map(
    (h) =>
      html`<tr data-host="${h.site}/${h.host}">
        <td><a href="${hostLink(h)}">${h.site}/${h.host}</a></td>
        <td>${h.stage}</td>
        <td class="state state-${h.state}">${h.state}</td>
        <td>${duration((h.closedMs ?? now) - h.stageSinceMs)}</td>
        <td>${h.revision.slice(0, 12)}</td>
      </tr>`,
  )}`;
}

const HOST_HEAD = html`<thead>
  <tr>
    <th>Host</th>
    <th>Stage</th>
    <th>State</th>
    <th>In stage</th>
    <th>Revision</th>
  </tr>
</thead>`;

function attentionSection(index: FleetIndex, now: number): Html {
  const hosts = attentionHosts(index, ATTENTION);
  if (hosts.length === 0) return html``;
  return html`<section id="attention">
    <h2>Failing and stalled</h2>
    <table class="hosts">
      ${HOST_HEAD}
      <tbody>
        ${hostRows(hosts, now)}
      </tbody>
    </table>
  </section>`;
}

function option(value: string, selected: string | undefined): Html {
  return html`<option value="${value}" ${value === selected ? html` selected` : ''}>${value}</option>`;
}

function hostsSection(index: FleetIndex, q: FleetQuery, now: number): Html {
  const cursor = q.cursor !== undefined ? decodeCursor(q.cursor) : undefined;
  const filter = {
    ...(q.site ? { site: q.site } : {}),
    ...(q.stage ? { stage: q.stage } : {}),
    ...(q.state ? { state: q.state } : {}),
  };
  const page = index.listHosts(filter, q.limit ?? 100, cursor);
  const sites = index.sites().map((s) => s.site);
  return html`<section id="hosts">
    <h2>Hosts <span class="total">${page.total} matching</span></h2>
    <form method="get" action="/" class="filters">
      <label
        >Site
        <select name="site">
          <option value="">all</option>
          ${sites.map((s) => option(s, q.site))}
        </select></label
      >
      <label
        >Stage
        <select name="stage">
          <option value="">all</option>
          ${HOST_STAGES.map((s) => option(s, q.stage))}
        </select></label
      >
      <label
        >State
        <select name="state">
          <option value="">all</option>
          ${['running', 'provisioned', 'failed', 'cancelled', 'terminated', 'timed_out'].map((s) => option(s, q.state))}
        </select></label
      >
      <button type="submit">Filter</button>
    </form>
    <table class="hosts">
      ${HOST_HEAD}
      <tbody>
        ${hostRows(page.hosts, now)}
      </tbody>
    </table>
    <nav class="pages">
      ${q.cursor ? html`<a href="${fleetLink({ ...q, cursor: '' })}">First page</a>` : ''}
      ${page.nextCursor ? html`<a rel="next" href="${fleetLink({ ...q, cursor: page.nextCursor })}">Next page</a>` : ''}
    </nav>
  </section>`;
}

export function fleetPage(index: FleetIndex, session: Session, q: FleetQuery): Html {
  const now = Date.now();
  if (!index.synced) return html`<p>The host index is still loading.</p>`;
  return html`${rolloutsSection(index, session)} ${segmentsSection(index)} ${attentionSection(index, now)}
  ${matrixSection(index)} ${hostsSection(index, q, now)}`;
}
