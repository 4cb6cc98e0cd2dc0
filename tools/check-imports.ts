// The import check `npm test` runs: layers import one way (ARCHITECTURE.md writes the order down). It fails on
//   - any circle of files importing each other (type-only imports count: they tie the files' shapes together);
//   - any two top-level folders that import each other;
//   - any import of a folder above the importer's own, or one its folder's own rule forbids.
// Imports are read with TypeScript's own pre-processor, so a string that looks like an import is not one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Bottom first. A folder may import its own layer's folders below it in this list, never one after it. */
export const LAYERS: readonly string[] = [
  'domain',
  'sot',
  'temporal',
  'workflows',
  'activities',
  'agent',
  'sim',
  'workers',
  'client',
  'server',
  'lab',
  'cli',
  'bin',
  'testkit',
  'bench',
  'tools',
  'test',
];

/** Narrower than the order: what a folder may not import although it sits below. */
export const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  // Workflow code is deterministic and bundled alone: the vocabulary and the SDK, nothing else of ours.
  workflows: ['sot', 'temporal', 'activities', 'agent', 'sim', 'workers', 'server', 'lab', 'cli'],
  domain: LAYERS.filter((l) => l !== 'domain'),
};

export interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
}

export interface Report {
  files: number;
  edges: ImportEdge[];
  circles: string[][];
  mutualFolders: [string, string][];
  upward: (ImportEdge & { why: string })[];
}

const SOURCE = /\.(ts|js|mjs)$/;

function walk(root: string, dir: string, out: string[]): void {
  for (const name of readdirSync(path.join(root, dir))) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'fixtures') continue;
    const rel = dir ? `${dir}/${name}` : name;
    const st = statSync(path.join(root, rel));
    if (st.isDirectory()) walk(root, rel, out);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(rel);
  }
}

/** The project's own files (under the listed top-level folders), relative to `root` with `/`. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  for (const top of LAYERS) {
    try {
      if (statSync(path.join(root, top)).isDirectory()) walk(root, top, out);
    } catch {
      // a layer the tree does not have
    }
  }
  return out.sort();
}

/** Whether an import clause brings in types only (`import type`, `export type`, or every named binding `type`). */
function typeOnlyImports(text: string, file: string): Map<string, boolean> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const kinds = new Map<string, boolean>();
  const note = (spec: string, typeOnly: boolean) => kinds.set(spec, (kinds.get(spec) ?? true) && typeOnly);
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings : undefined;
      const allNamedTypes =
        !!named && !c?.name && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      note(st.moduleSpecifier.text, !!c && (c.isTypeOnly || allNamedTypes));
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      note(st.moduleSpecifier.text, st.isTypeOnly);
    }
  }
  return kinds;
}

function resolveRelative(root: string, from: string, spec: string, known: Set<string>): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`, base.replace(/\.js$/, '.ts')]) {
    if (known.has(candidate)) return candidate;
  }
  // An import of a file outside the checked folders (say, a fixture) is not an edge of this graph.
  void root;
  return undefined;
}

export function readEdges(root: string, files: string[]): ImportEdge[] {
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(path.join(root, from), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    const kinds = typeOnlyImports(text, from);
    for (const ref of info.importedFiles) {
      const to = resolveRelative(root, from, ref.fileName, known);
      if (to && to !== from) edges.push({ from, to, typeOnly: kinds.get(ref.fileName) ?? false });
    }
  }
  return edges;
}

const topOf = (file: string): string => file.split('/')[0]!;

/** Strongly connected components of more than one file (Tarjan), each sorted, the list sorted. */
export function findCircles(files: string[], edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)!.push(e.to);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) circles.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return circles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

export function check(root: string): Report {
  const files = sourceFiles(root);
  const edges = readEdges(root, files);
  const pairs = new Set<string>();
  for (const e of edges) if (topOf(e.from) !== topOf(e.to)) pairs.add(`${topOf(e.from)}\0${topOf(e.to)}`);
  const mutualFolders: [string, string][] = [];
  for (const p of pairs) {
    const [a, b] = p.split('\0') as [string, string];
    if (a < b && pairs.has(`${b}\0${a}`)) mutualFolders.push([a, b]);
  }
  const upward: Report['upward'] = [];
  for (const e of edges) {
    const from = topOf(e.from);
    const to = topOf(e.to);
    if (from === to) continue;
    if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) upward.push({ ...e, why: `${from} is below ${to}` });
    else if (FORBIDDEN[from]?.includes(to)) upward.push({ ...e, why: `${from} may not import ${to}` });
  }
  return { files: files.length, edges, circles: findCircles(files, edges), mutualFolders, upward };
}

function main(): void {
  const root = path.resolve(process.argv[2] ?? '.');
  const r = check(root);
  for (const c of r.circles) console.log(`circle: ${c.join(' -> ')}`);
  for (const [a, b] of r.mutualFolders) console.log(`folders import each other: ${a} <-> ${b}`);
  for (const u of r.upward) console.log(`against the layers (${u.why}): ${u.from} imports ${u.to}`);
  console.log(
    `imports: ${r.files} files, ${r.edges.length} imports, ${r.circles.length} circles, ` +
      `${r.mutualFolders.length} mutual folder pairs, ${r.upward.length} imports against the layers`,
  );
  if (r.circles.length || r.mutualFolders.length || r.upward.length) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
