// Reads a SoT folder into the typed model. Every problem of syntax or shape becomes a diagnostic; a document
// with problems is left out of the model, so later checks only ever see well-formed data.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { Diagnostic } from './diagnostics.ts';
import type { Asset, ConfigOrigin, Entity, HostEntity, SotModel } from './model.ts';
import { assetKey } from './model.ts';
import {
  ASSET_TYPES,
  bootSchema,
  clusterConfigSchema,
  hostSchema,
  osSchema,
  siteSchema,
  workflowSchema,
} from './schema.ts';
import type { AssetType, ClusterConfigSpec } from './schema.ts';
import { fieldName, issuesToDiagnostics, SECRET_FIELD, SECRET_MESSAGE } from './schema-errors.ts';
import { parseYamlFile } from './source-doc.ts';
import { closest } from './suggest.ts';
import type { SourceDoc } from './source-doc.ts';

export interface LoadResult {
  model: SotModel;
  diagnostics: Diagnostic[];
  /** Advanced SoT: cluster files whose first document is a `config:` section, by file. */
  clusterConfigs: Map<string, ClusterConfigEntity>;
}

/** A cluster file's `config:` document (its hosts render against that configuration). */
export interface ClusterConfigEntity {
  file: string;
  site: string;
  src: SourceDoc;
  spec: ClusterConfigSpec;
}

export interface LoadOptions {
  /** Shown before every file name of this load (`v1.2:sites/a/env.yml`), for revisions other than the SoT's. */
  label?: string;
  origin?: ConfigOrigin;
}

const YAML_EXT = /\.ya?ml$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
const ID_RE = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;
/** Guards against a SoT that would make the loader read gigabytes. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export async function loadSot(rootDir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const root = await realpath(path.resolve(rootDir));
  const diagnostics: Diagnostic[] = [];
  const clusterConfigs = new Map<string, ClusterConfigEntity>();
  const model: SotModel = {
    root,
    origin: opts.origin ?? { type: 'sot', url: null, ref: null, commit: null },
    sites: new Map(),
    hosts: [],
    os: new Map(),
    boots: new Map(),
    workflows: new Map(),
    assets: new Map(),
  };
  const files = await listFiles(root, root, diagnostics);
  const prefix = opts.label !== undefined ? `${opts.label}:` : '';
  const rel = (abs: string) => prefix + path.relative(root, abs).split(path.sep).join('/');

  const texts = new Map<string, string>();
  await Promise.all(
    files.map(async (abs) => {
      const bytes = await readFile(abs);
      // Every SoT file is text (YAML, templates): binary bytes are a mistake, never something to render.
      const text = bytes.includes(0) ? undefined : decodeUtf8(bytes);
      if (text === undefined)
        diagnostics.push({
          file: rel(abs),
          line: 1,
          col: 1,
          message: 'not a text file (binary bytes or invalid UTF-8)',
        });
      else texts.set(rel(abs), text);
    }),
  );
  const sorted = [...texts.keys()].sort();

  for (const file of sorted) {
    const text = texts.get(file)!;
    const parts = file.slice(prefix.length).split('/');
    const top = parts[0];
    if (top === 'assets') {
      loadAsset(model, file, parts, text, diagnostics);
      continue;
    }
    if (!YAML_EXT.test(file)) continue;
    if (top === 'sites' && parts.length === 3) {
      const site = parts[1]!;
      const base = parts[2]!.replace(YAML_EXT, '');
      if (base === 'env') loadSingle(model.sites, site, file, text, siteSchema, diagnostics, true);
      else loadHosts(model, site, file, text, diagnostics, clusterConfigs);
    } else if (parts.length === 2 && (top === 'os' || top === 'boot' || top === 'workflows')) {
      const id = parts[1]!.replace(YAML_EXT, '');
      if (top === 'os') loadSingle(model.os, id, file, text, osSchema, diagnostics);
      else if (top === 'boot') loadSingle(model.boots, id, file, text, bootSchema, diagnostics);
      else loadSingle(model.workflows, id, file, text, workflowSchema, diagnostics);
    } else {
      const problem = misplacedYaml(parts);
      if (problem) diagnostics.push({ file, line: 1, col: 1, message: problem });
    }
  }

  // A site folder with hosts but no env.yml cannot serve them: say so once, at its first file.
  const siteDirs = new Map<string, string>();
  for (const file of sorted) {
    const parts = file.slice(prefix.length).split('/');
    if (parts[0] === 'sites' && parts.length === 3 && YAML_EXT.test(file) && !siteDirs.has(parts[1]!)) {
      siteDirs.set(parts[1]!, file);
    }
  }
  for (const [site, firstFile] of siteDirs) {
    if (!texts.has(`${prefix}sites/${site}/env.yml`) && !texts.has(`${prefix}sites/${site}/env.yaml`)) {
      diagnostics.push({
        file: firstFile,
        line: 1,
        col: 1,
        message: `site "${site}" has no sites/${site}/env.yml`,
      });
    }
  }
  return { model, diagnostics, clusterConfigs };
}

function loadSingle<T>(
  into: Map<string, Entity<T>>,
  id: string,
  file: string,
  text: string,
  schema: z.ZodType<T>,
  diagnostics: Diagnostic[],
  isSite = false,
): void {
  const { docs, diagnostics: syntax } = parseYamlFile(file, text);
  diagnostics.push(...syntax);
  if (!ID_RE.test(id)) {
    diagnostics.push({
      file,
      line: 1,
      col: 1,
      message: `"${id}" is not a valid ${isSite ? 'site folder' : 'file'} name: it is the id, and must be lowercase letters, digits, ".", "_" or "-"`,
    });
    return;
  }
  if (docs.length === 0) {
    if (syntax.length === 0) diagnostics.push({ file, line: 1, col: 1, message: 'file is empty' });
    return;
  }
  if (docs.length > 1) {
    diagnostics.push(docs[1]!.diag([], 'expected a single YAML document in this file'));
  }
  const src = docs[0]!;
  const spec = parseDoc(src, schema, diagnostics);
  const other = into.get(id);
  if (other) {
    // x.yml beside x.yaml: one would silently replace the other.
    diagnostics.push({
      file,
      line: 1,
      col: 1,
      message: `duplicate id "${id}": ${other.file} defines it too`,
    });
    return;
  }
  if (spec !== undefined) into.set(id, { id, file, src, spec });
}

const LAYOUT_DIRS = ['sites', 'os', 'boot', 'workflows', 'assets'];

/**
 * A YAML file outside the layout is ignored by the loader, which would hide a typo like `workflow/` or a
 * host file one folder too deep: say so. Unrelated folders (docs, CI) stay quiet.
 */
function misplacedYaml(parts: string[]): string | undefined {
  const top = parts[0]!;
  if (parts.length === 1) return undefined;
  if (top === 'sites') return 'not part of the SoT layout: site files are sites/<site>/<file>.yml';
  if (top === 'os' || top === 'boot' || top === 'workflows') {
    return `not part of the SoT layout: ${top} files are ${top}/<id>.yml (no subfolders)`;
  }
  const near = closest(top, LAYOUT_DIRS);
  return near ? `not part of the SoT layout: folder "${top}" (did you mean "${near}"?)` : undefined;
}

function loadHosts(
  model: SotModel,
  site: string,
  file: string,
  text: string,
  diagnostics: Diagnostic[],
  clusterConfigs: Map<string, ClusterConfigEntity>,
): void {
  const { docs, diagnostics: syntax } = parseYamlFile(file, text);
  diagnostics.push(...syntax);
  for (const [i, src] of docs.entries()) {
    if (isConfigDoc(src)) {
      // Advanced SoT: the hosts of this file render against the configuration it names (resolve-externals.ts).
      if (i > 0 || src.index > 0) {
        diagnostics.push(
          src.diag(['config'], 'a config: document must be the first document of its cluster file', {
            key: true,
          }),
        );
        continue;
      }
      const spec = parseDoc(src, clusterConfigSchema, diagnostics);
      // Without a usable config the hosts would be judged against the wrong configuration: leave them out.
      if (spec === undefined) return;
      if (spec.config.type === 'git' && spec.config.ref === undefined) {
        diagnostics.push(
          src.diag(['config'], 'config: type git needs a ref (a tag, branch or commit)', { key: true }),
        );
        return;
      }
      clusterConfigs.set(file, { file, site, src, spec: spec.config });
      continue;
    }
    const spec = parseDoc(src, hostSchema, diagnostics);
    if (spec === undefined) continue;
    const host: HostEntity = { id: spec.name, site, file, src, spec };
    model.hosts.push(host);
  }
}

/** A document whose only business is `config:` (a host document has `name`). */
function isConfigDoc(src: SourceDoc): boolean {
  const data = src.toJS();
  return !!data && typeof data === 'object' && !Array.isArray(data) && 'config' in data && !('name' in data);
}

function parseDoc<T>(src: SourceDoc, schema: z.ZodType<T>, diagnostics: Diagnostic[]): T | undefined {
  const data = src.toJS();
  const secrets = findSecretFields(src, data);
  const result = schema.safeParse(data);
  if (result.success && secrets.length === 0) return result.data;
  diagnostics.push(...secrets);
  if (!result.success) diagnostics.push(...issuesToDiagnostics(src, data, result.error.issues));
  return undefined;
}

/** Environment variable names that carry secrets by convention. */
const SECRET_ENV_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;

/**
 * Secrets hidden where the schema allows free-form maps (a BMC's `options`) are still secrets: look for them
 * explicitly. Unknown secret-looking fields elsewhere are reported by the schema mapper with the same message.
 */
function findSecretFields(src: SourceDoc, data: unknown): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (!data || typeof data !== 'object') return out;
  // A boot's task env: a literal under a secret's name is a secret in git, and would be in workflow history.
  for (const phase of ['before_shutdown', 'validate'] as const) {
    const tasks = (data as Record<string, unknown>)[phase];
    if (!Array.isArray(tasks)) continue;
    tasks.forEach((task, j) => {
      const env = (task as { env?: unknown } | null)?.env;
      if (!env || typeof env !== 'object') return;
      for (const [name, v] of Object.entries(env)) {
        if (SECRET_ENV_NAME.test(name) && typeof v === 'string' && v !== '' && !v.includes('{{')) {
          out.push(
            src.diag(
              [phase, j, 'env', name],
              `${phase}[${j}].env.${name} holds a literal that looks like a secret: give a reference, { secret: NAME }, resolved by the agent from its secret store`,
            ),
          );
        }
      }
    });
  }
  const ifaces = (data as { interfaces?: unknown }).interfaces;
  if (!Array.isArray(ifaces)) return out;
  ifaces.forEach((iface, i) => {
    if (!iface || typeof iface !== 'object' || (iface as { type?: unknown }).type !== 'bmc') return;
    // At any depth: `options: { auth: { password: x } }` is just as much a secret in git.
    const walk = (value: unknown, path: (string | number)[]): void => {
      if (Array.isArray(value)) {
        value.forEach((v, j) => walk(v, [...path, j]));
      } else if (value && typeof value === 'object') {
        for (const [key, v] of Object.entries(value)) {
          const keyPath = [...path, key];
          if (SECRET_FIELD.test(key)) {
            out.push(src.diag(keyPath, `${fieldName(keyPath)}: ${SECRET_MESSAGE}`, { key: true }));
          } else {
            walk(v, keyPath);
          }
        }
      }
    };
    walk((iface as { options?: unknown }).options, ['interfaces', i, 'options']);
  });
  return out;
}

function loadAsset(
  model: SotModel,
  file: string,
  parts: string[],
  text: string,
  diagnostics: Diagnostic[],
): void {
  const type = parts[1] as AssetType;
  if (parts.length < 3) return;
  if (!(ASSET_TYPES as readonly string[]).includes(type)) {
    diagnostics.push({
      file,
      line: 1,
      col: 1,
      message: `unknown asset type "${parts[1]}" (expected one of ${ASSET_TYPES.join(', ')})`,
    });
    return;
  }
  const snippet = parts[2] === 'snippets' && parts.length > 3;
  const name = parts.slice(snippet ? 3 : 2).join('/');
  const asset: Asset = { type, name, file, text, snippet };
  model.assets.set(assetKey(type, name, snippet), asset);
}

/**
 * Every file of the SoT, each once. Symbolic links are followed only inside the SoT, and a directory reached twice
 * (a link back to a parent, or two links to one folder) is listed once: a loop ends instead of recursing forever.
 * A file over MAX_FILE_BYTES is reported, not read.
 */
async function listFiles(
  root: string,
  dir: string,
  diagnostics: Diagnostic[],
  seenDirs = new Set<string>([root]),
): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const abs = path.join(dir, e.name);
    const relFile = path.relative(root, abs).split(path.sep).join('/');
    const problem = (message: string) => diagnostics.push({ file: relFile, line: 1, col: 1, message });
    let real = abs;
    if (e.isSymbolicLink()) {
      const target = await realpath(abs).catch(() => undefined);
      if (!target || (target !== root && !target.startsWith(root + path.sep))) {
        problem('symbolic link points outside the SoT (or nowhere)');
        continue;
      }
      real = target;
    }
    const st = await stat(real).catch(() => undefined);
    if (st?.isDirectory()) {
      if (seenDirs.has(real)) {
        if (e.isSymbolicLink()) problem('symbolic link to a folder already read (a loop): not followed');
        continue;
      }
      seenDirs.add(real);
      out.push(...(await listFiles(root, abs, diagnostics, seenDirs)));
    } else if (st?.isFile()) {
      if (st.size > MAX_FILE_BYTES) problem(`file is larger than ${MAX_FILE_BYTES} bytes: not read`);
      else out.push(abs);
    }
  }
  return out;
}
