// Automatic rollouts without a webhook: a local SoT folder watched for changes (debounced, for development) and
// git remotes polled for their branch head (GitLab, Gitea, bare repositories). Every replica may run them: a
// start goes through FleetOps.startRollout's automatic rule, so the same revision is never started twice.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { formatDiagnostic } from '../sot/diagnostics.ts';
import { externalsForSource } from '../activities/control/sot-externals.ts';
import { validateSot } from '../sot/validate.ts';
import type { SotConfig } from './config.ts';
import type { FleetOps } from './fleet-ops.ts';

export interface Triggers {
  /** Resolves when every check started so far has finished (tests). */
  idle(): Promise<void>;
  stop(): void;
}

export function startTriggers(opts: {
  sots: readonly SotConfig[];
  ops: FleetOps;
  debounceMs: number;
  log: (msg: string) => void;
  /** Where configuration repositories are mirrored (release_tag and Advanced SoT checks); default: none fetched. */
  dataDir?: string;
}): Triggers {
  const watchers: FSWatcher[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Set<Promise<void>>();
  let stopped = false;

  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  for (const sot of opts.sots) {
    if (!sot.autoRollout) continue;
    if (sot.kind === 'dir' && sot.watch) {
      // One check at a time per folder; changes during a check schedule one more.
      let running: Promise<void> | undefined;
      let again = false;
      let timer: NodeJS.Timeout | undefined;
      const check = async () => {
        if (stopped) return;
        // Checked as the rollout will prepare it: release tags and cluster configurations resolved.
        const externals =
          opts.dataDir !== undefined
            ? await externalsForSource({ kind: 'dir', location: sot.path }, opts.dataDir)
            : undefined;
        const { diagnostics } = await validateSot(sot.path, externals ? { externals } : {});
        if (diagnostics.length > 0) {
          opts.log(
            `watch ${sot.name}: ${diagnostics.length} problem(s), not rolled out; first: ${formatDiagnostic(diagnostics[0]!)}`,
          );
          return;
        }
        const r = await opts.ops.startRollout({ sot, trigger: 'watch' });
        opts.log(`watch ${sot.name}: ${r.started ? `started ${r.workflowId}` : r.reason}`);
      };
      const run = () => {
        if (running) {
          again = true;
          return;
        }
        running = check()
          .catch((err: unknown) =>
            opts.log(`watch ${sot.name}: ${err instanceof Error ? err.message : String(err)}`),
          )
          .finally(() => {
            running = undefined;
            if (again && !stopped) {
              again = false;
              schedule();
            }
          });
        track(running);
      };
      const schedule = () => {
        if (timer) {
          clearTimeout(timer);
          timers.delete(timer);
        }
        timer = setTimeout(() => {
          timers.delete(timer!);
          timer = undefined;
          run();
        }, opts.debounceMs);
        timers.add(timer);
      };
      try {
        const w = watch(sot.path, { recursive: true }, () => schedule());
        w.on('error', (err) => opts.log(`watch ${sot.name}: ${err.message}`));
        watchers.push(w);
      } catch (err) {
        opts.log(
          `watch ${sot.name}: cannot watch ${sot.path}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      // Changes made while no server was running are picked up once at start.
      run();
    }
    if (sot.kind === 'git' && sot.pollSeconds > 0) {
      const poll = async () => {
        try {
          const r = await opts.ops.startRollout({ sot, trigger: 'poll' });
          if (r.started) opts.log(`poll ${sot.name}: started ${r.workflowId}`);
        } catch (err) {
          opts.log(`poll ${sot.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      };
      const tick = () => {
        const p = poll().finally(() => {
          if (stopped) return;
          const t = setTimeout(tick, sot.pollSeconds * 1000);
          timers.add(t);
        });
        track(p);
      };
      tick();
    }
  }

  return {
    async idle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
    stop() {
      stopped = true;
      for (const w of watchers) w.close();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
