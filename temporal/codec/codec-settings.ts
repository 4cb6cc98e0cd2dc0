// What a program's config says about the payload codec: keys (references; the first is current), or off. Read
// from a config file section, or from the environment (VAQUERO_CODEC_KEYS, VAQUERO_CODEC=off) by programs that
// have no file; turned into the DataConverter every client and worker of that program is given.
import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec } from './aes-gcm-codec.ts';
import { loadCodecKeys } from './codec-keys.ts';
import type { CodecKeyRef } from './codec-keys.ts';

export type CodecSettings = { off: true } | { keys: CodecKeyRef[] };

export interface LoadedCodec {
  settings: CodecSettings;
  dataConverter: DataConverter;
  /** Key ids, current first; empty when off. */
  keyIds: string[];
  codec?: AesGcmCodec;
}

export const CODEC_ENV_HINT =
  'set VAQUERO_CODEC_KEYS=ID=file:PATH or ID=env:NAME (comma-separated, current key first), or VAQUERO_CODEC=off to send payloads in clear';

/**
 * VAQUERO_CODEC=off, or VAQUERO_CODEC_KEYS like `k2=file:/run/secrets/k2,k1=env:VAQUERO_CODEC_K1` (current
 * first). Undefined when neither is set: the caller decides (a dev key, or an error).
 */
export function codecSettingsFromEnv(env: NodeJS.ProcessEnv): CodecSettings | undefined {
  const mode = env.VAQUERO_CODEC?.trim().toLowerCase();
  const list = env.VAQUERO_CODEC_KEYS?.trim();
  if (mode === 'off' || mode === 'false' || mode === '0') {
    if (list)
      throw new Error('payload codec: VAQUERO_CODEC=off and VAQUERO_CODEC_KEYS are both set; choose one');
    return { off: true };
  }
  if (mode && mode !== 'on' && mode !== 'true' && mode !== '1') {
    throw new Error(`payload codec: VAQUERO_CODEC=${env.VAQUERO_CODEC} is neither on nor off`);
  }
  if (!list) {
    if (mode)
      throw new Error(`payload codec: VAQUERO_CODEC=${env.VAQUERO_CODEC} but no keys: ${CODEC_ENV_HINT}`);
    return undefined;
  }
  const keys = list.split(',').map((item): CodecKeyRef => {
    const m = /^\s*([^=\s]+)\s*=\s*(file|env):(.+?)\s*$/.exec(item);
    if (!m)
      throw new Error(
        `payload codec: VAQUERO_CODEC_KEYS item ${JSON.stringify(item)} is not ID=file:PATH or ID=env:NAME`,
      );
    return m[2] === 'file' ? { id: m[1]!, file: m[3]! } : { id: m[1]!, env: m[3]! };
  });
  return { keys };
}

/** The environment form of settings, for a child process (a server, a worker) that must use the same keys. */
export function codecSettingsToEnv(settings: CodecSettings): Record<string, string> {
  if ('off' in settings) return { VAQUERO_CODEC: 'off', VAQUERO_CODEC_KEYS: '' };
  return {
    VAQUERO_CODEC: '',
    VAQUERO_CODEC_KEYS: settings.keys
      .map((k) => (k.file !== undefined ? `${k.id}=file:${k.file}` : `${k.id}=env:${k.env}`))
      .join(','),
  };
}

export async function loadCodec(
  settings: CodecSettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedCodec> {
  if ('off' in settings) return { settings, dataConverter: {}, keyIds: [] };
  const codec = new AesGcmCodec(await loadCodecKeys(settings.keys, env));
  return { settings, dataConverter: { payloadCodecs: [codec] }, keyIds: codec.keyIds, codec };
}

/** For logs and `--check`: which keys, never their bytes. */
export function describeCodec(c: LoadedCodec): string {
  return c.keyIds.length === 0
    ? 'payloads in clear (codec off)'
    : `payloads encrypted (AES-256-GCM, keys ${c.keyIds.join(', ')}; current ${c.keyIds[0]})`;
}
