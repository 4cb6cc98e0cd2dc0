// `vaquero validate DIR`: every problem of a SoT, one `FILE:LINE:COL: message` per line, for people and editors
// (or, with --json, for tools). Exit 1 when there is any problem, 0 when the SoT is valid.
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatDiagnostic, formatWarning } from '../../sot/diagnostics.ts';
import type { Diagnostic } from '../../sot/diagnostics.ts';
import { configurations } from '../../sot/model.ts';
import type { SotConfiguration, SotModel } from '../../sot/model.ts';
import { validateSot } from '../../sot/validate.ts';
import { cliExternals, externalsOptions } from '../sot-externals.ts';
import type { ExternalsFlags } from '../sot-externals.ts';

export function register(program: Command): void {
  const cmd = program
    .command('validate')
    .description('check a SoT folder: syntax, schema, references, addresses, policies and template rendering')
    .argument(
      '<dir>',
      'the SoT folder (when it is a git work tree, release_tag revisions come from its repository)',
    )
    .option(
      '--json',
      'print {"ok": bool, "diagnostics": [{file, line, col, message}], "warnings": [{file, line, col, message}]}',
    );
  externalsOptions(cmd).action(async (dir: string, opts: ValidateOpts) => {
    process.exitCode = await runValidate(dir, opts);
  });
}

interface ValidateOpts extends ExternalsFlags {
  json?: boolean;
}

/** Prints the result and returns the exit code: 0 valid (warnings or not), 1 problems found, 2 not a SoT folder at all. */
export async function runValidate(dir: string, opts: ValidateOpts): Promise<number> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    process.stderr.write(`vaquero validate: ${dir} is not a folder\n`);
    return 2;
  }
  const { model, diagnostics, warnings } = await validateSot(dir, {
    externals: await cliExternals(dir, opts),
  });
  if (diagnostics.length === 0 && isEmpty(model)) {
    // Most likely the wrong folder: saying "ok" would hide that.
    process.stderr.write(
      `vaquero validate: ${dir} holds no SoT (no sites/, os/, boot/ or workflows/ files)\n`,
    );
    return 2;
  }
  const ok = diagnostics.length === 0;
  if (opts.json) {
    const plain = (l: Diagnostic[]) =>
      l.map(({ file, line, col, message }) => ({ file, line, col, message }));
    process.stdout.write(
      JSON.stringify({ ok, diagnostics: plain(diagnostics), warnings: plain(warnings) }) + '\n',
    );
    return ok ? 0 : 1;
  }
  // Warnings first, on stderr: the output stays one FILE:LINE:COL problem a line for editors and scripts.
  process.stderr.write(warnings.map((d) => formatWarning(d) + '\n').join(''));
  if (ok) process.stdout.write(summary(model) + '\n');
  else process.stdout.write(diagnostics.map((d) => formatDiagnostic(d) + '\n').join(''));
  return ok ? 0 : 1;
}

function isEmpty(m: SotModel): boolean {
  return m.sites.size + m.hosts.length + m.os.size + m.boots.size + m.workflows.size === 0;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function summary(m: SotModel): string {
  // A release tag's or an Advanced SoT cluster's configuration counts with the SoT's own.
  const configs = configurations(m);
  const total = (f: (c: SotConfiguration) => number) => configs.reduce((n, c) => n + f(c), 0);
  const assets = configs.flatMap((c) => [...c.assets.values()]);
  const snippets = assets.filter((a) => a.snippet).length;
  const others = configs.length - 1;
  return (
    `ok: ${count(m.hosts.length, 'host')} in ${count(m.sites.size, 'site')}, ` +
    `${count(
      total((c) => c.workflows.size),
      'workflow',
    )}, ${count(
      total((c) => c.boots.size),
      'boot',
    )}, ` +
    `${count(
      total((c) => c.os.size),
      'OS',
      'OSes',
    )}, ` +
    `${count(assets.length - snippets, 'template')}, ${count(snippets, 'snippet')}` +
    (others > 0 ? ` (with ${count(others, 'other configuration')})` : '')
  );
}
