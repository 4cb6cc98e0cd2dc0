// Rollout policies that can never finish: a workflow that must keep all its hosts standing never starts one,
// and workflows that wait on each other (block_deps in a cycle) never start at all.
import type { Diagnostic } from './diagnostics.ts';
import type { SotConfiguration, SotModel, WorkflowEntity } from './model.ts';
import { configOf, configurations } from './model.ts';

/**
 * `hostsComplete`: every host document loaded. When some did not, the host counts behind min_standing are
 * unknown and that check is left out rather than guessed.
 */
export function checkPolicies(model: SotModel, hostsComplete: boolean): Diagnostic[] {
  // Each configuration's workflows are policies of their own: count the hosts that use each one.
  return configurations(model).flatMap((config) => [
    ...(hostsComplete ? checkMinStanding(model, config) : []),
    ...checkBlockCycles(config),
  ]);
}

function checkMinStanding(sot: SotModel, model: SotConfiguration): Diagnostic[] {
  const out: Diagnostic[] = [];
  const hosts = sot.hosts.filter((h) => configOf(sot, h) === model);
  // A host whose workflow is misspelt is missing from the count of the one it meant: do not guess.
  if (hosts.some((h) => !model.workflows.has(h.spec.workflow))) return out;
  const counts = new Map<string, number>();
  for (const host of hosts) {
    if (host.spec.never_provision) continue;
    counts.set(host.spec.workflow, (counts.get(host.spec.workflow) ?? 0) + 1);
  }
  for (const wf of model.workflows.values()) {
    const min = wf.spec.policy?.min_standing ?? 0;
    const n = counts.get(wf.id) ?? 0;
    if (n > 0 && min >= n) {
      out.push(
        wf.src.diag(
          ['policy', 'min_standing'],
          `min_standing ${min} keeps every host of workflow ${wf.id} standing (${n} host${n === 1 ? '' : 's'} to reprovision): none can ever start`,
        ),
      );
    }
  }
  return out;
}

/**
 * Depth-first over block_deps, workflows and their deps in a stable order; each edge back into the current
 * path closes a cycle, reported at the block_deps entry of that edge.
 */
function checkBlockCycles(model: SotConfiguration): Diagnostic[] {
  const out: Diagnostic[] = [];
  const state = new Map<WorkflowEntity, 'active' | 'done'>();
  const stack: WorkflowEntity[] = [];
  const visit = (wf: WorkflowEntity): void => {
    state.set(wf, 'active');
    stack.push(wf);
    (wf.spec.policy?.block_deps ?? []).forEach((id, i) => {
      const dep = model.workflows.get(id);
      if (!dep) return; // unknown: reported by the reference checks
      if (state.get(dep) === 'active') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep].map((w) => w.id).join(' -> ');
        const why =
          dep === wf
            ? 'a workflow waiting on itself never starts'
            : 'these workflows wait on each other forever';
        out.push(wf.src.diag(['policy', 'block_deps', i], `block_deps cycle ${cycle}: ${why}`));
      } else if (!state.has(dep)) {
        visit(dep);
      }
    });
    stack.pop();
    state.set(wf, 'done');
  };
  for (const id of [...model.workflows.keys()].sort()) {
    const wf = model.workflows.get(id)!;
    if (!state.has(wf)) visit(wf);
  }
  return out;
}
