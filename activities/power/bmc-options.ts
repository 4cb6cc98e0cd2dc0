// Typed reads of a BMC interface's free-form `options` (from the SoT). A wrong type is the operator's mistake
// in the SoT, so it fails at once (not retryable) and names the option.
import { BmcError } from './driver.ts';

type Options = Record<string, unknown>;

export function optString(o: Options, key: string, fallback: string): string;
export function optString(o: Options, key: string): string | undefined;
export function optString(o: Options, key: string, fallback?: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string')
    throw new BmcError(`BMC option ${key} must be a string, not ${JSON.stringify(v)}`, false);
  return v;
}

export function optNumber(o: Options, key: string, fallback: number): number {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new BmcError(`BMC option ${key} must be a non-negative number, not ${JSON.stringify(v)}`, false);
  }
  return v;
}

export function optBool(o: Options, key: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean')
    throw new BmcError(`BMC option ${key} must be true or false, not ${JSON.stringify(v)}`, false);
  return v;
}

export function optStringList(o: Options, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new BmcError(`BMC option ${key} must be a list of strings`, false);
  }
  return v as string[];
}
