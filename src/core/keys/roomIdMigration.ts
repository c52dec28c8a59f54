// Protocol v1 → v2 for stored rooms (docs/protocol.md §2.2): v2 derives the room id from the
// room-auth public key, so a room stored under its v1 id (key, list entry, known keys, other
// per-room maps) moves to its v2 id. Run before KnownKeys (or anything else that copies the
// state) is constructed. Idempotent and safe to interrupt: every step is repeated by the next
// run until the v1 entry and key are gone (new key first, old key last).
import type { KeyStore } from './keyStore';
import { KNOWN_KEYS_STATE } from './knownKeys';
import type { RoomList } from './roomList';
import type { StateStore } from './stores';

/** Moves `from`'s value in the room-keyed object stored under `stateKey` to `to`. */
async function moveRoomIn(state: StateStore, stateKey: string, from: string, to: string): Promise<void> {
  const table = state.get<unknown>(stateKey);
  if (typeof table !== 'object' || table === null || Array.isArray(table) || !Object.hasOwn(table, from)) return;
  const copy = { ...(table as Record<string, unknown>) };
  if (!Object.hasOwn(copy, to)) Object.defineProperty(copy, to, { value: copy[from], enumerable: true, writable: true, configurable: true });
  delete copy[from];
  await state.update(stateKey, copy);
}

/** Moves the known keys of a room (§2.4) from one id to another. */
export type KnownKeysMover = (from: string, to: string) => Promise<void>;

/**
 * Moves every room of `rooms` stored under its v1 id to its v2 id; returns the moves. The v2
 * room starts at lastSeq 0: seqs belong to the v1 room, whose history stays on the relay under
 * the v1 id (readable by v1 clients only, §2.2). `roomMaps` names other StateStore values keyed
 * by room id (e.g. the terminal's TLS pins) that move too. Known keys move in the stored state,
 * or through `moveKnown` when a KnownKeys already holds its copy (the extension).
 */
export async function migrateV1RoomIds(
  keys: KeyStore, rooms: RoomList, state: StateStore, roomMaps: readonly string[] = [], moveKnown?: KnownKeysMover,
): Promise<{ from: string; to: string }[]> {
  const moves: { from: string; to: string }[] = [];
  for (const e of rooms.all()) {
    const v2 = await keys.copyV1RoomKey(e.room);
    if (v2 === undefined) continue;
    if (rooms.get(v2) === undefined) await rooms.upsert({ ...e, room: v2, lastSeq: 0 });
    if (moveKnown !== undefined) await moveKnown(e.room, v2);
    for (const key of moveKnown !== undefined ? roomMaps : [KNOWN_KEYS_STATE, ...roomMaps]) await moveRoomIn(state, key, e.room, v2);
    await rooms.remove(e.room);
    await keys.deleteRoomKey(e.room);
    moves.push({ from: e.room, to: v2 });
  }
  return moves;
}
