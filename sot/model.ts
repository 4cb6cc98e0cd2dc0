// The loaded, schema-checked SoT. Every entity keeps the document it came from so that later checks can
// report problems at the exact line of the offending field.
import type { AssetType, BootSpec, HostSpec, OsSpec, SiteSpec, WorkflowSpec } from './schema.ts';
import type { SourceDoc } from './source-doc.ts';

export interface Entity<T> {
  id: string;
  /** Relative to the SoT root. */
  file: string;
  src: SourceDoc;
  spec: T;
}

export type SiteEntity = Entity<SiteSpec>;
export type OsEntity = Entity<OsSpec>;
export type BootEntity = Entity<BootSpec>;
export type WorkflowEntity = Entity<WorkflowSpec>;

export interface HostEntity extends Entity<HostSpec> {
  /** The site the host's file lives in. `id` is the host name. */
  site: string;
  /**
   * The configuration (os, boots, workflows, templates) the host renders against when it is not the SoT's own:
   * its site's `release_tag` revision, or its cluster file's `config:` repository (see configOf).
   */
  config?: SotConfiguration;
}

export interface Asset {
  type: AssetType;
  /** Path below `assets/<type>/` (for snippets, below `assets/<type>/snippets/`). */
  name: string;
  /** Relative to the SoT root. */
  file: string;
  text: string;
  snippet: boolean;
}

/** Where a configuration came from, as templates see it (`config` in scope; FORMAT.md). */
export interface ConfigOrigin {
  /** `sot`: the SoT's own files; `release_tag`: the SoT at its site's release tag; `git`/`local`: a cluster's config. */
  type: 'sot' | 'release_tag' | 'git' | 'local';
  /** The repository URL or folder a `config:` document names; null for the SoT's own revisions. */
  url: string | null;
  /** The tag, branch or commit asked for; null for the SoT's own files. */
  ref: string | null;
  /** The commit `ref` resolved to (git only). */
  commit: string | null;
}

/** The shared half of a SoT: operating systems, boots, workflows and templates, from one revision of one place. */
export interface SotConfiguration {
  /** Absolute path of the folder it was loaded from (a temporary checkout for revisions other than the SoT's). */
  root: string;
  origin: ConfigOrigin;
  os: Map<string, OsEntity>;
  boots: Map<string, BootEntity>;
  workflows: Map<string, WorkflowEntity>;
  /** Keyed by `<type>/<name>`; snippets by `<type>/snippets/<name>`. */
  assets: Map<string, Asset>;
}

export interface SotModel extends SotConfiguration {
  sites: Map<string, SiteEntity>;
  /** In a stable order: by file, then document index. */
  hosts: HostEntity[];
}

/** The configuration `host` renders against. */
export function configOf(model: SotModel, host: HostEntity): SotConfiguration {
  return host.config ?? model;
}

/** The SoT's own configuration first, then every other one a host uses, each once. */
export function configurations(model: SotModel): SotConfiguration[] {
  const out: SotConfiguration[] = [model];
  for (const h of model.hosts) if (h.config && !out.includes(h.config)) out.push(h.config);
  return out;
}

export function assetKey(type: AssetType, name: string, snippet = false): string {
  return snippet ? `${type}/snippets/${name}` : `${type}/${name}`;
}
