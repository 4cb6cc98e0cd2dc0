// `vaquero render DIR --host NAME`: what one host would boot, stage by stage, exactly as the agent would serve it.
// Exit 0 rendered, 1 the SoT (or this host's part of it) is invalid, 2 usage errors (unknown host or stage).
import { stat } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { formatDiagnostic, formatWarning, sortDiagnostics } from '../../sot/diagnostics.ts';
import type { Diagnostic } from '../../sot/diagnostics.ts';
import { loadSot } from '../../sot/load.ts';
import { resolveExternals } from '../../sot/resolve-externals.ts';
import { cliExternals, externalsOptions } from '../sot-externals.ts';
import type { ExternalsFlags } from '../sot-externals.ts';
import { createRenderer } from '../../sot/render.ts';
import type { RenderedHost, RenderedStage } from '../../sot/render.ts';
import type { RenderedTask } from '../../domain/task-spec.ts';
import { closest } from '../../sot/suggest.ts';

const PARTS = ['ipxe', 'cmdline', 'config', 'all'] as const;
type Part = (typeof PARTS)[number];

interface RenderOpts extends ExternalsFlags {
  host: string;
  stage?: string;
  part: Part;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('render')
    .description(
      'print what a host boots: iPXE script, kernel command line, unattended config and tasks per stage',
    )
    .argument('<dir>', 'the SoT folder')
    .requiredOption('--host <name>', 'the host to render')
    .option('--stage <n>', 'only this stage (1-based)')
    .addOption(new Option('--part <part>', 'only this artifact').choices(PARTS).default('all'))
    .option('--json', 'print the rendering as JSON');
  externalsOptions(cmd).action(async (dir: string, opts: RenderOpts) => {
    process.exitCode = await runRender(dir, opts);
  });
}

function usage(message: string): number {
  process.stderr.write(`vaquero render: ${message}\n`);
  return 2;
}

function invalid(diagnostics: readonly Diagnostic[]): number {
  process.stderr.write(
    sortDiagnostics(diagnostics)
      .map((d) => formatDiagnostic(d) + '\n')
      .join(''),
  );
  return 1;
}

export async function runRender(dir: string, opts: RenderOpts): Promise<number> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) return usage(`${dir} is not a folder`);
  let stageNo: number | undefined;
  if (opts.stage !== undefined) {
    stageNo = Number(opts.stage);
    if (!Number.isInteger(stageNo) || stageNo < 1)
      return usage(`--stage wants a stage number (1, 2, ...), got "${opts.stage}"`);
  }

  // A release_tag site or an Advanced SoT cluster renders against its own configuration, as a rollout would.
  const load = await loadSot(dir);
  const { model, diagnostics } = load;
  const externals = await resolveExternals(load, await cliExternals(dir, opts));
  await externals.cleanup();
  process.stderr.write(externals.warnings.map((d) => formatWarning(d) + '\n').join(''));
  const host = model.hosts.find((h) => h.id === opts.host);
  if (!host) {
    // A host whose document did not load is "unknown" only because the SoT is broken: say that instead.
    if (diagnostics.length > 0) return invalid(diagnostics);
    const hint = closest(
      opts.host,
      model.hosts.map((h) => h.id),
    );
    return usage(`unknown host "${opts.host}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  if (diagnostics.length > 0) return invalid(diagnostics);
  const result = createRenderer(model).renderHost(host);
  if (!result.rendered) return invalid(result.diagnostics);
  const r = result.rendered;

  let stages = r.stages;
  if (stageNo !== undefined) {
    stages = stages.filter((s) => s.index === stageNo);
    if (stages.length === 0)
      return usage(`host ${r.host} has ${count(r.stages.length, 'stage')}; there is no stage ${stageNo}`);
  }
  if (opts.part === 'config' && stages.length === 1 && !stages[0]!.config) {
    return usage(`stage ${stages[0]!.index} (${stages[0]!.boot}) of host ${r.host} has no unattended config`);
  }

  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ ...r, stages: stages.map((s) => jsonStage(s, opts.part)) }, null, 2) + '\n',
    );
  } else if (opts.part !== 'all' && stages.length === 1) {
    // One artifact of one stage: print it bare, so that it can be piped or diffed.
    process.stdout.write(withNewline(partText(stages[0]!, opts.part)));
  } else {
    process.stdout.write(human(r, stages, opts.part));
  }
  return 0;
}

function count(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

function withNewline(s: string): string {
  return s.endsWith('\n') || s === '' ? s : s + '\n';
}

function jsonStage(s: RenderedStage, part: Part): object {
  if (part === 'all') return s;
  if (part === 'config') return { index: s.index, boot: s.boot, config: s.config ?? null };
  return { index: s.index, boot: s.boot, [part]: s[part] };
}

function partText(s: RenderedStage, part: Exclude<Part, 'all'>): string {
  if (part === 'config') return s.config?.text ?? '';
  return s[part];
}

function taskLine(kind: string, t: RenderedTask): string {
  const env = Object.entries(t.env).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const argv = [...t.command, ...t.args].map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a)));
  return (
    `${kind} ${t.name}: ${t.image}${argv.length ? ` ${argv.join(' ')}` : ''}` +
    `${env.length ? ` (env ${env.join(' ')})` : ''} (timeout ${t.timeout_s}s, retries ${t.retries})\n`
  );
}

function human(r: RenderedHost, stages: RenderedStage[], part: Part): string {
  const out: string[] = [];
  out.push(
    `host ${r.host}: site ${r.site}, workflow ${r.workflow}, mac ${r.mac}${r.ipv4 ? `, ipv4 ${r.ipv4}` : ''}\n`,
  );
  for (const s of stages) {
    out.push(`\n=== stage ${s.index} of ${r.stages.length}: ${s.boot} (os ${s.os}) ===\n`);
    const section = (title: string, body: string) => out.push(`\n--- ${title} ---\n${withNewline(body)}`);
    if (part === 'all' || part === 'ipxe') section('iPXE script', s.ipxe);
    if (part === 'all' || part === 'cmdline') section('kernel command line', s.cmdline);
    if (part === 'all' || part === 'config') {
      if (s.config) section(`unattended config: ${s.config.type} (${s.config.contentType})`, s.config.text);
      else section('unattended config', '(none)');
    }
    if (part === 'all') {
      const tasks = [
        ...s.beforeShutdown.map((t) => taskLine('before_shutdown', t)),
        ...s.validate.map((t) => taskLine('validate', t)),
      ];
      section('tasks', tasks.length ? tasks.join('') : '(none)');
    }
  }
  return out.join('');
}
