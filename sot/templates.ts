// LiquidJS, locked down for SoT templates: no filesystem (templates and snippets come from the loaded model),
// own properties only, undefined variables and filters are errors, and limits against runaway templates.
// Every template is parsed once per engine, so rendering thousands of hosts costs one parse per file.
import { Liquid } from 'liquidjs';
import type { FS, Template } from 'liquidjs';
import { SECRET_FIELDS, SECRET_REF, secretPlaceholder } from '../domain/secret.ts';
import type { SecretField } from '../domain/secret.ts';
import type { SotConfiguration } from './model.ts';
import type { AssetType } from './schema.ts';

/** A template problem, located in the file where LiquidJS found it (a snippet's, when it is in a snippet). */
export interface TemplateError {
  /** Relative to the SoT root; undefined for templates that are YAML fields (the caller knows the node). */
  file?: string;
  line: number;
  col: number;
  message: string;
  /** True when the template does not even parse: then the problem is the same for every host. */
  syntax: boolean;
}

export type RenderOutcome = { text: string; error?: undefined } | { text?: undefined; error: TemplateError };

type Parsed = { templates: Template[]; error?: undefined } | { templates?: undefined; error: TemplateError };

/** Thrown by the snippet file system; its message is already operator-facing. */
class SnippetLookupError extends Error {}

const LIMITS = {
  /** Characters parsed per parse() call. */
  parseLimit: 10_000_000,
  /** Milliseconds per render() call: a loop over a huge range must not stall validation of the whole SoT. */
  renderLimit: 2_000,
  /** Objects/characters created per render() call. */
  memoryLimit: 100_000_000,
};

/**
 * An in-memory FS over the snippets of one asset type. `{% include 'net' %}` finds `net` or, when there is no
 * such file, the one snippet whose name is `net.<ext>`; a missing or ambiguous name is an error right away.
 */
function snippetFs(snippets: ReadonlyMap<string, string>, type: AssetType | undefined): FS {
  const where = type ? `assets/${type}/snippets/` : 'this field (snippets are for asset templates)';
  const find = (name: string): string => {
    if (snippets.has(name)) return name;
    const matches = [...snippets.keys()].filter((k) => k.replace(/\.[^./]*$/, '') === name).sort();
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new SnippetLookupError(`snippet "${name}" is ambiguous: ${matches.join(', ')}`);
    throw new SnippetLookupError(`snippet "${name}" not found in ${where}`);
  };
  return {
    sep: '/',
    resolve: (_dir, file) => file,
    existsSync: (file) => (find(file), true),
    exists: async (file) => (find(file), true),
    readFileSync: (file) => snippets.get(find(file))!,
    readFile: async (file) => snippets.get(find(file))!,
    dirname: () => '.',
  };
}

/**
 * `{{ "join-token" | secret }}` (or `| secret: "password"`): a reference to a secret of the serving agent's store,
 * rendered as a placeholder that the agent resolves when it serves the config. The value never enters the SoT,
 * the plan, or workflow history.
 */
function secretFilter(ref: unknown, field: unknown = 'token'): string {
  if (typeof ref !== 'string' || !SECRET_REF.test(ref) || ref.includes('..')) {
    throw new Error(
      `secret: the reference must be a plain name (letters, digits, . _ -), got ${JSON.stringify(ref)}`,
    );
  }
  // A long run of hex or base64 is a token pasted where its name belongs: it would sit in git and in history.
  if (
    /^[A-Fa-f0-9]{24,}$/.test(ref) ||
    (/^[A-Za-z0-9_-]{32,}$/.test(ref) && /\d/.test(ref) && /[A-Z]/.test(ref))
  ) {
    throw new Error(
      `secret: ${JSON.stringify(ref.slice(0, 6) + '…')} looks like a secret value, not a reference name; put the value in the agent's secret store and name it here`,
    );
  }
  if (!SECRET_FIELDS.includes(field as SecretField)) {
    throw new Error(`secret: the field is one of ${SECRET_FIELDS.join(', ')}, got ${JSON.stringify(field)}`);
  }
  return secretPlaceholder(ref, field as SecretField);
}

function newLiquid(fs: FS): Liquid {
  const liquid = new Liquid({
    fs,
    root: ['.'],
    partials: ['.'],
    layouts: ['.'],
    relativeReference: false,
    cache: true,
    ownPropertyOnly: true,
    strictVariables: true,
    strictFilters: true,
    // `{% if metadata.x %}` and `| default:` may probe optional metadata; everywhere else a typo is an error.
    lenientIf: true,
    ...LIMITS,
  });
  liquid.registerFilter('secret', secretFilter);
  return liquid;
}

const TEMPLATE_MARKUP = /\{\{|\{%/;

export class TemplateEngine {
  private readonly liquids = new Map<AssetType | 'field', Liquid>();
  private readonly assetCache = new Map<string, Parsed>();
  private readonly fieldCache = new Map<string, Parsed>();
  /** Source text -> file, to say in which file (template or snippet) an error token lies. */
  private readonly fileByText = new Map<string, string>();

  constructor(private readonly model: SotConfiguration) {
    for (const a of model.assets.values()) {
      if (!this.fileByText.has(a.text) || !a.snippet) this.fileByText.set(a.text, a.file);
    }
  }

  private liquid(type: AssetType | 'field'): Liquid {
    let l = this.liquids.get(type);
    if (!l) {
      const snippets = new Map<string, string>();
      if (type !== 'field') {
        for (const a of this.model.assets.values())
          if (a.snippet && a.type === type) snippets.set(a.name, a.text);
      }
      l = newLiquid(snippetFs(snippets, type === 'field' ? undefined : type));
      this.liquids.set(type, l);
    }
    return l;
  }

  /** Render `assets/<type>/<name>`; undefined when there is no such template. */
  renderAsset(type: AssetType, name: string, scope: object): RenderOutcome | undefined {
    const key = `${type}/${name}`;
    const asset = this.model.assets.get(key);
    if (!asset || asset.snippet) return undefined;
    let parsed = this.assetCache.get(key);
    if (!parsed) {
      parsed = this.parse(type, asset.text, asset.file);
      this.assetCache.set(key, parsed);
    }
    return this.render(type, parsed, scope, asset.file);
  }

  /** Render a templated YAML string (kernel URL, cmdline entry, task argument). */
  renderField(text: string, scope: object): RenderOutcome {
    if (!TEMPLATE_MARKUP.test(text)) return { text };
    let parsed = this.fieldCache.get(text);
    if (!parsed) {
      parsed = this.parse('field', text, undefined);
      this.fieldCache.set(text, parsed);
    }
    return this.render('field', parsed, scope, undefined);
  }

  private parse(type: AssetType | 'field', text: string, file: string | undefined): Parsed {
    try {
      return { templates: this.liquid(type).parse(text, file) };
    } catch (err) {
      return { error: { ...this.locate(err, file), syntax: true } };
    }
  }

  private render(
    type: AssetType | 'field',
    parsed: Parsed,
    scope: object,
    file: string | undefined,
  ): RenderOutcome {
    if (parsed.error) return { error: parsed.error };
    try {
      // The scope is also passed as globals so that `{% render %}`, which isolates its snippet from the
      // caller's variables, still sees the documented names.
      const out: unknown = this.liquid(type).renderSync(parsed.templates, scope, { globals: scope });
      return { text: String(out) };
    } catch (err) {
      const located = this.locate(err, file);
      // A snippet that fails to parse is only discovered when it is included, but is still a syntax problem.
      return { error: { ...located, syntax: located.file !== file && isSyntaxError(err) } };
    }
  }

  private locate(err: unknown, file: string | undefined): Omit<TemplateError, 'syntax'> {
    const e = err as { token?: { input?: unknown; file?: unknown; getPosition?: () => [number, number] } };
    const token = e?.token;
    let where = file;
    if (file !== undefined && token && typeof token.input === 'string' && this.fileByText.has(token.input)) {
      where = this.fileByText.get(token.input);
    }
    const pos = token?.getPosition?.();
    // Positions are only meaningful in a file we can name; for a field, the caller points at the YAML node.
    const [line, col] = pos && where !== undefined ? pos : [1, 1];
    return { ...(where !== undefined ? { file: where } : {}), line, col, message: describeError(err) };
  }
}

function isSyntaxError(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  const orig = (err as { originalError?: { name?: unknown } })?.originalError?.name;
  return (
    name === 'TokenizationError' ||
    name === 'ParseError' ||
    orig === 'TokenizationError' ||
    orig === 'ParseError'
  );
}

/** LiquidJS's message without its own location suffix, phrased for an operator. */
export function describeError(err: unknown): string {
  type Wrapped = { originalError?: unknown; message?: unknown };
  let inner: unknown = err;
  // RenderErrors wrap the real cause (possibly several levels deep for nested includes).
  while (inner && typeof inner === 'object' && (inner as Wrapped).originalError) {
    inner = (inner as Wrapped).originalError;
  }
  if (inner instanceof SnippetLookupError) return inner.message;
  if (inner instanceof RangeError && /call stack/i.test(inner.message)) {
    return 'snippets include each other without end (or nest too deeply)';
  }
  const variable = (inner as { variableName?: unknown })?.variableName;
  if (typeof variable === 'string') return `undefined variable "${variable}"`;
  const msg = String((inner as Wrapped)?.message ?? inner);
  const undef = /^undefined variable: ([^,]+)/.exec(msg);
  if (undef) return `undefined variable "${undef[1]}"`;
  return msg.replace(/(?:, file:[^,]*)?, line:\d+, col:\d+$/, '').split('\n')[0]!;
}
