// Maintenance windows of a rollout policy ("Sat 22:00-Sun 04:00" in an IANA time zone): parsing, whether they are
// open at an instant, and when one opens next. Pure and deterministic (an epoch ms in, an answer out) so it runs
// inside the workflow sandbox: it uses only Date's UTC arithmetic and Intl.DateTimeFormat with `timeZone` (V8's
// ICU, present in the sandbox) for the zone's offset at an instant. Windows are wall-clock times: across a
// daylight-saving change a window keeps its local start and end (its real length changes by the shift).

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const FULL_DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
const DAY_LABEL = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const MINUTE = 60_000;
const DAY_MIN = 24 * 60;
const WEEK_MIN = 7 * DAY_MIN;
const WEEK_MS = WEEK_MIN * MINUTE;

/** One window: its local start as minutes after Monday 00:00, and its length in (local) minutes. */
export interface MaintenanceWindow {
  text: string;
  start: number;
  length: number;
}

export type ParsedWindow = { ok: true; window: MaintenanceWindow } | { ok: false; error: string };

const WINDOW_RE = /^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*-\s*(?:([A-Za-z]+)\s+)?(\d{1,2}):(\d{2})\s*$/;

function dayIndex(name: string): number {
  const n = name.toLowerCase();
  const i = DAYS.indexOf(n as (typeof DAYS)[number]);
  return i >= 0 ? i : FULL_DAYS.indexOf(n as (typeof FULL_DAYS)[number]);
}

function minuteOf(h: string, m: string): number | undefined {
  const hh = Number(h);
  const mm = Number(m);
  if (hh > 23 || mm > 59) return undefined;
  return hh * 60 + mm;
}

/**
 * `DAY HH:MM-[DAY ]HH:MM`. Without an end day the window ends on its start day, or the next day when the end time
 * is before the start (`Wed 22:00-02:00` ends Thursday). The end is the first such moment after the start, so a
 * window may cross midnight and the week's end (`Sun 22:00-Mon 02:00`).
 */
export function parseWindow(text: string): ParsedWindow {
  const m = WINDOW_RE.exec(text);
  if (!m)
    return { ok: false, error: `"${text}" is not a window like "Sat 22:00-Sun 04:00" or "Wed 01:00-03:00"` };
  const startDay = dayIndex(m[1]!);
  if (startDay < 0) return { ok: false, error: `"${m[1]}" is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)` };
  const endDay = m[4] === undefined ? startDay : dayIndex(m[4]);
  if (endDay < 0) return { ok: false, error: `"${m[4]}" is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)` };
  const startMin = minuteOf(m[2]!, m[3]!);
  if (startMin === undefined) return { ok: false, error: `"${m[2]}:${m[3]}" is not a time (00:00 to 23:59)` };
  const endMin = minuteOf(m[5]!, m[6]!);
  if (endMin === undefined) return { ok: false, error: `"${m[5]}:${m[6]}" is not a time (00:00 to 23:59)` };
  const start = startDay * DAY_MIN + startMin;
  let end = endDay * DAY_MIN + endMin;
  if (m[4] === undefined && endMin < startMin) end += DAY_MIN;
  const length = (((end - start) % WEEK_MIN) + WEEK_MIN) % WEEK_MIN;
  if (length === 0) return { ok: false, error: `"${text}" has zero length: it ends when it starts` };
  return { ok: true, window: { text: text.trim(), start, length } };
}

/** Whether `zone` is a time zone this runtime knows (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at instant `t`, in ms (wall time minus UTC). */
export function zoneOffset(zone: string, t: number): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(t)))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return wall - (t - (((t % 1000) + 1000) % 1000));
}

/** The wall-clock time at `t` in `zone`, as a UTC-encoded epoch ms (read it with the Date UTC getters). */
function wallOf(zone: string, t: number): number {
  return t + zoneOffset(zone, t);
}

/** Minutes after Monday 00:00 of a UTC-encoded wall time. */
function weekMinute(wall: number): number {
  const d = new Date(wall);
  return ((d.getUTCDay() + 6) % 7) * DAY_MIN + d.getUTCHours() * 60 + d.getUTCMinutes();
}

/**
 * The first instant whose wall time in `zone` is `wall` or later: the wall time itself when it exists once, its
 * first occurrence when the clock goes back over it, and the moment the clock jumps past it when it is skipped.
 */
function instantOf(zone: string, wall: number): number {
  const before = zoneOffset(zone, wall - 2 * DAY_MIN * MINUTE);
  const after = zoneOffset(zone, wall + 2 * DAY_MIN * MINUTE);
  if (before === after) {
    const t = wall - before;
    const o = zoneOffset(zone, t);
    if (o === before) return t;
  }
  const candidates = [wall - before, wall - after].filter((t) => wallOf(zone, t) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  // Skipped (the clock jumped forward over it): find the jump, the first instant whose wall time is past `wall`.
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallOf(zone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function inWindow(w: MaintenanceWindow, minute: number): boolean {
  return (((minute - w.start) % WEEK_MIN) + WEEK_MIN) % WEEK_MIN < w.length;
}

/** The window open at `t`, if any (the first in the list). */
export function openWindow(
  windows: readonly MaintenanceWindow[],
  zone: string,
  t: number,
): MaintenanceWindow | undefined {
  const minute = weekMinute(wallOf(zone, t));
  return windows.find((w) => inWindow(w, minute));
}

export interface NextOpening {
  window: MaintenanceWindow;
  /** The instant it opens (epoch ms). */
  at: number;
  /** Its local start, e.g. "Sat 2026-03-28 22:00". */
  local: string;
}

/**
 * The first window to open after `t` (strictly), or undefined when none ever opens (every window lies in an hour
 * the clock skips). A window open at `t` counts from its next occurrence.
 */
export function nextOpening(
  windows: readonly MaintenanceWindow[],
  zone: string,
  t: number,
): NextOpening | undefined {
  const wallNow = wallOf(zone, t);
  const weekStart = wallNow - (wallNow % MINUTE) - weekMinute(wallNow) * MINUTE;
  let best: NextOpening | undefined;
  for (const w of windows) {
    for (let k = -1; k <= 2; k++) {
      const wall = weekStart + k * WEEK_MS + w.start * MINUTE;
      const at = instantOf(zone, wall);
      if (at <= t || (best && at >= best.at)) continue;
      // A window wholly inside a skipped hour never opens this time.
      if (!inWindow(w, weekMinute(wallOf(zone, at)))) continue;
      best = { window: w, at, local: localLabel(wall) };
    }
  }
  return best;
}

function localLabel(wall: number): string {
  const d = new Date(wall);
  const iso = d.toISOString();
  return `${DAY_LABEL[(d.getUTCDay() + 6) % 7]} ${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** Parsed windows of a policy; unparsable ones (the SoT's validation reports them) are left out. */
export function parseWindows(texts: readonly string[] | undefined): MaintenanceWindow[] {
  const out: MaintenanceWindow[] = [];
  for (const text of texts ?? []) {
    const p = parseWindow(text);
    if (p.ok) out.push(p.window);
  }
  return out;
}

export const DEFAULT_TIME_ZONE = 'UTC';

export interface WindowGate {
  open: boolean;
  /** When closed: the next opening. */
  next?: NextOpening;
}

/** Whether hosts under these windows may start at `t`; no windows means always open. */
export function windowGate(
  texts: readonly string[] | undefined,
  zone: string | undefined,
  t: number,
): WindowGate {
  const windows = parseWindows(texts);
  if (windows.length === 0) return { open: true };
  const tz = zone ?? DEFAULT_TIME_ZONE;
  if (openWindow(windows, tz, t)) return { open: true };
  const next = nextOpening(windows, tz, t);
  return { open: false, ...(next ? { next } : {}) };
}
