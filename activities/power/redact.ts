// Defence in depth for credentials: whatever a BMC or a library puts in an error message (a URL with a
// password, an echoed header) is scrubbed of the secret, and of its usual encodings, before the message can
// reach a log, an activity failure or workflow history.
import type { Secret } from '../../domain/secret.ts';

/** The strings that must never leave the agent for this secret (the username alone is not secret). */
export function secretNeedles(s: Secret | undefined): string[] {
  if (!s) return [];
  const raw = [s.password, s.token, s.privateKey].filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
  const out = new Set<string>();
  for (const v of raw) {
    out.add(v);
    out.add(encodeURIComponent(v));
    out.add(Buffer.from(v).toString('base64'));
  }
  if (s.username !== undefined && s.password)
    out.add(Buffer.from(`${s.username}:${s.password}`).toString('base64'));
  // Very short secrets would blank out ordinary words; they are weak anyway, and still never logged by us.
  return [...out].filter((n) => n.length >= 4).sort((a, b) => b.length - a.length);
}

export function redact(text: string, needles: readonly string[]): string {
  let out = text;
  for (const n of needles) out = out.split(n).join('***');
  return out;
}
