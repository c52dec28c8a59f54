// What one room may store (docs/protocol.md §1.7 `room_quota`, docs/relay.md "Limits"): the
// relay cannot read a body, so it bounds the bytes of bodies a room takes in, whichever
// connection sends them: a budget of `bytesPerHour`, refilled continuously (all of it at once,
// then bytesPerHour / 3600 per second). One entry per room that stored lately: an entry that has
// refilled is forgotten (it would change nothing), and past `maxRooms` rooms the others share
// one budget, so that many rooms cannot grow the map without bound.

interface Budget {
  bytes: number;
  last: number;
}

const HOUR_MS = 3_600_000;
const OVERFLOW = '*';

export class RoomQuota {
  private readonly budgets = new Map<string, Budget>();

  /** `bytesPerHour` 0 lifts the bound. */
  constructor(readonly bytesPerHour: number, private readonly maxRooms = 100_000) {}

  /** Takes `bytes` from the room's budget if they are there; false means `room_quota` (nothing taken). */
  take(room: string, bytes: number, now: number): boolean {
    if (this.bytesPerHour === 0) return true;
    let key = room;
    let b = this.budgets.get(key);
    if (b === undefined && this.budgets.size >= this.maxRooms) {
      this.sweep(now);
      if (this.budgets.size >= this.maxRooms) key = OVERFLOW;
      b = this.budgets.get(key);
    }
    if (b === undefined) {
      b = { bytes: this.bytesPerHour, last: now };
      this.budgets.set(key, b);
    }
    this.refill(b, now);
    if (b.bytes < bytes) return false;
    b.bytes -= bytes;
    return true;
  }

  /** Milliseconds until `bytes` fit in the room's budget (0: now), for the error's message. */
  waitFor(room: string, bytes: number, now: number): number {
    const b = this.budgets.get(room) ?? this.budgets.get(OVERFLOW);
    if (this.bytesPerHour === 0 || b === undefined) return 0;
    this.refill(b, now);
    return b.bytes >= bytes ? 0 : Math.ceil(((bytes - b.bytes) * HOUR_MS) / this.bytesPerHour);
  }

  /** Rooms with an entry (tests, the start log). */
  get size(): number {
    return this.budgets.size;
  }

  private refill(b: Budget, now: number): void {
    if (now <= b.last) return;
    b.bytes = Math.min(this.bytesPerHour, b.bytes + ((now - b.last) * this.bytesPerHour) / HOUR_MS);
    b.last = now;
  }

  /** Forgets the budgets that have refilled: equal to a fresh one. */
  private sweep(now: number): void {
    for (const [room, b] of this.budgets) {
      this.refill(b, now);
      if (b.bytes >= this.bytesPerHour) this.budgets.delete(room);
    }
  }
}
