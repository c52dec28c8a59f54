// The rooms this installation has joined, kept apart from their keys (docs/security.md "Where keys live"): names,
// relay addresses and the last seq seen are not secret, so they live in a StateStore (VS Code
// globalState, or state.json), under `smc.rooms`.
import { CoalescedWriter } from './coalescedWriter';
import { isIdForm } from '../wire/validate';
import { StateStore } from './stores';

export interface RoomEntry {
  /** The room id (§2.2). */
  room: string;
  /** The room name, as the invite or the passphrase form gave it. */
  name: string;
  /** "host:port" ("[::1]:7878" for IPv6). */
  relay: string;
  /** The highest seq this installation has seen, the `since` of the next join (§1.4). */
  lastSeq: number;
}

export const ROOM_LIST_STATE = 'smc.rooms';

function isEntry(e: unknown): e is RoomEntry {
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  return isIdForm(r.room) && typeof r.name === 'string' &&
    typeof r.relay === 'string' && typeof r.lastSeq === 'number' && Number.isSafeInteger(r.lastSeq) && r.lastSeq >= 0;
}

/**
 * The room list. It holds its own copy and writes it through (coalesced), so use one RoomList
 * per StateStore. Entries that do not have the right shape (a hand-edited file) are dropped.
 */
export class RoomList {
  private readonly rooms: Map<string, RoomEntry>;
  private readonly writer: CoalescedWriter;

  constructor(private readonly state: StateStore) {
    const stored = state.get<unknown>(ROOM_LIST_STATE);
    this.rooms = new Map((Array.isArray(stored) ? stored.filter(isEntry) : []).map((e) => [e.room, { ...e }]));
    this.writer = new CoalescedWriter(() => this.state.update(ROOM_LIST_STATE, this.all()));
  }

  all(): RoomEntry[] {
    return [...this.rooms.values()].map((e) => ({ ...e }));
  }

  get(room: string): RoomEntry | undefined {
    const e = this.rooms.get(room);
    return e === undefined ? undefined : { ...e };
  }

  /** Adds a room or replaces its entry. */
  upsert(e: RoomEntry): Promise<void> {
    if (!isEntry(e)) return Promise.reject(new TypeError('not a room entry'));
    this.rooms.set(e.room, { room: e.room, name: e.name, relay: e.relay, lastSeq: e.lastSeq });
    return this.writer.schedule();
  }

  remove(room: string): Promise<void> {
    if (!this.rooms.delete(room)) return Promise.resolve();
    return this.writer.schedule();
  }

  /** Records the last seq seen (it may go down: §1.4, a relay that lost data is synced from 0). */
  setLastSeq(room: string, seq: number): Promise<void> {
    const e = this.rooms.get(room);
    if (e === undefined || !Number.isSafeInteger(seq) || seq < 0 || e.lastSeq === seq) return Promise.resolve();
    e.lastSeq = seq;
    return this.writer.schedule();
  }
}
