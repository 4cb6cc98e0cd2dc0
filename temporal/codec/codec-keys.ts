// Payload codec keys, given by reference only (a file, or an environment variable), never inline in a config.
// A key is 32 bytes for AES-256: a file holds them raw, or as 64 hex digits or base64 text; a variable as text.
import { readFile } from 'node:fs/promises';

export interface CodecKeyRef {
  /** Written into each payload's metadata, so a payload names the key that can open it. */
  id: string;
  file?: string | undefined;
  env?: string | undefined;
}

export interface CodecKey {
  id: string;
  key: Buffer;
}

export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Reads every listed key; the first is the one new payloads are encrypted with. */
export async function loadCodecKeys(
  refs: readonly CodecKeyRef[],
  env: NodeJS.ProcessEnv,
): Promise<CodecKey[]> {
  if (refs.length === 0)
    throw new Error('payload codec: enabled with no keys (list at least one, or turn it off)');
  const seen = new Set<string>();
  const keys: CodecKey[] = [];
  for (const ref of refs) {
    if (!KEY_ID.test(ref.id))
      throw new Error(`payload codec: key id ${JSON.stringify(ref.id)} is not [A-Za-z0-9._-]{1,64}`);
    if (seen.has(ref.id)) throw new Error(`payload codec: key id ${ref.id} is listed twice`);
    seen.add(ref.id);
    keys.push({ id: ref.id, key: await readKey(ref, env) });
  }
  return keys;
}

async function readKey(ref: CodecKeyRef, env: NodeJS.ProcessEnv): Promise<Buffer> {
  if ((ref.file === undefined) === (ref.env === undefined)) {
    throw new Error(`payload codec: key ${ref.id} needs exactly one of file or env`);
  }
  if (ref.file !== undefined) {
    let raw: Buffer;
    try {
      raw = await readFile(ref.file);
    } catch (err) {
      throw new Error(
        `payload codec: cannot read key ${ref.id} from ${ref.file}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    return parseKey(raw, `key ${ref.id} (file ${ref.file})`);
  }
  const value = env[ref.env!];
  if (!value) throw new Error(`payload codec: key ${ref.id}: environment variable ${ref.env} is not set`);
  return parseKey(Buffer.from(value, 'utf8'), `key ${ref.id} (env ${ref.env})`);
}

/**
 * Text first (64 hex digits, or base64 of 32 bytes), then 32 raw bytes. Text is tried first so that a 32-character
 * password or a short hex key is refused rather than taken as raw bytes. Never padded or truncated.
 */
export function parseKey(raw: Buffer, what: string): Buffer {
  const text = raw.toString('utf8').trim();
  const hint = `AES-256 needs ${KEY_BYTES} bytes: ${KEY_BYTES * 2} hex digits, base64, or ${KEY_BYTES} raw bytes (\`openssl rand -hex ${KEY_BYTES}\` makes one)`;
  if (/^[0-9a-fA-F]+$/.test(text)) {
    if (text.length === KEY_BYTES * 2) return Buffer.from(text, 'hex');
    throw new Error(
      `payload codec: ${what} is not a ${KEY_BYTES}-byte key: ${text.length} hex digits; ${hint}`,
    );
  }
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === KEY_BYTES) return b;
    throw new Error(
      `payload codec: ${what} is not a ${KEY_BYTES}-byte key: ${b.length} bytes of base64; ${hint}`,
    );
  }
  if (raw.length === KEY_BYTES) return Buffer.from(raw);
  throw new Error(`payload codec: ${what} is not a ${KEY_BYTES}-byte key (${raw.length} bytes); ${hint}`);
}
