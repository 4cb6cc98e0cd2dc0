// Where an agent finds the secret a credentials reference names. The SoT only ever holds the reference (e.g.
// `credentials: lab-bmc`); each agent resolves it from its own stores, just before a BMC call, and keeps the
// secret in memory for that call only. Stores (see README.md in this folder for the formats):
//   file  one file of every secret: YAML (`*.yaml`/`*.yml`) or KEY=VALUE lines (any other name)
//   dir   a directory with one entry per reference: a file `<ref>`/`<ref>.yaml` or a folder `<ref>/` of field files
//   env   VAQUERO_SECRET_<REF> (`username:password` or a token) and VAQUERO_SECRET_<REF>_<FIELD>
// Several stores are consulted in the order given; the first that knows the reference wins.
import type { Secret, SecretStore } from '../../domain/secret.ts';

export class ChainSecretStore implements SecretStore {
  constructor(private readonly stores: readonly SecretStore[]) {}

  async resolve(ref: string): Promise<Secret | undefined> {
    for (const s of this.stores) {
      const found = await s.resolve(ref);
      if (found) return found;
    }
    return undefined;
  }

  describe(ref: string): string {
    return this.stores.length > 0
      ? this.stores.map((s) => s.describe(ref)).join(', ')
      : 'no secret store configured';
  }
}

/** References name secrets in files and variables: keep them to safe characters (no paths). */
export function checkReference(ref: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ref) || ref.includes('..')) {
    throw new Error(`credentials reference "${ref}" is not a plain name (letters, digits, . _ -)`);
  }
}
