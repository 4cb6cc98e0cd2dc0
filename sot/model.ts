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

export interface SotModel {
  /** Absolute path of the folder it was loaded from. */
  root: string;
  sites: Map<string, SiteEntity>;
  /** In a stable order: by file, then document index. */
  hosts: HostEntity[];
  os: Map<string, OsEntity>;
  boots: Map<string, BootEntity>;
  workflows: Map<string, WorkflowEntity>;
  /** Keyed by `<type>/<name>`; snippets by `<type>/snippets/<name>`. */
  assets: Map<string, Asset>;
}

export function assetKey(type: AssetType, name: string, snippet = false): string {
  return snippet ? `${type}/snippets/${name}` : `${type}/${name}`;
}
