// RFC 2347 option negotiation for read requests: blksize (RFC 2348), tsize and timeout (RFC 2349), windowsize
// (RFC 7440). Only options we understand and accept go into the OACK; anything else is ignored, which RFC 2347
// allows and which makes the client fall back to the defaults for it.

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;
/** A client asking for a longer timeout than this would pin a transfer slot for minutes; we leave it unacknowledged. */
export const MAX_TIMEOUT_S = 30;

export interface Limits {
  maxBlksize: number;
  maxWindowsize: number;
  /** Timeout used when the client does not negotiate one. */
  timeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** OACK entries in the order the client sent them; empty means "no OACK, send DATA 1 directly". */
  oack: Array<[string, string]>;
}

/** Strict decimal: RFC 2347 values are ASCII digits; anything else ("1e3", "+5", " 5") is not a number here. */
function decimal(value: string): number | undefined {
  return /^[0-9]{1,10}$/.test(value) ? Number(value) : undefined;
}

export function negotiate(requested: ReadonlyMap<string, string>, size: number, limits: Limits): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: limits.timeoutMs, oack: [] };
  for (const [name, raw] of requested) {
    const value = decimal(raw);
    if (value === undefined) continue;
    switch (name) {
      case 'blksize':
        // RFC 2348: 8..65464; the server may answer with a smaller value than asked, never a larger one.
        if (value < MIN_BLKSIZE) break;
        out.blksize = Math.min(value, limits.maxBlksize, MAX_BLKSIZE);
        out.oack.push([name, String(out.blksize)]);
        break;
      case 'tsize':
        // RFC 2349: on a read request the client sends 0 and the server answers with the size. An empty file's
        // "tsize 0" is left out: curl rejects it as invalid (exit 71), and without it curl just reads to the end.
        if (size > 0) out.oack.push([name, String(size)]);
        break;
      case 'timeout':
        // RFC 2349: 1..255 seconds, echoed unchanged if accepted.
        if (value < 1 || value > 255 || value > MAX_TIMEOUT_S) break;
        out.timeoutMs = value * 1000;
        out.oack.push([name, String(value)]);
        break;
      case 'windowsize':
        // RFC 7440: 1..65535; the server may lower it.
        if (value < 1 || value > MAX_WINDOWSIZE) break;
        out.windowsize = Math.min(value, limits.maxWindowsize);
        out.oack.push([name, String(out.windowsize)]);
        break;
      default:
        break;
    }
  }
  return out;
}
