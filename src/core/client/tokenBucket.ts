// The client's pacing of its own sends below the relay's rate (docs/protocol.md §1.7: a token
// bucket per connection, 100 sends a second, burst 200): a bucket of `burst` tokens refilled at
// `rate` a second, one token a send. Link rooms pace a file's chunks with it (sender.ts,
// §2.3.5), private rooms every message and part (privateRoom.ts, §3.3), so that a file never
// trips `rate_limited`. `rate` 0 (or less) paces nothing.

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /**
   * Takes `n` tokens for sends that go together (a message in parts, §3.3.1): true, or false
   * when they are not there now (see waitMs). More than `burst` go once the bucket is full, and
   * the debt holds back what follows.
   */
  take(n = 1): boolean {
    if (this.rate <= 0) return true;
    this.refill();
    if (this.tokens < Math.min(n, this.burst)) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens are there (0: they are). */
  waitMs(n = 1): number {
    if (this.rate <= 0) return 0;
    this.refill();
    const need = Math.min(n, this.burst);
    return this.tokens >= need ? 0 : Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.rate));
  }

  private refill(): void {
    const now = this.now();
    if (now > this.refilledAt) this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = Math.max(now, this.refilledAt);
  }
}
