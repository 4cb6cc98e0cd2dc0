// Every secret of an agent in one file, re-read on each lookup so a rotated secret applies at once.
//   *.yaml / *.yml:  lab-bmc: { username: admin, password: "…" }   or   lab-bmc: "admin:…"
//   anything else:   lab-bmc=admin:…   or   lab-bmc.username=admin / lab-bmc.password=… (one per line, # comments)
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { Secret } from '../../domain/secret.ts';
import { SecretFormatError, secretField, secretFromFields, secretFromValue } from './secret.ts';
import type { SecretStore } from '../../domain/secret.ts';
import { checkReference } from './secret-store.ts';

export class FileSecretStore implements SecretStore {
  constructor(private readonly file: string) {}

  async resolve(ref: string): Promise<Secret | undefined> {
    checkReference(ref);
    const text = await readFile(this.file, 'utf8');
    return /\.ya?ml$/i.test(this.file) ? fromYaml(text, ref, this.file) : fromKeyValue(text, ref, this.file);
  }

  describe(): string {
    return `file ${this.file}`;
  }
}

export function fromYaml(text: string, ref: string, where: string): Secret | undefined {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // The YAML error quotes the offending line, which may hold a secret: report only where it is.
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new SecretFormatError(`${where}: not valid YAML${line ? ` (line ${line})` : ''}`);
  }
  if (doc === null || doc === undefined) return undefined;
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new SecretFormatError(`${where}: expected a mapping of reference → secret`);
  const v = (doc as Record<string, unknown>)[ref];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return secretFromValue(v);
  if (typeof v === 'object' && !Array.isArray(v))
    return secretFromFields(v as Record<string, unknown>, `${where}: ${ref}`);
  throw new SecretFormatError(`${where}: ${ref} must be a mapping or a "username:password" string`);
}

export function fromKeyValue(text: string, ref: string, where: string): Secret | undefined {
  let out: Secret | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new SecretFormatError(`${where}:${i + 1}: expected KEY=VALUE`);
    const key = line.slice(0, eq).trim();
    const value = unquote(line.slice(eq + 1).trim());
    if (key === ref) {
      out = { ...out, ...secretFromValue(value) };
    } else if (key.startsWith(`${ref}.`)) {
      const field = secretField(key.slice(ref.length + 1));
      if (!field)
        throw new SecretFormatError(
          `${where}:${i + 1}: unknown field in "${key}" (use username, password, token, private_key)`,
        );
      out = { ...out, [field]: value.replace(/\\n/g, '\n') };
    }
  }
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))
    ? v.slice(1, -1)
    : v;
}
