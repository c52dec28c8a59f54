// The per-connection limit on `send` frames, ephemeral included (PROTOCOL.md §1.7): a token
// bucket holding up to `burst` tokens, refilled at `rate` per second. `rate` 0 lifts the limit.
// Two numbers per connection and no timer: the bucket refills lazily when a send arrives.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one; false means the frame is `rate_limited`. */
  take(now: number): boolean {
    if (this.rate === 0) return true;
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
