// One parsed YAML document together with what is needed to point at any of its nodes by line and column.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, visit } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import type { Diagnostic } from './diagnostics.ts';

export type YamlPath = readonly (string | number)[];

export interface Position {
  line: number;
  col: number;
}

export class SourceDoc {
  constructor(
    /** Relative to the SoT root. */
    readonly file: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    /** Index of this document within its file (0-based). */
    readonly index: number,
    private readonly value: unknown,
  ) {}

  /** Plain JS value of the document. */
  toJS(): unknown {
    return this.value;
  }

  /**
   * Position of the node at `path`; with `key`, of the map key naming the last path element. Falls back to
   * the nearest existing ancestor so that a message about a missing field points at the object lacking it.
   */
  pos(path: YamlPath, opts: { key?: boolean } = {}): Position {
    let node: unknown = this.doc.contents;
    let best: unknown = node;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p: Pair) => keyOf(p) === String(seg));
        if (!pair) break;
        if (last && opts.key) {
          best = pair.key;
          break;
        }
        node = pair.value;
        best = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!item) break;
        node = item;
        best = item;
      } else {
        break;
      }
    }
    return this.offsetPos(rangeStart(best) ?? rangeStart(this.doc.contents) ?? 0);
  }

  diag(path: YamlPath, message: string, opts: { key?: boolean } = {}): Diagnostic {
    return { file: this.file, ...this.pos(path, opts), message };
  }

  offsetPos(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, col: p.col };
  }
}

function keyOf(pair: Pair): string | undefined {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const r = (node as Node).range;
    if (r) return r[0];
  }
  if (isPair(node)) return rangeStart(node.key);
  return undefined;
}

/**
 * Parse every YAML document of a file. Syntax errors become diagnostics; documents with errors are not
 * returned, so later stages never see half-parsed data.
 */
export function parseYamlFile(file: string, text: string): { docs: SourceDoc[]; diagnostics: Diagnostic[] } {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const docs: SourceDoc[] = [];
  const diagnostics: Diagnostic[] = [];
  const list = Array.isArray(parsed) ? parsed : [];
  if (!Array.isArray(parsed)) {
    // An EmptyStream: a file with no documents at all.
    return { docs, diagnostics };
  }
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const p = lines.linePos(e.pos[0]);
        diagnostics.push({ file, line: p.line, col: p.col, message: `YAML syntax: ${firstLine(e.message)}` });
      }
      return;
    }
    // An empty document (e.g. a trailing ---) carries nothing: skip it silently.
    if (doc.contents === null) return;
    // Plain data only: a tag that makes a value other than a string, number, boolean, null, map or list (binary,
    // sets, timestamps, or a language's own objects) is refused, and so is its document.
    const tagged: Diagnostic[] = [];
    visit(doc, {
      Node(_key, node) {
        if (!node.tag || ALLOWED_TAGS.has(node.tag)) return;
        // The position of the tag itself: the node's range starts at its value, after the tag.
        let at = text.lastIndexOf('!', node.range?.[0] ?? 0);
        if (at > 0 && text[at - 1] === '!') at--;
        const p = lines.linePos(Math.max(at, 0));
        const shown = node.tag.replace(/^tag:yaml\.org,2002:/, '!!');
        tagged.push({
          file,
          line: p.line,
          col: p.col,
          message: `YAML tag ${shown} is not allowed: plain data only`,
        });
      },
    });
    if (tagged.length > 0) {
      diagnostics.push(...tagged);
      return;
    }
    // Aliases are expanded once, here, under a bound: a document whose aliases multiply past it (an "alias bomb")
    // is a diagnostic at its start, not an exception that ends the whole run.
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const p = lines.linePos(doc.range[0]);
      const why = err instanceof Error ? err.message : String(err);
      diagnostics.push({ file, line: p.line, col: p.col, message: `YAML aliases: ${why}` });
      return;
    }
    docs.push(new SourceDoc(file, doc, lines, index, value));
  });
  return { docs, diagnostics };
}

/** Alias uses a document may expand (the yaml library's guard against exponential expansion). */
const MAX_ALIAS_COUNT = 100;

const ALLOWED_TAGS = new Set(
  ['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`),
);

function firstLine(msg: string): string {
  return msg.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
