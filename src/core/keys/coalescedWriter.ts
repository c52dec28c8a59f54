// Writes that coalesce: many changes in a row (a room's last seq moving through a history
// catch-up) cost at most one write in flight and one queued, each writing the latest value.

export class CoalescedWriter {
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly write: () => Promise<void>) {}

  /** Schedules a write of the current value; resolves once a write started after this call is done. */
  schedule(): Promise<void> {
    if (this.inFlight === undefined) {
      this.inFlight = this.write().finally(() => {
        this.inFlight = undefined;
      });
      return this.inFlight;
    }
    // A write is in flight with an older value: queue exactly one more after it.
    this.queued ??= this.inFlight.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.schedule();
    });
    return this.queued;
  }
}
