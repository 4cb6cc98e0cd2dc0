// One secret as an agent's secret store holds it, and the parsing shared by every store. A secret holds a
// username and password (IPMI, Redfish basic auth or sessions, ssh), a token (Redfish, a container BMC),
// and/or a private key (ssh). Error messages name fields and references, never values.
import type { Secret } from '../../domain/secret.ts';

export class SecretFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretFormatError';
  }
}

const FIELDS: Record<string, keyof Secret> = {
  username: 'username',
  user: 'username',
  password: 'password',
  token: 'token',
  private_key: 'privateKey',
  privatekey: 'privateKey',
};

/** The Secret field a key names (`username`, `password`, `token`, `private_key`), case-insensitive. */
export function secretField(key: string): keyof Secret | undefined {
  return FIELDS[key.toLowerCase()];
}

/** A mapping of field → string (from YAML, a KEY=VALUE file or a directory of files). */
export function secretFromFields(fields: Record<string, unknown>, where: string): Secret {
  const out: Secret = {};
  for (const [key, value] of Object.entries(fields)) {
    const field = secretField(key);
    if (!field)
      throw new SecretFormatError(
        `${where}: unknown field "${key}" (use username, password, token, private_key)`,
      );
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new SecretFormatError(`${where}: field "${key}" must be a string`);
    out[field] = String(value);
  }
  if (Object.keys(out).length === 0) throw new SecretFormatError(`${where}: empty secret`);
  return out;
}

/** The one-value form: `username:password` (split at the first colon), or a token when there is no colon. */
export function secretFromValue(value: string): Secret {
  const v = value.replace(/\r?\n$/, '');
  const colon = v.indexOf(':');
  return colon > 0 ? { username: v.slice(0, colon), password: v.slice(colon + 1) } : { token: v };
}

/** The environment variable stem for a reference: `lab-bmc` → `VAQUERO_SECRET_LAB_BMC`. */
export function envName(ref: string): string {
  return `VAQUERO_SECRET_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
