// The secret store of an agent (or a dev stack) from its configuration: an explicit file and/or directory,
// then the environment. VAQUERO_SECRETS_FILE and VAQUERO_SECRETS_DIR name them when no option does.
import { ChainSecretStore } from './secret-store.ts';
import type { SecretStore } from '../../domain/secret.ts';
import { DirSecretStore } from './dir-secret-store.ts';
import { EnvSecretStore } from './env-secret-store.ts';
import { FileSecretStore } from './file-secret-store.ts';

export interface SecretStoreConfig {
  file?: string;
  dir?: string;
  /** Consult VAQUERO_SECRET_* variables (default true). */
  useEnv?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function createSecretStore(cfg: SecretStoreConfig = {}): SecretStore {
  const env = cfg.env ?? process.env;
  const file = cfg.file ?? env.VAQUERO_SECRETS_FILE;
  const dir = cfg.dir ?? env.VAQUERO_SECRETS_DIR;
  return new ChainSecretStore([
    ...(dir ? [new DirSecretStore(dir)] : []),
    ...(file ? [new FileSecretStore(file)] : []),
    ...(cfg.useEnv === false ? [] : [new EnvSecretStore(env)]),
  ]);
}
