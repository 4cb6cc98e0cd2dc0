// Per-second admission: a cap on all packets and a cap per client, so a flood (or a looping client) costs a
// bounded amount of work and memory. The per-client map is cleared every window, so it never holds more
// keys than the total cap admits.

export class RateWindow {
  private windowStart = 0;
  private total = 0;
  private readonly perKey = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerKey: number,
    private readonly now: () => number = Date.now,
  ) {}

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.total = 0;
      this.perKey.clear();
    }
  }

  /** Counts one packet against the total; false when this second's budget is spent. */
  admit(): boolean {
    this.roll();
    if (this.total >= this.maxTotal) return false;
    this.total++;
    return true;
  }

  /** Counts one packet against `key`; false when that key's budget for this second is spent. */
  admitKey(key: string): boolean {
    this.roll();
    const n = this.perKey.get(key) ?? 0;
    if (n >= this.maxPerKey) return false;
    this.perKey.set(key, n + 1);
    return true;
  }
}
