// A secret and where it is resolved. The SoT and workflow history hold only references (e.g. `credentials: lab-bmc`);
// the agent's stores (agent/secrets) resolve one just before a BMC call and keep it in memory for that call only.

export interface Secret {
  username?: string;
  password?: string;
  token?: string;
  /** PEM, for the ssh driver. */
  privateKey?: string;
}

export interface SecretStore {
  /** The secret a reference names, or undefined when this store does not know it. */
  resolve(ref: string): Promise<Secret | undefined>;
  /** Where this store looks for `ref` (for "not found" messages; never shows a value). */
  describe(ref: string): string;
}

/** Which part of a secret a template reference means: `token` by default (join tokens, API keys). */
export type SecretField = 'token' | 'password' | 'username' | 'privateKey';
export const SECRET_FIELDS: readonly SecretField[] = ['token', 'password', 'username', 'privateKey'];

/** A reference name as the agent's stores take it (agent/secrets/secret-store.ts checks the same). */
export const SECRET_REF = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * What `{{ "join-token" | secret }}` renders to: a placeholder, so the rendered config in workflow history names
 * the secret but never holds it; the agent swaps in the value as it serves the config to its host.
 */
export function secretPlaceholder(ref: string, field: SecretField = 'token'): string {
  return `@@vaquero-secret:${ref}:${field}@@`;
}

/** Every placeholder in a text: ref in group 1, field in group 2. */
export const SECRET_PLACEHOLDER =
  /@@vaquero-secret:([A-Za-z0-9][A-Za-z0-9_.-]*):(token|password|username|privateKey)@@/g;
