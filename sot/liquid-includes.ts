// Finds the snippets a template pulls in ({% include 'x' %}, {% render 'x' %}), with the position of each tag,
// using LiquidJS's own tokenizer so that quoting, {% raw %} and {% liquid %} blocks are read as LiquidJS reads them.
import { TagToken, Tokenizer, defaultOptions } from 'liquidjs';

export interface IncludeRef {
  /** The snippet name as written (without quotes). */
  name: string;
  tag: 'include' | 'render';
  /** 1-based position of the tag's `{%` (or of the line inside a {% liquid %} block). */
  line: number;
  col: number;
}

const PARTIAL_TAGS = new Set(['include', 'render']);
const QUOTED = /^(['"])(.*?)\1/;

/**
 * Static includes of a template. Names built at render time (a variable, or a quoted name holding `{{ }}`)
 * cannot be checked here and are left out, as is everything when the template does not even tokenize: the
 * renderer reports that, with its position, for the hosts that use it.
 */
export function findIncludes(text: string): IncludeRef[] {
  let tokens;
  try {
    tokens = new Tokenizer(text, defaultOptions.operators).readTopLevelTokens(defaultOptions);
  } catch {
    return [];
  }
  const out: IncludeRef[] = [];
  let inComment = false;
  for (const token of tokens) {
    if (!(token instanceof TagToken)) continue;
    // As in LiquidJS, a comment runs to the first endcomment; nothing inside it is rendered.
    if (inComment) {
      if (token.name === 'endcomment') inComment = false;
      continue;
    }
    if (token.name === 'comment') {
      inComment = true;
    } else if (token.name === 'liquid') {
      out.push(...liquidBlockIncludes(text, token));
    } else {
      const ref = partialRef(token.name, token.args, token.getPosition());
      if (ref) out.push(ref);
    }
  }
  return out;
}

/** The tags of a {% liquid %} block are one per line, without delimiters. */
function liquidBlockIncludes(text: string, block: TagToken): IncludeRef[] {
  const out: IncludeRef[] = [];
  const range: [number, number] = [block.tokenizer.p, block.contentRange[1]];
  let lines;
  try {
    lines = new Tokenizer(text, defaultOptions.operators, undefined, range).readLiquidTagTokens(
      defaultOptions,
    );
  } catch {
    return out;
  }
  let inComment = false;
  for (const t of lines) {
    if (inComment) {
      if (t.name === 'endcomment') inComment = false;
      continue;
    }
    if (t.name === 'comment') inComment = true;
    const ref = partialRef(t.name, t.args, t.getPosition());
    if (ref) out.push(ref);
  }
  return out;
}

function partialRef(tag: string, args: string, pos: number[]): IncludeRef | undefined {
  if (!PARTIAL_TAGS.has(tag)) return undefined;
  const m = QUOTED.exec(args.trim());
  if (!m) return undefined;
  const name = m[2]!;
  if (name.includes('{{') || name.includes('{%')) return undefined;
  return { name, tag: tag as IncludeRef['tag'], line: pos[0]!, col: pos[1]! };
}
