// A problem found in a SoT, pinned to a place an operator can open in an editor.
export interface Diagnostic {
  /** Path relative to the SoT root, with forward slashes. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  message: string;
}

/** One line per diagnostic, whatever the file is called: control characters in a name are shown escaped. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${escapeControls(d.file)}:${d.line}:${d.col}: ${escapeControls(d.message)}`;
}

/** `FILE:LINE:COL: warning: message`, the form compilers use, so editors list it beside the errors. */
export function formatWarning(d: Diagnostic): string {
  return formatDiagnostic({ ...d, message: `warning: ${d.message}` });
}

function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Stable order: by file, then position, then message; exact duplicates removed. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of diags) {
    const key = formatDiagnostic(d);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}
