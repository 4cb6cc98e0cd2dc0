// The payload codec: every payload leaves the process as AES-256-GCM ciphertext of the whole original payload
// (data and metadata), so Temporal stores nothing readable. A payload names its key id in clear metadata:
// encryption uses the current key, decryption any listed key (rotation). Payloads without our encoding pass
// through untouched, so histories written before the codec (and the replay corpus) still decode.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { CodecKey } from './codec-keys.ts';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// CommonJS package: its namespace comes through the default export under ESM.
const ProtoPayload = proto.temporal.api.common.v1.Payload;

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: CodecKey;

  /** keys[0] encrypts; every key decrypts. */
  constructor(keys: readonly CodecKey[]) {
    if (keys.length === 0) throw new Error('payload codec: no keys');
    this.current = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  // async: a bad payload is a rejected promise, never a synchronous throw, whoever calls.
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  private encrypt(payload: Payload): Payload {
    const plain = ProtoPayload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    // The key id is authenticated too: a payload relabelled with another key id fails to decrypt.
    cipher.setAAD(encoder.encode(this.current.id));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return {
      metadata: {
        encoding: encoder.encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: encoder.encode(this.current.id),
      },
      data: Buffer.concat([iv, body, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding;
    if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const rawId = payload.metadata?.[KEY_ID_METADATA];
    if (!rawId)
      throw new Error(`payload codec: an encrypted payload names no key (${KEY_ID_METADATA} missing)`);
    const id = decoder.decode(rawId);
    const key = this.byId.get(id);
    if (!key) throw new Error(`payload encrypted with key ${id}, not in keys [${this.keyIds.join(', ')}]`);
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES)
      throw new Error(`payload codec: encrypted payload (key ${id}) is truncated`);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(encoder.encode(id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new Error(
        `payload codec: payload does not authenticate under key ${id} (the key given as ${id} is not the one that encrypted it, or the payload was altered)`,
      );
    }
    return ProtoPayload.decode(plain);
  }
}
