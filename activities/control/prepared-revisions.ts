// Validated and rendered revisions kept in memory by the control worker. Loading a SoT once per host would
// cost seconds per host on a large fleet; every host plan of a rollout comes from one load.
import { ApplicationFailure } from '@temporalio/common';
import { formatDiagnostic, formatWarning } from '../../sot/diagnostics.ts';
import { fingerprintHost } from '../../sot/fingerprint.ts';
import type { HostEntity, SotModel } from '../../sot/model.ts';
import { createRenderer } from '../../sot/render.ts';
import type { RenderedHost } from '../../sot/render.ts';
import { pinDirFor, pinRefs } from '../../sot/pinned-refs.ts';
import { validateSot } from '../../sot/validate.ts';
import type { SotSource } from '../../domain/rollout.ts';
import type { RevisionStore } from './revision-store.ts';
import { externalsForSource } from './sot-externals.ts';

export interface PreparedHost {
  entity: HostEntity;
  rendered: RenderedHost;
  fingerprint: string;
}

export interface PreparedRevision {
  sot: string;
  revision: string;
  model: SotModel;
  /** Keyed by `site/host`. */
  hosts: Map<string, PreparedHost>;
  /** What validation warned about (a release_tag not found), as FILE:LINE:COL: warning: lines. */
  warnings: string[];
}

/** Revisions kept; a rollout needs one, a supersede two. */
const KEEP = 4;
const MAX_LISTED = 50;

export class PreparedRevisions {
  private readonly cache = new Map<string, Promise<PreparedRevision>>();

  constructor(
    private readonly store: RevisionStore,
    /** Where a revision missing from this worker's store can be fetched from (another worker prepared it). */
    private readonly sourceOf?: (sot: string, revision: string) => Promise<SotSource | undefined>,
  ) {}

  get(sot: string, revision: string): Promise<PreparedRevision> {
    const key = `${sot}/${revision}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.prepare(sot, revision);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
      while (this.cache.size > KEEP) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }

  private async prepare(sot: string, revision: string): Promise<PreparedRevision> {
    if (!(await this.store.has(sot, revision))) {
      const source = await this.sourceOf?.(sot, revision);
      if (source) await this.store.snapshot(sot, revision, source);
    }
    if (!(await this.store.has(sot, revision))) {
      throw ApplicationFailure.nonRetryable(
        `revision ${revision} of SoT ${sot} is not in the revision store`,
        'RevisionMissing',
      );
    }
    // release_tag revisions and Advanced SoT configurations come from where this revision came from.
    // Moving refs resolve once per revision (pinned-refs.ts): every worker and the server's plan render one commit.
    const externals = pinRefs(
      await externalsForSource(await this.store.sourceOf(sot, revision), this.store.cacheDir),
      pinDirFor(this.store.dirFor(sot, revision)),
    );
    const { model, diagnostics, warnings } = await validateSot(this.store.dirFor(sot, revision), {
      externals,
    });
    if (diagnostics.length > 0) throw invalidSot(sot, revision, diagnostics.map(formatDiagnostic));
    const renderer = createRenderer(model);
    const hosts = new Map<string, PreparedHost>();
    const problems: string[] = [];
    for (const entity of model.hosts) {
      const r = renderer.renderHost(entity);
      if (!r.rendered || r.diagnostics.length > 0) {
        problems.push(...r.diagnostics.map(formatDiagnostic));
        continue;
      }
      hosts.set(`${entity.site}/${entity.id}`, {
        entity,
        rendered: r.rendered,
        fingerprint: fingerprintHost(r.rendered).digest,
      });
    }
    if (problems.length > 0) throw invalidSot(sot, revision, problems);
    return { sot, revision, model, hosts, warnings: warnings.map(formatWarning) };
  }
}

function invalidSot(sot: string, revision: string, lines: string[]): ApplicationFailure {
  const shown = lines.slice(0, MAX_LISTED);
  const more = lines.length > shown.length ? `\n… and ${lines.length - shown.length} more` : '';
  return ApplicationFailure.nonRetryable(
    `SoT ${sot} at ${revision} is invalid (${lines.length} problem(s)):\n${shown.join('\n')}${more}`,
    'InvalidSot',
  );
}
