// One rule for room names in $SMC_HOME: at most one stored room per name on one relay, because
// `smc chat --room NAME [--relay HOST:PORT]` finds a room by its name and relay and nothing
// else. `smc room new` and `smc room join` both refuse what would break it.
import type { RoomEntry } from '../core/keys/index';

/** The stored room other than `room` that already has this name on this relay, if any. */
export function namesakeOf(rooms: readonly RoomEntry[], name: string, relay: string, room?: string): RoomEntry | undefined {
  return rooms.find((r) => r.name === name && r.relay === relay && r.room !== room);
}
