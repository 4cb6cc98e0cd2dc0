// "file:line:col" of a YAML node, for messages that point from one place to another (the first of duplicates).
import type { SourceDoc, YamlPath } from './source-doc.ts';

export function where(src: SourceDoc, path: YamlPath, opts: { key?: boolean } = {}): string {
  const p = src.pos(path, opts);
  return `${src.file}:${p.line}:${p.col}`;
}
