// The whole check of a SoT: load it (syntax and shape), then every cross-file rule, then render every host that
// is fully resolved. All problems are collected at once, in a stable order, so one run shows everything to fix.
import { checkDhcpOptions } from './check-dhcp-options.ts';
import { checkHosts } from './check-hosts.ts';
import { checkNetwork } from './check-network.ts';
import { checkReferences } from './check-refs.ts';
import { checkUniqueness } from './check-unique.ts';
import { sortDiagnostics } from './diagnostics.ts';
import { groupPerHostDiagnostics } from './group-diagnostics.ts';
import type { Diagnostic } from './diagnostics.ts';
import { loadSot } from './load.ts';
import type { HostEntity, SotModel } from './model.ts';
import { checkPolicies } from './policy-graph.ts';
import { createRenderer } from './render.ts';
import type { Renderer } from './render.ts';

export interface ValidateResult {
  model: SotModel;
  /** Sorted with sortDiagnostics; empty when the SoT is valid. */
  diagnostics: Diagnostic[];
}

export async function validateSot(dir: string): Promise<ValidateResult> {
  const { model, diagnostics } = await loadSot(dir);
  const hostsComplete = !diagnostics.some(
    (d) => d.file.startsWith('sites/') && !/\/env\.ya?ml$/.test(d.file),
  );
  const refs = checkReferences(model);
  const hosts = checkHosts(model);
  diagnostics.push(
    ...refs.diagnostics,
    ...checkUniqueness(model),
    ...checkNetwork(model),
    ...checkDhcpOptions(model),
    ...hosts.diagnostics,
    ...checkPolicies(model, hostsComplete),
  );
  // Hosts already known not to resolve or boot would only repeat those problems as render errors.
  const renderer = createRenderer(model);
  for (const host of model.hosts) {
    if (refs.unresolved.has(host) || hosts.unbootable.has(host)) continue;
    diagnostics.push(...renderHost(renderer, host));
  }
  return { model, diagnostics: sortDiagnostics(groupPerHostDiagnostics(diagnostics)) };
}

/** The renderer turns bad content into diagnostics; a throw would be its bug, but must not hide the others. */
function renderHost(renderer: Renderer, host: HostEntity): Diagnostic[] {
  try {
    return renderer.renderHost(host).diagnostics;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return [host.src.diag(['name'], `rendering host ${host.id} failed unexpectedly: ${msg}`)];
  }
}
