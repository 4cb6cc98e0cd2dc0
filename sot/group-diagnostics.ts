// One template typo breaks every host that uses the template: report it once per place and message, naming the
// hosts, instead of once per host (a fleet would print hundreds of identical lines).
import type { Diagnostic } from './diagnostics.ts';

const PER_HOST = /^does not render for host (\S+) (.*)$/s;
/** Host names spelled out before the rest are only counted. */
const NAMED = 5;

export function groupPerHostDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  const groups = new Map<string, { first: Diagnostic; rest: string; hosts: string[] }>();
  const out: Diagnostic[] = [];
  for (const d of diags) {
    const m = PER_HOST.exec(d.message);
    if (!m) {
      out.push(d);
      continue;
    }
    const key = `${d.file}\0${d.line}\0${d.col}\0${m[2]}`;
    const g = groups.get(key);
    if (g) g.hosts.push(m[1]!);
    else groups.set(key, { first: d, rest: m[2]!, hosts: [m[1]!] });
  }
  for (const g of groups.values()) {
    if (g.hosts.length === 1) {
      out.push(g.first);
      continue;
    }
    const named = g.hosts.slice(0, NAMED).join(', ');
    const more = g.hosts.length > NAMED ? `, and ${g.hosts.length - NAMED} more` : '';
    out.push({
      ...g.first,
      message: `does not render for ${g.hosts.length} hosts (${named}${more}) ${g.rest}`,
    });
  }
  return out;
}
