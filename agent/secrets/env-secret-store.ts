// Secrets from the agent's environment: VAQUERO_SECRET_<REF>=username:password (or a token), and/or
// VAQUERO_SECRET_<REF>_USERNAME, _PASSWORD, _TOKEN, _PRIVATE_KEY, which win over the one-value form.
import type { Secret } from '../../domain/secret.ts';
import { envName, secretFromValue } from './secret.ts';
import type { SecretStore } from '../../domain/secret.ts';
import { checkReference } from './secret-store.ts';

const SUFFIXES: [string, keyof Secret][] = [
  ['USERNAME', 'username'],
  ['PASSWORD', 'password'],
  ['TOKEN', 'token'],
  ['PRIVATE_KEY', 'privateKey'],
];

export class EnvSecretStore implements SecretStore {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async resolve(ref: string): Promise<Secret | undefined> {
    checkReference(ref);
    const stem = envName(ref);
    const whole = this.env[stem];
    const out: Secret = whole !== undefined && whole !== '' ? secretFromValue(whole) : {};
    for (const [suffix, field] of SUFFIXES) {
      const v = this.env[`${stem}_${suffix}`];
      if (v !== undefined && v !== '') out[field] = v;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  describe(ref: string): string {
    return `environment ${envName(ref)}[_USERNAME|_PASSWORD|_TOKEN|_PRIVATE_KEY]`;
  }
}
