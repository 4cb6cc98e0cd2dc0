// Composes the model a SoT describes when it names revisions outside its folder: a site with `release_tag` is
// replaced by that site as the tag defines it (env, hosts and the configuration they render against), and the hosts
// of an Advanced SoT cluster file render against the configuration its `config:` document names. Everything else
// keeps the SoT's own files. Problems are diagnostics at the field that named the revision; a missing release tag is
// a warning (the original Vaquero fell back to the current revision, and so do we).
import path from 'node:path';
import type { Diagnostic } from './diagnostics.ts';
import type { ExternalCheckout, RefPin, SotExternals } from './externals.ts';
import { loadSot } from './load.ts';
import type { ClusterConfigEntity, LoadResult } from './load.ts';
import type { ConfigOrigin, SotConfiguration, SotModel } from './model.ts';

export interface ResolvedExternals {
  warnings: Diagnostic[];
  /** Removes the checkouts; call once the model is no longer read from disk (after validation). */
  cleanup(): Promise<void>;
}

/** Diagnostics of another revision that concern `site` or the configuration (not other sites of that revision). */
function concerns(d: Diagnostic, label: string, site: string | undefined): boolean {
  const file = d.file.startsWith(`${label}:`) ? d.file.slice(label.length + 1) : d.file;
  if (!file.startsWith('sites/')) return true;
  return site !== undefined && file.startsWith(`sites/${site}/`);
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // One line, and no credentials a URL may carry.
  return msg.split('\n')[0]!.replace(/\/\/[^/@\s]+@/g, '//');
}

export async function resolveExternals(
  load: LoadResult,
  externals: SotExternals,
): Promise<ResolvedExternals> {
  const { model, diagnostics, clusterConfigs } = load;
  const warnings: Diagnostic[] = [];
  const checkouts: ExternalCheckout[] = [];
  const cleanup = async () => {
    await Promise.all(checkouts.map((c) => c.cleanup()));
  };
  try {
    for (const site of [...model.sites.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const tag = site.spec.release_tag;
      if (tag === undefined) continue;
      const at = (message: string): Diagnostic => site.src.diag(['release_tag'], message);
      let got: Awaited<ReturnType<SotExternals['sotRevision']>>;
      try {
        got = await externals.sotRevision(tag);
      } catch (err) {
        diagnostics.push(at(`release_tag "${tag}": cannot read that revision of the SoT: ${errorText(err)}`));
        continue;
      }
      if ('missing' in got) {
        warnings.push(
          at(`release_tag "${tag}" not found (${got.missing}): site ${site.id} uses this revision instead`),
        );
        continue;
      }
      checkouts.push(got);
      if (got.pinned) warnings.push(at(pinNote(`release_tag "${tag}"`, got.pinned)));
      const origin: ConfigOrigin = { type: 'release_tag', url: null, ref: tag, commit: got.commit };
      const tagged = await loadSot(got.dir, { label: tag, origin });
      const tagSite = tagged.model.sites.get(site.id);
      if (!tagSite) {
        diagnostics.push(at(`release_tag "${tag}": site ${site.id} does not exist at that revision`));
        continue;
      }
      diagnostics.push(...tagged.diagnostics.filter((d) => concerns(d, tag, site.id)));
      // The site as the tag defines it: its env, its hosts, and the tag's configuration for them.
      model.sites.set(site.id, tagSite);
      model.hosts = model.hosts.filter((h) => h.site !== site.id);
      for (const h of tagged.model.hosts)
        if (h.site === site.id) model.hosts.push({ ...h, config: tagged.model });
      for (const [file, c] of clusterConfigs) if (c.site === site.id) clusterConfigs.delete(file);
      for (const [file, c] of tagged.clusterConfigs) if (c.site === site.id) clusterConfigs.set(file, c);
    }

    // Advanced SoT: one load per distinct configuration, shared by the clusters that name it.
    const loaded = new Map<string, SotConfiguration | string>();
    for (const cluster of [...clusterConfigs.values()].sort((a, b) => (a.file < b.file ? -1 : 1))) {
      const { type, url, ref } = cluster.spec;
      const key = JSON.stringify([type, url, ref ?? null]);
      let config = loaded.get(key);
      if (config === undefined) {
        config = await loadConfiguration(cluster, externals, checkouts, diagnostics);
        loaded.set(key, config);
        const pin = typeof config === 'string' ? undefined : checkouts.at(-1)?.pinned;
        if (pin)
          warnings.push(
            cluster.src.diag(['config', 'ref'], pinNote(`config ref "${pin.ref}" of ${pin.url}`, pin)),
          );
      }
      if (typeof config === 'string') {
        diagnostics.push(
          cluster.src.diag(['config', 'url'], `config of cluster ${path.basename(cluster.file)}: ${config}`),
        );
        // Its hosts cannot be judged against a configuration nobody could read.
        model.hosts = model.hosts.filter((h) => h.file !== cluster.file);
        continue;
      }
      const cfg = config;
      model.hosts = model.hosts.map((h) => (h.file === cluster.file ? { ...h, config: cfg } : h));
    }
    model.hosts.sort(byFile);
    return { warnings, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Where a plan shows which commit a moving ref stands for in this revision (a warning, so `vaquero plan`, the
 * server's plan and a rollout's notes all carry it; only loads of a revision snapshot pin, never a working folder).
 */
function pinNote(what: string, pin: RefPin): string {
  return `${what} is pinned to ${pin.commit} for this revision (resolved ${pin.pinnedAt}); a new revision resolves it again`;
}

function byFile(
  a: { file: string; src: { index: number } },
  b: { file: string; src: { index: number } },
): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.src.index - b.src.index;
}

/** The configuration a cluster names, or why it cannot be had (for every cluster naming it, at `config.url`). */
async function loadConfiguration(
  cluster: ClusterConfigEntity,
  externals: SotExternals,
  checkouts: ExternalCheckout[],
  diagnostics: Diagnostic[],
): Promise<SotConfiguration | string> {
  const { type, url, ref } = cluster.spec;
  const named = `${url}${ref !== undefined ? `@${ref}` : ''}`;
  let checkout: ExternalCheckout;
  try {
    checkout =
      type === 'git' ? await externals.gitConfig(url, ref ?? '') : await externals.localConfig(url, ref);
  } catch (err) {
    return `cannot read ${type} configuration ${named}: ${errorText(err)}`;
  }
  checkouts.push(checkout);
  const origin: ConfigOrigin = { type, url, ref: ref ?? null, commit: checkout.commit };
  const got = await loadSot(checkout.dir, { label: named, origin });
  // A configuration repository's own sites (if any) are not this SoT's: only its configuration counts.
  diagnostics.push(...got.diagnostics.filter((d) => concerns(d, named, undefined)));
  const m: SotModel = got.model;
  if (m.os.size + m.boots.size + m.workflows.size === 0)
    return `${type} configuration ${named} holds no os/, boot/ or workflows/ files`;
  return m;
}
