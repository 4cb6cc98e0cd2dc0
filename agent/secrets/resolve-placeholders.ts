// Swaps the secret placeholders of a rendered config (`{{ "join-token" | secret }}` in its template) for values from
// the agent's secret store, at the moment the config is served to its host: the value lives only in this answer.
import { SECRET_PLACEHOLDER } from '../../domain/secret.ts';
import type { SecretField, SecretStore } from '../../domain/secret.ts';

export class MissingSecretError extends Error {
  constructor(
    readonly ref: string,
    readonly field: SecretField,
    where: string,
  ) {
    super(`secret ${ref} (${field}) not found in ${where}`);
    this.name = 'MissingSecretError';
  }
}

/** The text with every placeholder resolved; a reference the store lacks is an error naming it (never a value). */
export async function resolveSecretPlaceholders(
  text: string,
  store: SecretStore | undefined,
): Promise<string> {
  const wanted = [...text.matchAll(SECRET_PLACEHOLDER)].map((m) => ({
    ref: m[1]!,
    field: m[2] as SecretField,
  }));
  if (wanted.length === 0) return text;
  const values = new Map<string, string>();
  for (const { ref, field } of wanted) {
    const key = `${ref}:${field}`;
    if (values.has(key)) continue;
    const value = store ? (await store.resolve(ref))?.[field] : undefined;
    if (value === undefined)
      throw new MissingSecretError(ref, field, store?.describe(ref) ?? 'no secret store');
    values.set(key, value);
  }
  return text.replace(SECRET_PLACEHOLDER, (_m, ref: string, field: string) => values.get(`${ref}:${field}`)!);
}
