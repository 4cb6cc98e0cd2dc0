// A directory with one entry per reference (e.g. a mounted Kubernetes secret, or files laid down by config
// management), re-read on each lookup:
//   <dir>/<ref>/username, <dir>/<ref>/password, … one file per field (a trailing newline is dropped)
//   <dir>/<ref>.yaml (or .yml)   a mapping of fields: { username: admin, password: "…" }
//   <dir>/<ref>                  KEY=VALUE lines of fields (username=admin) or one line "username:password"
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { Secret } from '../../domain/secret.ts';
import { SecretFormatError, secretField, secretFromFields, secretFromValue } from './secret.ts';
import type { SecretStore } from '../../domain/secret.ts';
import { checkReference } from './secret-store.ts';

export class DirSecretStore implements SecretStore {
  constructor(private readonly dir: string) {}

  async resolve(ref: string): Promise<Secret | undefined> {
    checkReference(ref);
    const base = path.join(this.dir, ref);
    const kind = await stat(base).then(
      (s) => (s.isDirectory() ? 'dir' : 'file'),
      () => undefined,
    );
    if (kind === 'dir') return this.fromFieldFiles(base, ref);
    if (kind === 'file') return fromPlainFile(await readFile(base, 'utf8'), `${this.dir}: ${ref}`);
    for (const ext of ['.yaml', '.yml']) {
      const text = await readFile(base + ext, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      let doc: unknown;
      try {
        doc = parse(text);
      } catch {
        throw new SecretFormatError(`${this.dir}: ${ref}${ext} is not valid YAML`);
      }
      if (typeof doc === 'string') return secretFromValue(doc);
      if (!doc || typeof doc !== 'object' || Array.isArray(doc))
        throw new SecretFormatError(`${this.dir}: ${ref}${ext} must be a mapping of fields`);
      return secretFromFields(doc as Record<string, unknown>, `${this.dir}: ${ref}${ext}`);
    }
    return undefined;
  }

  private async fromFieldFiles(base: string, ref: string): Promise<Secret | undefined> {
    const fields: Record<string, string> = {};
    for (const name of await readdir(base)) {
      // Kubernetes mounts keep their data in hidden ..data folders behind symlinks: only plain field names count.
      if (name.startsWith('.') || !secretField(name)) continue;
      fields[name] = (await readFile(path.join(base, name), 'utf8')).replace(/\r?\n$/, '');
    }
    return Object.keys(fields).length > 0 ? secretFromFields(fields, `${this.dir}: ${ref}/`) : undefined;
  }

  describe(ref: string): string {
    return `directory ${path.join(this.dir, ref)}{/,.yaml,.yml}`;
  }
}

function fromPlainFile(text: string, where: string): Secret {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 1 && !/^[A-Za-z_]+=/.test(lines[0]!)) return secretFromValue(lines[0]!);
  const fields: Record<string, string> = {};
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0)
      throw new SecretFormatError(`${where}: expected field=value lines or one "username:password" line`);
    fields[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return secretFromFields(fields, where);
}
