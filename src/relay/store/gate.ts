// A counting gate: at most `limit` holders at once, the others wait in order. The store passes
// its disk reads through one, so that reads for many joins at once never fill the libuv thread
// pool (4 threads by default) that the group commit's write and fdatasync also need: a sync
// queued behind hundreds of reads would delay every ack (docs/protocol.md §1.5).

export class Gate {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Resolves once a place is free; the caller must call release() after. */
  enter(): Promise<void> | undefined {
    if (this.held < this.limit) {
      this.held++;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(); // the place passes straight to the next waiter
    else this.held--;
  }
}
