// §1.4 presence: after a join or leave, every member of the room gets the member list. Changes
// are coalesced: one timer for all rooms, and each dirty room gets one frame at most
// PRESENCE_DELAY_MS after its first change, listing the members at that moment (§1.4 allows
// up to 100 ms; 50 leaves room for timer lateness and keeps "X is here" prompt in clients).
// The frame is encoded once per room and written to every member.
import type { Room } from './room';

export const PRESENCE_DELAY_MS = 50;

export class PresenceCoalescer {
  private readonly dirty = new Set<Room>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxFrame: number,
    private readonly delayMs: number = PRESENCE_DELAY_MS,
  ) {}

  /** The room's membership changed. */
  mark(room: Room): void {
    this.dirty.add(room);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  /** The room is gone (its last member left): nothing to announce. */
  forget(room: Room): void {
    this.dirty.delete(room);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  private flush(): void {
    this.timer = undefined;
    // Taken out first: a write may close a slow reader, which marks its rooms again for
    // the next flush.
    const rooms = [...this.dirty];
    this.dirty.clear();
    for (const room of rooms) {
      if (room.size > 0) room.fanOut(Buffer.from(room.presenceFrame(this.maxFrame)), undefined);
    }
  }
}
