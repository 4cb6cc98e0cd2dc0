// `vaquero plan FROM_DIR TO_DIR` and `vaquero plan --repo DIR REV_A REV_B`: which hosts moving from one SoT
// revision to the other would reprovision, and why. Both sides must be valid: a plan of a broken SoT would
// silently leave out the hosts that do not render. Exit 0 planned, 1 a side is invalid, 2 usage errors.
// With a server (--server or VAQUERO_SERVER) and --sot NAME, FROM and TO are revisions of that SoT; `-` as FROM
// plans against what each host last reached, `-` as TO is the SoT as it is now.
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatDiagnostic, formatWarning, sortDiagnostics } from '../../sot/diagnostics.ts';
import { checkoutRevision, resolveCommit, revisionProblem } from '../../sot/git-revision.ts';
import type { CheckedOutRevision } from '../../sot/git-revision.ts';
import { countActions, hostStates, planStates } from '../../sot/plan.ts';
import type { HostState, Plan, PlanAction } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { ApiClient, serverTarget } from '../server-client.ts';
import { cliExternals, externalsOptions } from '../sot-externals.ts';
import type { ExternalsFlags } from '../sot-externals.ts';
import type { ServerTarget } from '../server-client.ts';

interface PlanOpts extends ExternalsFlags {
  repo?: string;
  json?: boolean;
  server?: string;
  sot?: string;
}

type ServerPlan =
  | {
      valid: true;
      from: string | null;
      to: string;
      hosts: Plan['hosts'];
      warnings?: { revision: string; messages: string[] }[];
    }
  | { valid: false; from: string | null; to: string; problems: { revision: string; messages: string[] }[] };

async function planViaServer(
  target: ServerTarget,
  from: string,
  to: string,
  opts: PlanOpts,
): Promise<number> {
  if (!opts.sot) return usage('with a server, name the SoT with --sot NAME');
  if (opts.repo) return usage('--repo plans local commits; it cannot be combined with a server');
  const api = new ApiClient(target);
  const p = await api.get<ServerPlan>('/plan', {
    sot: opts.sot,
    from: from === '-' ? undefined : from,
    to: to === '-' ? undefined : to,
  });
  if (!p.valid) {
    for (const x of p.problems) {
      process.stderr.write(`vaquero plan: ${opts.sot} at ${x.revision} is not a valid SoT:\n`);
      process.stderr.write(x.messages.map((m) => `  ${m}\n`).join(''));
    }
    return 1;
  }
  for (const x of p.warnings ?? []) {
    process.stderr.write(`vaquero plan: ${opts.sot} at ${x.revision}:\n`);
    process.stderr.write(x.messages.map((m) => `  ${m}\n`).join(''));
  }
  const plan: Plan = { hosts: p.hosts };
  if (opts.json) process.stdout.write(planJson(plan) + '\n');
  else process.stdout.write(planText(plan, p.from ?? 'what the hosts reached', p.to));
  return 0;
}

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('what moving from one SoT revision to another would reprovision, and why')
    .argument('<from>', 'the current SoT folder (with --repo: a commit, branch or tag)')
    .argument('<to>', 'the new SoT folder (with --repo: a commit, branch or tag)')
    .option('--repo <dir>', 'compare two revisions of this local git repository')
    .option('--json', 'print {"hosts": [{site, host, action, reasons}]}')
    .option(
      '--server <url>',
      'plan revisions of a server SoT (default $VAQUERO_SERVER; token from $VAQUERO_TOKEN or $VAQUERO_TOKEN_FILE)',
    )
    .option('--sot <name>', 'with a server: the SoT whose revisions FROM and TO are');
  externalsOptions(cmd).action(async (from: string, to: string, opts: PlanOpts) => {
    // Local folders need no server: VAQUERO_SERVER alone does not redirect a plan, --sot or --server does.
    const target =
      opts.sot !== undefined || opts.server !== undefined ? await serverTarget(opts.server) : undefined;
    if ((opts.sot !== undefined || opts.server !== undefined) && !target) {
      process.exitCode = usage(
        '--sot plans revisions of a server SoT: give --server URL or set VAQUERO_SERVER',
      );
      return;
    }
    process.exitCode = target ? await planViaServer(target, from, to, opts) : await runPlan(from, to, opts);
  });
}

function usage(message: string): number {
  process.stderr.write(`vaquero plan: ${message}\n`);
  return 2;
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** One side of the comparison: where its files are and how to name it in messages. */
interface Side {
  label: string;
  dir: string;
  /** The git repository the side is a revision of (release_tag revisions come from it). */
  repo?: string;
}

export async function runPlan(from: string, to: string, opts: PlanOpts): Promise<number> {
  const checkouts: CheckedOutRevision[] = [];
  try {
    let sides: [Side, Side];
    if (opts.repo !== undefined) {
      if (!(await isDir(opts.repo))) return usage(`${opts.repo} is not a folder`);
      for (const rev of [from, to]) {
        const problem = revisionProblem(rev);
        if (problem) return usage(`revision "${rev}" ${problem}`);
        try {
          await resolveCommit(opts.repo, rev);
        } catch (err) {
          return usage(err instanceof Error ? err.message : String(err));
        }
      }
      for (const rev of [from, to]) checkouts.push(await checkoutRevision(opts.repo, rev));
      const label = (rev: string, c: CheckedOutRevision) => `${rev} (${c.commit.slice(0, 12)})`;
      sides = [
        { label: label(from, checkouts[0]!), dir: checkouts[0]!.dir, repo: opts.repo },
        { label: label(to, checkouts[1]!), dir: checkouts[1]!.dir, repo: opts.repo },
      ];
    } else {
      for (const d of [from, to]) if (!(await isDir(d))) return usage(`${d} is not a folder`);
      sides = [
        { label: from, dir: from },
        { label: to, dir: to },
      ];
    }

    const states: Map<string, HostState>[] = [];
    let ok = true;
    for (const side of sides) {
      const { model, diagnostics, warnings } = await validateSot(side.dir, {
        externals: await cliExternals(side.dir, opts, side.repo),
      });
      if (warnings.length > 0) {
        process.stderr.write(`vaquero plan: ${side.label}:\n`);
        process.stderr.write(warnings.map((d) => `  ${formatWarning(d)}\n`).join(''));
      }
      const rendered = hostStates(model);
      // The validator renders too; rendering here as well guarantees no host drops out of the plan unseen.
      for (const s of rendered.values()) diagnostics.push(...s.diagnostics);
      const all = sortDiagnostics(diagnostics);
      if (all.length > 0) {
        ok = false;
        process.stderr.write(`vaquero plan: ${side.label} is not a valid SoT:\n`);
        process.stderr.write(all.map((d) => `  ${formatDiagnostic(d)}\n`).join(''));
      }
      states.push(rendered);
    }
    if (!ok) return 1;

    const plan = planStates(states[0]!, states[1]!);
    if (opts.json) process.stdout.write(planJson(plan) + '\n');
    else process.stdout.write(planText(plan, sides[0].label, sides[1].label));
    return 0;
  } finally {
    await Promise.all(checkouts.map((c) => c.cleanup()));
  }
}

/** Exactly `{"hosts":[{"site","host","action","reasons"}]}`, whatever else a plan may carry one day. */
export function planJson(plan: Plan): string {
  return JSON.stringify({
    hosts: plan.hosts.map(({ site, host, action, reasons }) => ({
      site,
      host,
      action,
      reasons: [...reasons],
    })),
  });
}

const SUMMARY_ORDER: [PlanAction, string][] = [
  ['reprovision', 'to reprovision'],
  ['added', 'added'],
  ['validate', 'to re-validate'],
  ['removed', 'removed'],
  ['skipped', 'skipped'],
  ['unchanged', 'unchanged'],
];

export function planText(plan: Plan, fromLabel: string, toLabel: string): string {
  const counts = countActions(plan);
  const summary = SUMMARY_ORDER.filter(([a]) => counts[a] > 0).map(([a, words]) => `${counts[a]} ${words}`);
  const lines = [`plan ${fromLabel} -> ${toLabel}: ${summary.length ? summary.join(', ') : 'no hosts'}`];
  const changed = plan.hosts.filter((h) => h.action !== 'unchanged');
  const width = Math.max(0, ...changed.map((h) => h.site.length + 1 + h.host.length));
  for (const [action] of SUMMARY_ORDER) {
    for (const h of changed.filter((c) => c.action === action)) {
      const name = `${h.site}/${h.host}`.padEnd(width);
      lines.push(`  ${action.padEnd(11)}  ${name}  ${h.reasons.join('; ')}`.trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}
