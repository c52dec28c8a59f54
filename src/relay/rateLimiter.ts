// The per-connection limit on `send` frames, ephemeral included (docs/protocol.md §1.7): a token
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

  /** True when the bucket has refilled to its burst by `now`: forgetting it changes nothing. */
  isFull(now: number): boolean {
    return this.rate === 0 || this.tokens + ((now - this.last) * this.rate) / 1000 >= this.burst;
  }
}

/**
 * One TokenBucket per key (a remote address), kept only while it is not full, so the map holds
 * only addresses that were active lately. Past `maxKeys` distinct keys, the rest share one
 * bucket: an attacker with many addresses can then only slow the others, never make the map
 * grow without bound.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private static readonly OVERFLOW = '*';

  constructor(private readonly rate: number, private readonly burst: number, private readonly maxKeys = 10_000) {}

  take(key: string, now: number): boolean {
    let k = key;
    let bucket = this.buckets.get(k);
    if (bucket === undefined && this.buckets.size >= this.maxKeys) {
      k = KeyedBuckets.OVERFLOW;
      bucket = this.buckets.get(k);
    }
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rate, this.burst, now);
      this.buckets.set(k, bucket);
    }
    return bucket.take(now);
  }

  /** Forgets the buckets that have refilled (from the relay's sweeper). */
  sweep(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
