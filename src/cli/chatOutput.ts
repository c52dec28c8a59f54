// Batched standard output: a history catch-up prints thousands of lines, and one write per
// event loop turn instead of one per line keeps `smc chat` fast (the `chat-json` benchmark prints
// 10 000 stored messages, docs/benchmarks.md). `onFlush` lets the interactive mode redraw its prompt once per batch.

export class LineWriter {
  private pending: string[] = [];
  private scheduled = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly around?: { before(): void; after(): void },
  ) {}

  line(text: string): void {
    this.pending.push(text);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is pending now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.around?.before();
    this.stream.write(text);
    this.around?.after();
  }
}
