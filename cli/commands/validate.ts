// `vaquero validate DIR`: every problem of a SoT, one `FILE:LINE:COL: message` per line, for people and editors
// (or, with --json, for tools). Exit 1 when there is any problem, 0 when the SoT is valid.
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import type { SotModel } from '../../sot/model.ts';
import { validateSot } from '../../sot/validate.ts';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a SoT folder: syntax, schema, references, addresses, policies and template rendering')
    .argument('<dir>', 'the SoT folder')
    .option('--json', 'print {"ok": bool, "diagnostics": [{file, line, col, message}]}')
    .action(async (dir: string, opts: { json?: boolean }) => {
      process.exitCode = await runValidate(dir, opts);
    });
}

/** Prints the result and returns the exit code: 0 valid, 1 problems found, 2 not a SoT folder at all. */
export async function runValidate(dir: string, opts: { json?: boolean }): Promise<number> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    process.stderr.write(`vaquero validate: ${dir} is not a folder\n`);
    return 2;
  }
  const { model, diagnostics } = await validateSot(dir);
  if (diagnostics.length === 0 && isEmpty(model)) {
    // Most likely the wrong folder: saying "ok" would hide that.
    process.stderr.write(
      `vaquero validate: ${dir} holds no SoT (no sites/, os/, boot/ or workflows/ files)\n`,
    );
    return 2;
  }
  const ok = diagnostics.length === 0;
  if (opts.json) {
    const list = diagnostics.map(({ file, line, col, message }) => ({ file, line, col, message }));
    process.stdout.write(JSON.stringify({ ok, diagnostics: list }) + '\n');
  } else if (ok) {
    process.stdout.write(summary(model) + '\n');
  } else {
    process.stdout.write(diagnostics.map((d) => formatDiagnostic(d) + '\n').join(''));
  }
  return ok ? 0 : 1;
}

function isEmpty(m: SotModel): boolean {
  return m.sites.size + m.hosts.length + m.os.size + m.boots.size + m.workflows.size === 0;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function summary(m: SotModel): string {
  const assets = [...m.assets.values()];
  const snippets = assets.filter((a) => a.snippet).length;
  return (
    `ok: ${count(m.hosts.length, 'host')} in ${count(m.sites.size, 'site')}, ` +
    `${count(m.workflows.size, 'workflow')}, ${count(m.boots.size, 'boot')}, ${count(m.os.size, 'OS', 'OSes')}, ` +
    `${count(assets.length - snippets, 'template')}, ${count(snippets, 'snippet')}`
  );
}
