// Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter"): each delay
// is uniform in [0, min(max, base * 2^attempt)], so that clients dropped together by a relay
// restart do not all come back in the same instant. Random numbers come from node:crypto.
import { randomInt } from 'node:crypto';

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** The ceiling of the next delay, before jitter. */
  get ceiling(): number {
    // 2^attempt overflows nothing: attempt stops growing once the ceiling reaches maxMs.
    return Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
  }

  /** The next delay in milliseconds, uniform in [0, ceiling]. */
  next(): number {
    const ceiling = Math.max(0, Math.floor(this.ceiling));
    if (this.baseMs * 2 ** this.attempt < this.maxMs) this.attempt++;
    return ceiling === 0 ? 0 : randomInt(0, ceiling + 1);
  }

  reset(): void {
    this.attempt = 0;
  }
}
