// What a SoT may name outside its own folder: another revision of its own repository (a site's `release_tag`) and
// the configuration repositories or folders of Advanced SoT cluster files (`config:`). The SoT layer only says
// what it needs; the entry points hand in how to fetch it (activities/control/sot-externals.ts), so validation,
// plans and rollouts all resolve them the same way.

/** A folder holding one revision, removed by cleanup() once the SoT is loaded. */
export interface ExternalCheckout {
  dir: string;
  /** The full commit id, when the folder is a revision of a git repository. */
  commit: string | null;
  /** The ref this checkout stands for was pinned to its commit for the revision being loaded (pinned-refs.ts). */
  pinned?: RefPin;
  cleanup(): Promise<void>;
}

/** What a moving ref (a branch, a tag) resolved to when a revision first loaded it (pinned-refs.ts). */
export interface RefPin {
  kind: 'release_tag' | 'git' | 'local';
  /** The repository or folder; null for the SoT's own repository (release_tag). */
  url: string | null;
  ref: string;
  commit: string;
  /** When the ref was first resolved for this revision (ISO time). */
  pinnedAt: string;
}

/** The SoT's own repository has no such revision (or the SoT is no repository): the current one is used. */
export interface MissingRevision {
  missing: string;
}

export interface SotExternals {
  /** The SoT's own repository at `ref` (a tag or commit). */
  sotRevision(ref: string): Promise<ExternalCheckout | MissingRevision>;
  /** A configuration repository at `ref`; throws an Error whose message says why it cannot be had. */
  gitConfig(url: string, ref: string): Promise<ExternalCheckout>;
  /**
   * A configuration folder; with `ref`, that revision of the git repository the folder is. Throws when the folder
   * is outside the roots the operator allowed, missing, or has no such ref.
   */
  localConfig(url: string, ref: string | undefined): Promise<ExternalCheckout>;
}

/** Used when an entry point hands in nothing: every external is reported as unavailable, never fetched. */
export const NO_EXTERNALS: SotExternals = {
  sotRevision: async () => ({ missing: 'the SoT is not read from a git repository here' }),
  gitConfig: async () => {
    throw new Error('configuration repositories are not fetched here');
  },
  localConfig: async () => {
    throw new Error('configuration folders are not read here');
  },
};
