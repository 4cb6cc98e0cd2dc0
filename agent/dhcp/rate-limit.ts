// Admission: a cap on all packets and a cap per client, so a flood (or a looping client) costs a bounded amount
// of work and memory.
//
// The total is a token bucket (refilled continuously at the cap, holding at most one second's worth): a burst of
// up to a second's budget is admitted at once, and after it the budget comes back as time passes. A fixed
// one-second window would instead refuse everything for the rest of the second a burst started in (a rack
// powering on, then the next clients' DISCOVERs dropped although the agent sat idle) and admit twice the cap
// across a window boundary.
//
// The per-client counts live in a one-second window whose map is cleared at each roll, so it never holds more
// keys than the total cap admits in a second.

export class PacketAdmission {
  private tokens: number;
  private refilledAt: number;
  private windowStart: number;
  private readonly perKey = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerKey: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = maxTotal;
    this.refilledAt = now();
    this.windowStart = this.refilledAt;
  }

  /** Counts one packet against the total; false when the budget is spent. */
  admit(): boolean {
    const t = this.now();
    if (t > this.refilledAt) {
      this.tokens = Math.min(this.maxTotal, this.tokens + ((t - this.refilledAt) * this.maxTotal) / 1000);
      this.refilledAt = t;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Counts one packet against `key`; false when that key's budget for this second is spent. */
  admitKey(key: string): boolean {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.perKey.clear();
    }
    const n = this.perKey.get(key) ?? 0;
    if (n >= this.maxPerKey) return false;
    this.perKey.set(key, n + 1);
    return true;
  }
}
