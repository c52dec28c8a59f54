// What the relay reads a room's log through when it answers a join's catch-up (docs/protocol.md §1.4)
// or a history request (§1.6), whichever store it runs on (issue 9):
// - the embedded store (types.ts MessageStore) fits as it is: its head and oldest are in memory;
// - a relay of a cluster (pg/clusterRooms.ts) reads `head` as the position its feed has shown
//   (synchronous: the relay takes it and registers a member in one step, no message in between)
//   and `oldest` from the database (asynchronous: another relay's retention may have trimmed).
// Callers `await` oldest either way; awaiting a plain number costs one microtask, nothing more.
import type { StoredMessage } from './types';

export interface RoomLog {
  /** Highest seq of the room as this relay shows it (0 when empty). */
  head(room: string): number;
  /** Lowest seq still retained for the room (head + 1 when none). */
  oldest(room: string): number | Promise<number>;
  /** Messages with `after < seq < before`, the newest `limit` of them, oldest first. */
  range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]>;
}
