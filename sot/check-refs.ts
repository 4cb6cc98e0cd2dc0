// Every name a SoT entity uses must resolve: host -> workflow -> boots -> os and template -> snippets, host and
// agent -> subnets of their site, workflow -> block_deps and validate_on. Unused entities are fine and stay unmentioned.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from './diagnostics.ts';
import { findIncludes } from './liquid-includes.ts';
import type { IncludeRef } from './liquid-includes.ts';
import type { Asset, BootEntity, HostEntity, SotConfiguration, SotModel, WorkflowEntity } from './model.ts';
import { assetKey, configOf, configurations } from './model.ts';
import type { AssetType } from './schema.ts';
import { didYouMean } from './suggest.ts';

export interface RefCheck {
  diagnostics: Diagnostic[];
  /** Hosts that use something missing or broken: rendering them would only repeat those errors. */
  unresolved: Set<HostEntity>;
}

export function checkReferences(model: SotModel): RefCheck {
  const diagnostics: Diagnostic[] = [];
  const brokenWorkflows = new Set<WorkflowEntity>();
  // Each configuration (the SoT's own, a release tag's, an Advanced SoT cluster's) resolves within itself.
  for (const config of configurations(model)) {
    const brokenAssets = checkIncludes(config, diagnostics);
    const brokenBoots = new Set<BootEntity>();
    for (const boot of config.boots.values()) {
      if (!checkBoot(config, boot, brokenAssets, diagnostics)) brokenBoots.add(boot);
    }
    for (const wf of config.workflows.values()) {
      if (!checkWorkflow(config, wf, brokenBoots, diagnostics)) brokenWorkflows.add(wf);
    }
  }
  checkAgentSubnets(model, diagnostics);
  const unresolved = new Set<HostEntity>();
  for (const host of model.hosts) {
    if (!checkHost(model, host, brokenWorkflows, diagnostics)) unresolved.add(host);
  }
  return { diagnostics, unresolved };
}

/**
 * The file for `id` exists but is not in the model: the loader has reported why, and "unknown" would be both
 * wrong and noise.
 */
function failedToLoad(model: SotConfiguration, dir: 'os' | 'boot' | 'workflows', id: string): boolean {
  return ['.yml', '.yaml'].some((ext) => existsSync(path.join(model.root, dir, id + ext)));
}

function checkBoot(
  model: SotConfiguration,
  boot: BootEntity,
  brokenAssets: Set<Asset>,
  out: Diagnostic[],
): boolean {
  let ok = true;
  const { os, unattended } = boot.spec;
  if (!model.os.has(os)) {
    if (!failedToLoad(model, 'os', os)) {
      out.push(boot.src.diag(['os'], `unknown OS "${os}"${didYouMean(os, model.os.keys())}`));
    }
    ok = false;
  }
  if (unattended) {
    const { type, template } = unattended;
    const asset = model.assets.get(assetKey(type, template));
    const at = ['unattended', 'template'];
    if (asset && !asset.snippet) {
      if (brokenAssets.has(asset)) ok = false;
    } else if (asset || template.startsWith('snippets/')) {
      out.push(
        boot.src.diag(at, `"${template}" is a snippet, not a template: snippets are only for {% include %}`),
      );
      ok = false;
    } else {
      out.push(
        boot.src.diag(at, `unknown ${type} template "${template}"${templateHint(model, type, template)}`),
      );
      ok = false;
    }
  }
  return ok;
}

/** A close name of the same type, or the same file under another type (a wrong `type:` is a common slip). */
function templateHint(model: SotConfiguration, type: AssetType, template: string): string {
  const sameType = [...model.assets.values()].filter((a) => a.type === type && !a.snippet).map((a) => a.name);
  const hint = didYouMean(template, sameType);
  if (hint) return hint;
  const other = [...model.assets.values()].find((a) => !a.snippet && a.name === template);
  return other ? ` (there is ${other.file}: is the type "${other.type}"?)` : '';
}

function checkWorkflow(
  model: SotConfiguration,
  wf: WorkflowEntity,
  brokenBoots: Set<BootEntity>,
  out: Diagnostic[],
): boolean {
  let ok = true;
  wf.spec.boots.forEach((id, i) => {
    const boot = model.boots.get(id);
    if (!boot) {
      if (!failedToLoad(model, 'boot', id)) {
        out.push(wf.src.diag(['boots', i], `unknown boot "${id}"${didYouMean(id, model.boots.keys())}`));
      }
      ok = false;
    } else if (brokenBoots.has(boot)) {
      ok = false;
    }
  });
  // A missing dependency does not stop the workflow's hosts from rendering, only the rollout from planning.
  wf.spec.policy?.block_deps?.forEach((id, i) => {
    if (!model.workflows.has(id) && !failedToLoad(model, 'workflows', id)) {
      out.push(
        wf.src.diag(
          ['policy', 'block_deps', i],
          `unknown workflow "${id}"${didYouMean(id, model.workflows.keys())}`,
        ),
      );
    }
  });
  // Like block_deps, a wrong name only stops the re-validation it asks for. Cycles are fine: a change re-validates
  // the hosts of the workflows listing the changed one, once, and a re-validation is no change of its own.
  wf.spec.policy?.validate_on?.forEach((id, i) => {
    const at = ['policy', 'validate_on', i];
    if (id === wf.id) {
      out.push(
        wf.src.diag(at, `workflow ${wf.id} lists itself: its own changes reprovision its hosts already`),
      );
    } else if (!model.workflows.has(id) && !failedToLoad(model, 'workflows', id)) {
      out.push(wf.src.diag(at, `unknown workflow "${id}"${didYouMean(id, model.workflows.keys())}`));
    }
  });
  return ok;
}

function checkAgentSubnets(model: SotModel, out: Diagnostic[]): void {
  for (const site of model.sites.values()) {
    const subnets = site.spec.subnets.map((s) => s.id);
    site.spec.agents.forEach((agent, a) => {
      agent.subnets?.forEach((id, i) => {
        if (!subnets.includes(id)) {
          out.push(
            site.src.diag(
              ['agents', a, 'subnets', i],
              `unknown subnet "${id}" in site ${site.id}${didYouMean(id, subnets)}`,
            ),
          );
        }
      });
    });
  }
}

function checkHost(
  model: SotModel,
  host: HostEntity,
  brokenWorkflows: Set<WorkflowEntity>,
  out: Diagnostic[],
): boolean {
  let ok = true;
  const { workflow } = host.spec;
  const config = configOf(model, host);
  const wf = config.workflows.get(workflow);
  if (!wf) {
    if (!failedToLoad(config, 'workflows', workflow)) {
      const where = config === model ? '' : ` in the configuration ${configLabel(config)}`;
      out.push(
        host.src.diag(
          ['workflow'],
          `unknown workflow "${workflow}"${where}${didYouMean(workflow, config.workflows.keys())}`,
        ),
      );
    }
    ok = false;
  } else if (brokenWorkflows.has(wf)) {
    ok = false;
  }
  // Without a (valid) env.yml the loader has already said so; the host's subnets cannot be judged.
  const site = model.sites.get(host.site);
  if (!site) return false;
  const subnets = site.spec.subnets.map((s) => s.id);
  host.spec.interfaces.forEach((iface, i) => {
    if (iface.subnet !== undefined && !subnets.includes(iface.subnet)) {
      out.push(
        host.src.diag(
          ['interfaces', i, 'subnet'],
          `unknown subnet "${iface.subnet}" in site ${site.id}${didYouMean(iface.subnet, subnets)}`,
        ),
      );
      ok = false;
    }
  });
  return ok;
}

/** How a configuration other than the SoT's own is named in messages. */
export function configLabel(config: SotConfiguration): string {
  const { type, url, ref } = config.origin;
  if (type === 'release_tag') return `at release_tag ${ref}`;
  return `${url ?? config.root}${ref !== null ? `@${ref}` : ''}`;
}

/**
 * What an include name finds among the snippets of one type, as the renderer resolves it: the snippet of that
 * exact path, else the single one whose path without its extension is the name; several such is ambiguous.
 */
interface SnippetIndex {
  exact: Map<string, Asset>;
  bare: Map<string, Asset[]>;
}

function snippetIndex(model: SotConfiguration): Map<AssetType, SnippetIndex> {
  const index = new Map<AssetType, SnippetIndex>();
  const snippets = [...model.assets.values()]
    .filter((a) => a.snippet)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const a of snippets) {
    if (!index.has(a.type)) index.set(a.type, { exact: new Map(), bare: new Map() });
    const { exact, bare } = index.get(a.type)!;
    exact.set(a.name, a);
    const name = a.name.replace(/\.[^./]*$/, '');
    bare.set(name, [...(bare.get(name) ?? []), a]);
  }
  return index;
}

/** The snippet `name` finds, or why it finds none. */
function lookupSnippet(
  index: SnippetIndex | undefined,
  name: string,
): Asset | { problem: 'unknown' | string } {
  const exact = index?.exact.get(name);
  if (exact) return exact;
  const matches = index?.bare.get(name) ?? [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) return { problem: `is ambiguous: ${matches.map((m) => m.name).join(', ')}` };
  return { problem: 'unknown' };
}

/**
 * Reports includes of unknown snippets and include cycles (which would recurse forever), at the include tag.
 * Returns the assets that cannot render because of either, directly or through a snippet they include.
 */
function checkIncludes(model: SotConfiguration, out: Diagnostic[]): Set<Asset> {
  const index = snippetIndex(model);
  const edges = new Map<Asset, { ref: IncludeRef; to: Asset }[]>();
  const broken = new Set<Asset>();
  const assets = [...model.assets.values()].sort((a, b) => (a.file < b.file ? -1 : 1));
  for (const asset of assets) {
    const list: { ref: IncludeRef; to: Asset }[] = [];
    const own = index.get(asset.type);
    for (const ref of findIncludes(asset.text)) {
      const to = lookupSnippet(own, ref.name);
      if (!('problem' in to)) {
        list.push({ ref, to });
        continue;
      }
      broken.add(asset);
      const at = { file: asset.file, line: ref.line, col: ref.col };
      if (to.problem !== 'unknown') {
        out.push({ ...at, message: `${asset.type} snippet "${ref.name}" ${to.problem}` });
        continue;
      }
      let hint = didYouMean(ref.name, own?.bare.keys() ?? []);
      if (!hint) {
        // The same snippet under another type: snippets only serve templates of their own type.
        for (const [type, i] of index) {
          const other = type === asset.type ? undefined : lookupSnippet(i, ref.name);
          if (other && !('problem' in other)) {
            hint = ` (${other.file} is for ${type} templates only)`;
            break;
          }
        }
      }
      out.push({ ...at, message: `unknown ${asset.type} snippet "${ref.name}"${hint}` });
    }
    edges.set(asset, list);
  }

  // Depth-first search; an edge back into the current path closes a cycle, reported at that include.
  const state = new Map<Asset, 'active' | 'done'>();
  const stack: Asset[] = [];
  const visit = (a: Asset): void => {
    state.set(a, 'active');
    stack.push(a);
    for (const { ref, to } of edges.get(a) ?? []) {
      if (state.get(to) === 'active') {
        const cycle = stack.slice(stack.indexOf(to));
        const names = [...cycle, to].map((s) => s.name).join(' -> ');
        out.push({ file: a.file, line: ref.line, col: ref.col, message: `snippet include cycle: ${names}` });
        for (const s of cycle) broken.add(s);
      } else if (!state.has(to)) {
        visit(to);
      }
    }
    stack.pop();
    state.set(a, 'done');
  };
  for (const a of assets) if (!state.has(a)) visit(a);

  // Whatever includes a broken snippet is broken too.
  let changed = true;
  while (changed) {
    changed = false;
    for (const [a, list] of edges) {
      if (!broken.has(a) && list.some((e) => broken.has(e.to))) {
        broken.add(a);
        changed = true;
      }
    }
  }
  return broken;
}
