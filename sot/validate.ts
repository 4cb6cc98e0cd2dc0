// The whole check of a SoT: load it (syntax and shape), then every cross-file rule, then render every host that
// is fully resolved. All problems are collected at once, in a stable order, so one run shows everything to fix.
import { checkDhcpOptions } from './check-dhcp-options.ts';
import { checkHosts } from './check-hosts.ts';
import { checkNetwork } from './check-network.ts';
import { checkReferences } from './check-refs.ts';
import { checkUniqueness } from './check-unique.ts';
import { sortDiagnostics } from './diagnostics.ts';
import type { Diagnostic } from './diagnostics.ts';
import { loadSot } from './load.ts';
import type { SotModel } from './model.ts';
import { checkPolicies } from './policy-graph.ts';

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
  diagnostics.push(
    ...refs.diagnostics,
    ...checkUniqueness(model),
    ...checkNetwork(model),
    ...checkDhcpOptions(model),
    ...checkHosts(model),
    ...checkPolicies(model, hostsComplete),
  );
  return { model, diagnostics: sortDiagnostics(diagnostics) };
}
