// Payloads as the codec-server protocol carries them: proto3 JSON, so `data` and every metadata value are base64
// strings. Strict: a value that is not base64 is refused, never decoded into garbage.
import type { Payload } from '@temporalio/common';
import { ApiError } from '../domain/api-error.ts';

export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

function fromBase64(s: string, where: string): Uint8Array {
  // The UI may send URL-safe base64; both alphabets mean the same bytes.
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  if (!BASE64.test(std)) throw new ApiError(400, 'bad_payload', `${where} is not base64`);
  return Buffer.from(std, 'base64');
}

export function payloadsFromJson(list: readonly JsonPayload[]): Payload[] {
  return list.map((p, i) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, fromBase64(v, `payloads[${i}].metadata.${k}`)]),
    ),
    data: fromBase64(p.data ?? '', `payloads[${i}].data`),
  }));
}

export function payloadsToJson(list: readonly Payload[]): JsonPayload[] {
  return list.map((p) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  }));
}
