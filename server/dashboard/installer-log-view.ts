// The installer log section of a host's page: the newest lines its agents received (syslog and HTTP posts), read
// through the hostInstallerLogs workflow (server/host-logs.ts) when the page is drawn. Asked only of hosts whose
// timeline has a `log` summary (no summary, no lines), and given a few seconds: a slow agent leaves the rest of the
// page as it is, with a note.
import type { HostInstallerLogsResult } from '../../workflows/host-installer-logs.ts';
import { html } from './html.ts';
import type { Html } from './html.ts';

/** Lines drawn on the page (the API gives up to 500). */
export const PAGE_LOG_LINES = 200;

export type InstallerLogView =
  | { kind: 'none' }
  | { kind: 'lines'; result: HostInstallerLogsResult }
  | { kind: 'unavailable'; why: string };

const SEVERITY = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function installerLogSection(v: InstallerLogView): Html {
  if (v.kind === 'none') return html``;
  const body =
    v.kind === 'unavailable'
      ? html`<p class="note">Installer log lines not available now: ${v.why}</p>`
      : html`${v.result.agents
            .filter((a) => a.error !== undefined)
            .map((a) => html`<p class="note">Agent ${a.agent} did not answer: ${a.error}</p>`)}
          <table class="installer-log">
            <thead>
              <tr>
                <th>At (UTC)</th>
                <th>Agent</th>
                <th>Via</th>
                <th>From</th>
                <th>Severity</th>
                <th>App</th>
                <th>Line</th>
              </tr>
            </thead>
            <tbody>
              ${v.result.lines.map(
                (l) =>
                  html`<tr class="log-line${l.severity !== undefined && l.severity <= 3 ? ' error' : ''}">
                    <td>${time(l.at)}</td>
                    <td>${l.agent}</td>
                    <td>${l.transport}</td>
                    <td>${l.from}</td>
                    <td>${l.severity !== undefined ? SEVERITY[l.severity] : ''}</td>
                    <td>${l.app ?? ''}</td>
                    <td>${l.text}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`;
  return html`<section id="installer-log">
    <h2>Installer log</h2>
    ${body}
  </section>`;
}
