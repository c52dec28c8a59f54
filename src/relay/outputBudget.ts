// The relay's global output budget (docs/protocol.md §1.7 slow readers): one bound on the bytes that all connections
// together hold in memory for their sockets (queued, not yet taken by the OS) plus what reply
// streams reserve for the chunk they are reading from disk. §1.7 bounds each connection
// (--max-output); without a global bound the total would grow with the number of connections.
//
// Two rules keep the total under the cap:
// - A reply stream (catch-up §1.4, history §1.6) reserves its next chunk before reading it and
//   waits, in arrival order, while the reservation does not fit.
// - Everything else (acks, fan-out, presence, errors) is written at once, because it cannot
//   wait without reordering a room. When such writes take the total over the cap, the relay
//   recounts exactly on the next turn of the event loop (write callbacks that the OS's progress
//   triggered have run by then) and, if still over, closes holders as slow readers (§1.7: they
//   lose nothing, they ask again with `since`) until the total fits: first those stalled for
//   `stallMs` or more, oldest first, then the largest queues.
// - While a reply waits, holders stalled for `stallMs` or more are closed the same way, so that
//   clients that never read cannot keep the budget from the others (sweep()).

/** What the budget needs from a connection that holds queued output. */
export interface BudgetHolder {
  /** Bytes this holder has accounted in the budget now. */
  readonly accountedBytes: number;
  /** When its output last made progress (or began to be held), ms since epoch. */
  readonly progressAt: number;
  /** Closes it without a frame; must release its bytes (synchronously). */
  abort(reason: string): void;
  /** Re-reads its queue and updates the budget (exact: the socket's writableLength now). */
  resyncOutput(): void;
}

interface Waiter {
  bytes: number;
  stillWanted: () => boolean;
  resolve: (granted: boolean) => void;
}

/** conn_close reason of a connection closed to keep the total under the cap. */
export const OUTPUT_BUDGET_REASON = 'output_budget';

export class OutputBudget<H extends BudgetHolder = BudgetHolder> {
  private used = 0;
  private readonly holders = new Set<H>();
  private readonly waiters: Waiter[] = [];
  private reclaiming = false;
  private checkScheduled = false;

  constructor(
    /** The cap in bytes (--max-output-total). */
    readonly cap: number,
    /** A holder whose output made no progress for this long counts as stalled. */
    private readonly stallMs: number,
    /** Called for each holder closed to make room (for the log). */
    private readonly onEvict: (holder: H) => void = () => {},
  ) {}

  /** Bytes accounted now: queued output of every connection plus reservations. */
  get total(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** `holder` queued `bytes` more (a write); over the cap, the most stalled holders go. */
  add(holder: H, bytes: number): void {
    if (bytes <= 0) return;
    this.used += bytes;
    this.holders.add(holder);
    if (this.used > this.cap && !this.checkScheduled) {
      this.checkScheduled = true;
      setImmediate(() => this.checkOverCap());
    }
  }

  /** See the header: recount exactly, then close holders while over the cap. */
  private checkOverCap(): void {
    this.checkScheduled = false;
    for (const h of [...this.holders]) h.resyncOutput();
    if (this.used > this.cap) this.reclaim(0, Date.now() - this.stallMs, true);
  }

  /** `holder`'s output shrank by `bytes` (the OS took them, or it closed). */
  remove(holder: H, bytes: number): void {
    if (bytes > 0) this.used -= bytes;
    if (holder.accountedBytes <= 0) this.holders.delete(holder);
    this.wake();
  }

  /**
   * Reserves `bytes` for a chunk a reply stream is about to read. Resolves true once reserved
   * (at once when it fits and nobody waits before it), false if `stillWanted()` turned false
   * while waiting. Give the bytes back with `unreserve`.
   */
  reserve(bytes: number, stillWanted: () => boolean): Promise<boolean> {
    if (this.waiters.length === 0 && this.used + bytes <= this.cap) {
      this.used += bytes;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      this.waiters.push({ bytes, stillWanted, resolve });
    });
  }

  unreserve(bytes: number): void {
    this.used -= bytes;
    this.wake();
  }

  /**
   * Periodic (the relay's sweeper): while a reply waits, holders stalled for `stallMs` or more
   * are closed, oldest first, until the first waiter fits. Also drops waiters whose connection
   * closed.
   */
  sweep(now: number): void {
    this.wake();
    const first = this.waiters[0];
    if (first) {
      for (const h of [...this.holders]) h.resyncOutput();
      this.reclaim(first.bytes, now - this.stallMs, false);
    }
  }

  /** Wakes waiters in order while they fit; forgets those no longer wanted. */
  wake(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0] as Waiter;
      if (!w.stillWanted()) {
        this.waiters.shift();
        w.resolve(false);
        continue;
      }
      if (this.used + w.bytes > this.cap) return;
      this.waiters.shift();
      this.used += w.bytes;
      w.resolve(true);
    }
  }

  /**
   * Closes holders until `room` more bytes fit under the cap: those whose last progress is
   * older than `stalledBefore`, oldest first; then, when `largestToo`, the largest queues.
   */
  private reclaim(room: number, stalledBefore: number, largestToo: boolean): void {
    if (this.reclaiming) return;
    this.reclaiming = true;
    try {
      while (this.used + room > this.cap) {
        let stalled: H | undefined;
        let largest: H | undefined;
        for (const h of this.holders) {
          if (h.accountedBytes <= 0) {
            this.holders.delete(h);
            continue;
          }
          if (h.progressAt < stalledBefore && (!stalled || h.progressAt < stalled.progressAt)) stalled = h;
          if (!largest || h.accountedBytes > largest.accountedBytes) largest = h;
        }
        const victim = stalled ?? (largestToo ? largest : undefined);
        if (!victim) return;
        this.holders.delete(victim);
        this.onEvict(victim);
        victim.abort(OUTPUT_BUDGET_REASON);
      }
    } finally {
      this.reclaiming = false;
    }
  }
}
