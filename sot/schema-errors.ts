// Turns schema-library issues into operator-facing diagnostics, each pointing at the offending YAML node.
import type { z } from 'zod';
import type { Diagnostic } from './diagnostics.ts';
import type { SourceDoc, YamlPath } from './source-doc.ts';

/** Field names that must never carry a secret in a SoT. */
export const SECRET_FIELD = /^(password|passwd|pass|secret|token|api_key|apikey)$/i;
export const SECRET_MESSAGE =
  'a BMC secret must not be in the SoT: name a credentials reference (credentials: NAME) resolved by the agent';

export function fieldName(path: YamlPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out || '(document)';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `string "${v.length > 40 ? v.slice(0, 37) + '...' : v}"`;
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

export function issuesToDiagnostics(
  src: SourceDoc,
  data: unknown,
  issues: readonly z.core.$ZodIssue[],
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const here = fieldName(path);
    const value = valueAt(data, issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const keyPath = [...path, key];
          const msg = SECRET_FIELD.test(key)
            ? `${fieldName(keyPath)}: ${SECRET_MESSAGE}`
            : `unknown field "${fieldName(keyPath)}"`;
          out.push(src.diag(keyPath, msg, { key: true }));
        }
        break;
      case 'invalid_type':
        if (value === undefined) {
          out.push(src.diag(path.slice(0, -1), `missing required field "${here}"`));
        } else {
          out.push(
            src.diag(
              path,
              `"${here}" must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(value)}`,
            ),
          );
        }
        break;
      case 'invalid_value':
        out.push(
          src.diag(
            path,
            `"${here}" must be ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describe(value)}`,
          ),
        );
        break;
      case 'invalid_union': {
        // A discriminated union: the path already ends at the discriminator; list the allowed values.
        const u = issue as { discriminator?: string; options?: unknown[] };
        if (u.discriminator) {
          const allowed = (u.options ?? []).map((o) => JSON.stringify(o)).join(', ');
          out.push(
            value === undefined
              ? src.diag(path.slice(0, -1), `missing required field "${here}" (one of ${allowed})`)
              : src.diag(path, `"${here}" must be ${allowed}; got ${describe(value)}`),
          );
        } else {
          out.push(src.diag(path, `"${here}" has an unexpected form (got ${describe(value)})`));
        }
        break;
      }
      case 'too_small':
        out.push(
          src.diag(
            path,
            issue.origin === 'array'
              ? `"${here}" must have at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`
              : issue.origin === 'string'
                ? `"${here}" must not be empty`
                : `"${here}" must be at least ${issue.minimum}, got ${describe(value)}`,
          ),
        );
        break;
      case 'too_big':
        out.push(src.diag(path, `"${here}" must be at most ${issue.maximum}, got ${describe(value)}`));
        break;
      default:
        out.push(src.diag(path, `"${here}": ${issue.message}`));
    }
  }
  return out;
}
