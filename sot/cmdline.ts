// The kernel command line: how SoT entries become `k`/`k=v` words, and which words are refused. The line ends
// up on an iPXE `kernel` line, so a word must be safe for iPXE's tokenizer as well as for the kernel's parser.

/** iPXE tokens that end a command (core/exec.c): they would let a SoT value chain arbitrary iPXE commands. */
const IPXE_TERMINATORS = new Set(['||', '&&', ';']);

/** `k=v` for a map entry's key and (rendered) value; a null value is the bare key. */
export function mapEntryText(key: string, value: string | null): string {
  return value === null ? key : `${key}=${value}`;
}

/**
 * Why `word` cannot be a kernel command-line entry, or undefined when it can. Whitespace is only allowed inside
 * double quotes (the kernel's own quoting, e.g. `k="a b"`), and then only single spaces: iPXE splits its line
 * on whitespace and re-joins the words with one space, so anything else would not reach the kernel as written.
 */
export function cmdlineEntryProblem(word: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(word)) {
    return /[\r\n]/.test(word)
      ? 'contains a newline (it would start a new iPXE command)'
      : 'contains a control character';
  }
  let quoted = false;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (c === '"') quoted = !quoted;
    else if (/\s/.test(c)) {
      if (!quoted) return 'contains whitespace; quote the value as the kernel expects (k="a b")';
      if (word[i + 1] === ' ') return 'contains repeated spaces, which iPXE would collapse into one';
    }
  }
  if (quoted) return 'has an unbalanced double quote';
  if (word.includes('${')) return 'contains "${", which iPXE would expand as a setting';
  for (const token of word.split(' ')) {
    if (token.startsWith('#')) return `contains the word "${token}", which iPXE would read as a comment`;
    if (IPXE_TERMINATORS.has(token))
      return `contains "${token}", which iPXE would read as a command separator`;
  }
  return undefined;
}

/** Entries in order, repeated keys kept, joined by single spaces; empty entries (a template that chose to
 *  render nothing) are dropped so that they leave no double space behind. */
export function joinCmdline(words: readonly string[]): string {
  return words.filter((w) => w !== '').join(' ');
}
