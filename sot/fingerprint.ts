// Digests of what a host boots. Two renderings with equal digests boot the same thing, so a plan compares
// digests rather than YAML: moving, reformatting or commenting SoT files cannot reprovision anything.
import { createHash } from 'node:crypto';
import type { RenderedHost, RenderedStage } from './render.ts';
import type { RenderedTask } from '../domain/task-spec.ts';

export const STAGE_PARTS = ['ipxe', 'kernel', 'initrds', 'cmdline', 'config', 'tasks'] as const;
export type StagePart = (typeof STAGE_PARTS)[number];

export interface StageFingerprint {
  index: number;
  boot: string;
  /** Over the boot id and every part. */
  digest: string;
  parts: Record<StagePart, string>;
}

export interface HostFingerprint {
  site: string;
  host: string;
  /** Over the site and the ordered stages: the one value to store per host as "what it last reached". */
  digest: string;
  stages: StageFingerprint[];
}

function sha256(value: unknown): string {
  return 'sha256:' + createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** The config part of a stage that has no unattended config. */
export const NO_CONFIG_DIGEST = sha256(null);

/** Key order of a task's env map is not meaningful. */
function canonicalTask(t: RenderedTask): unknown[] {
  const env = Object.keys(t.env)
    .sort()
    .map((k) => [k, t.env[k]]);
  return [t.name, t.image, t.command, t.args, env, t.timeout_s, t.retries];
}

function stageParts(s: RenderedStage): Record<StagePart, string> {
  return {
    ipxe: sha256(s.ipxe),
    kernel: sha256(s.kernel),
    initrds: sha256(s.initrds),
    cmdline: sha256(s.cmdline),
    config: s.config ? sha256([s.config.type, s.config.contentType, s.config.text]) : NO_CONFIG_DIGEST,
    tasks: sha256([s.beforeShutdown.map(canonicalTask), s.validate.map(canonicalTask)]),
  };
}

export function fingerprintHost(r: RenderedHost): HostFingerprint {
  const stages = r.stages.map((s): StageFingerprint => {
    const parts = stageParts(s);
    return {
      index: s.index,
      boot: s.boot,
      digest: sha256([s.boot, STAGE_PARTS.map((p) => parts[p])]),
      parts,
    };
  });
  // The site is part of where a host boots from (its agents, its DHCP): a move is a reprovision.
  const digest = sha256([r.site, stages.map((s) => [s.boot, s.digest])]);
  return { site: r.site, host: r.host, digest, stages };
}
