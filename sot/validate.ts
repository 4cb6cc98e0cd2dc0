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
import { NO_EXTERNALS } from './externals.ts';
import type { SotExternals } from './externals.ts';
import { loadSot } from './load.ts';
import { resolveExternals } from './resolve-externals.ts';
import type { HostEntity, SotModel } from './model.ts';
import { checkPolicies } from './policy-graph.ts';
import { createRenderer } from './render.ts';
import type { Renderer } from './render.ts';

export interface ValidateResult {
  model: SotModel;
  /** Sorted with sortDiagnostics; empty when the SoT is valid. */
  diagnostics: Diagnostic[];
  /** What an operator should know but that does not make the SoT invalid (a release_tag not found). Sorted. */
  warnings: Diagnostic[];
}

export interface ValidateOptions {
  /** How revisions outside the folder are fetched (release_tag, Advanced SoT `config:`); default: none are. */
  externals?: SotExternals;
  /** The name the server serves this SoT as (`sots[].name`): a site whose `sot_id` names another is a warning. */
  sotName?: string;
}

export async function validateSot(dir: string, opts: ValidateOptions = {}): Promise<ValidateResult> {
  const load = await loadSot(dir);
  const resolved = await resolveExternals(load, opts.externals ?? NO_EXTERNALS);
  try {
    const warnings = [...resolved.warnings];
    for (const site of load.model.sites.values()) {
      const id = site.spec.sot_id;
      if (opts.sotName !== undefined && id !== undefined && id !== opts.sotName)
        warnings.push(site.src.diag(['sot_id'], `sot_id "${id}": this SoT is served as "${opts.sotName}"`));
    }
    return { ...checkModel(load.model, load.diagnostics), warnings: sortDiagnostics(warnings) };
  } finally {
    // The model holds every text it needs; the checkouts were read for the reference checks only.
    await resolved.cleanup();
  }
}

function checkModel(
  model: SotModel,
  diagnostics: Diagnostic[],
): { model: SotModel; diagnostics: Diagnostic[] } {
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
