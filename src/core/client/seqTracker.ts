// The `since` of docs/protocol.md §1.4: the highest seq below which this client has seen every
// message of a room. Seqs can arrive out of order (an own `ack` may overtake a `msg` with a
// lower seq, §1.5), so a seq above the contiguous prefix waits in `ahead` until the hole
// below it closes. Persisting only the contiguous prefix means a restart never skips a
// message it did not show.

export class SeqTracker {
  private readonly ahead = new Set<number>();
  private contiguous: number;

  constructor(last: number) {
    this.contiguous = last;
  }

  /** Every seq ≤ last has been seen (or deliberately skipped, see jumpTo). */
  get last(): number {
    return this.contiguous;
  }

  /** How many seqs above a hole are waiting. */
  get aheadCount(): number {
    return this.ahead.size;
  }

  /** The lowest waiting seq, i.e. the top of the first hole (undefined when none). */
  get firstAhead(): number | undefined {
    let min: number | undefined;
    for (const s of this.ahead) if (min === undefined || s < min) min = s;
    return min;
  }

  see(seq: number): void {
    if (seq <= this.contiguous) return;
    if (seq === this.contiguous + 1) {
      this.contiguous = seq;
      this.advance();
    } else {
      this.ahead.add(seq);
    }
  }

  /** Declares every seq ≤ `seq` done (older history skipped on purpose, or dropped by retention). */
  jumpTo(seq: number): void {
    if (seq <= this.contiguous) return;
    this.contiguous = seq;
    for (const s of this.ahead) if (s <= seq) this.ahead.delete(s);
    this.advance();
  }

  private advance(): void {
    while (this.ahead.delete(this.contiguous + 1)) this.contiguous++;
  }
}
