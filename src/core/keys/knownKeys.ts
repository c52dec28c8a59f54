// Known keys (docs/protocol.md §2.4): the first identity key seen for each display name in each
// room, like SSH's known_hosts. A later message under that name with another key is marked
// "key changed" until the user verifies and trusts the new fingerprint. Names are compared as
// they look, not as they are spelled (displayName.ts: TR39 skeleton after NFKC, invisible
// characters removed), so a look-alike of a known name under another key is a key change too.
// Kept in a StateStore under `smc.knownKeys` (names and fingerprints of public keys are not
// secret); the fingerprints the user verified (compared over another channel) are kept under
// `smc.verifiedKeys`.
import { CoalescedWriter } from './coalescedWriter';
import { nameKey, nameShapeKey } from './displayName';
import { StateStore } from './stores';

export { nameKey } from './displayName';

export const KNOWN_KEYS_STATE = 'smc.knownKeys';
export const VERIFIED_KEYS_STATE = 'smc.verifiedKeys';
/**
 * Names remembered per room, so that a hostile member cannot grow the state without bound. Past
 * it the table can no longer vouch for a name it has not seen: such a name is 'changed' (fail
 * closed), never 'new', or a member who floods 1 000 names could then post unmarked under the
 * name of anyone who speaks after the flood.
 */
export const MAX_KNOWN_NAMES_PER_ROOM = 1_000;

export type KeyCheck = 'new' | 'same' | 'changed';

type Table = Record<string, Record<string, string>>;

/** One room's names: as first trusted (what is stored), and indexed by both comparison keys. */
class RoomNames {
  /** Name as trusted -> fingerprint and its two keys, in the order trusted (a later trust wins on load). */
  readonly names = new Map<string, { fingerprint: string; key: string; shape: string }>();
  private readonly byKey = new Map<string, string>();
  private readonly byShape = new Map<string, string>();

  /** The fingerprints known for names that look like `name` (under either key). */
  lookup(name: string): { key?: string; shape?: string } {
    const out: { key?: string; shape?: string } = {};
    const k = this.byKey.get(nameKey(name));
    const s = this.byShape.get(nameShapeKey(name));
    if (k !== undefined) out.key = k;
    if (s !== undefined) out.shape = s;
    return out;
  }

  /** Binds `name` (and every name that looks like it) to `fingerprint`. */
  set(name: string, fingerprint: string): void {
    const k = nameKey(name);
    const s = nameShapeKey(name);
    // A stored name this one looks like is replaced, so that a reload gives the same answer.
    // The keys are kept with the names: no skeleton is recomputed here, however many names.
    for (const [n, e] of [...this.names]) if (e.key === k || e.shape === s) this.names.delete(n);
    this.names.set(name, { fingerprint, key: k, shape: s });
    this.byKey.set(k, fingerprint);
    this.byShape.set(s, fingerprint);
  }
}

function load(state: StateStore): Map<string, RoomNames> {
  const stored = state.get<unknown>(KNOWN_KEYS_STATE);
  const out = new Map<string, RoomNames>();
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return out;
  for (const [room, names] of Object.entries(stored as Table)) {
    if (typeof names !== 'object' || names === null) continue;
    const m = new RoomNames();
    // Tables written before names were compared by skeleton hold the old folded form
    // ("george"); it is a name like any other here, and maps to the same keys.
    for (const [name, fp] of Object.entries(names)) if (typeof fp === 'string') m.set(name, fp);
    out.set(room, m);
  }
  return out;
}

function loadVerified(state: StateStore): Map<string, Set<string>> {
  const stored = state.get<unknown>(VERIFIED_KEYS_STATE);
  const out = new Map<string, Set<string>>();
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return out;
  for (const [room, fps] of Object.entries(stored as Record<string, unknown>)) {
    if (Array.isArray(fps)) out.set(room, new Set(fps.filter((f): f is string => typeof f === 'string').slice(0, MAX_KNOWN_NAMES_PER_ROOM)));
  }
  return out;
}

/** Known keys; holds its own copy and writes it through (coalesced): one per StateStore. */
export class KnownKeys {
  private readonly rooms: Map<string, RoomNames>;
  private readonly verifiedKeys: Map<string, Set<string>>;
  private readonly writer: CoalescedWriter;

  constructor(private readonly state: StateStore) {
    this.rooms = load(state);
    this.verifiedKeys = loadVerified(state);
    this.writer = new CoalescedWriter(async () => {
      await this.state.update(KNOWN_KEYS_STATE, this.toJSON());
      await this.state.update(VERIFIED_KEYS_STATE, this.verifiedJSON());
    });
  }

  /**
   * 'new' if no key is known for this name (or one that looks like it) in this room; 'same' if
   * every name it looks like is bound to this key; else 'changed'. A name not known in a room
   * whose table is full is 'changed' (MAX_KNOWN_NAMES_PER_ROOM).
   */
  check(room: string, name: string, fingerprint: string): KeyCheck {
    const r = this.rooms.get(room);
    if (r === undefined) return 'new';
    const { key, shape } = r.lookup(name);
    if (key === undefined && shape === undefined) return r.names.size >= MAX_KNOWN_NAMES_PER_ROOM ? 'changed' : 'new';
    return (key ?? fingerprint) === fingerprint && (shape ?? fingerprint) === fingerprint ? 'same' : 'changed';
  }

  /** The fingerprint remembered for a name (or a look-alike of it) in a room. */
  known(room: string, name: string): string | undefined {
    const { key, shape } = this.rooms.get(room)?.lookup(name) ?? {};
    return key ?? shape;
  }

  /** Remembers `fingerprint` as the key of `name` in `room` (first sight, or after the user verified it). */
  trust(room: string, name: string, fingerprint: string): Promise<void> {
    let names = this.rooms.get(room);
    if (names === undefined) {
      names = new RoomNames();
      this.rooms.set(room, names);
    }
    const now = this.check(room, name, fingerprint);
    if (now === 'same') return Promise.resolve();
    // First sight never grows a full table (verify() may: the user chose that name).
    const { key, shape } = names.lookup(name);
    if (key === undefined && shape === undefined && names.names.size >= MAX_KNOWN_NAMES_PER_ROOM) return Promise.resolve();
    names.set(name, fingerprint);
    return this.writer.schedule();
  }

  /**
   * The user compared `fingerprint` with `name` over another channel and it matched: it becomes
   * the key of that name (and its look-alikes) in `room`, and is shown as verified.
   */
  verify(room: string, name: string, fingerprint: string): Promise<void> {
    let fps = this.verifiedKeys.get(room);
    if (fps === undefined) {
      fps = new Set();
      this.verifiedKeys.set(room, fps);
    }
    if (fps.size < MAX_KNOWN_NAMES_PER_ROOM) fps.add(fingerprint);
    let names = this.rooms.get(room);
    if (names === undefined) {
      names = new RoomNames();
      this.rooms.set(room, names);
    }
    names.set(name, fingerprint);
    return this.writer.schedule();
  }

  /** Whether `name` is bound to `fingerprint` in `room` and the user verified that key. */
  isVerified(room: string, name: string, fingerprint: string): boolean {
    return this.verifiedKeys.get(room)?.has(fingerprint) === true && this.check(room, name, fingerprint) === 'same';
  }

  /** Forgets every key of a room (when the user leaves it). */
  forgetRoom(room: string): Promise<void> {
    const hadNames = this.rooms.delete(room);
    const hadVerified = this.verifiedKeys.delete(room);
    if (!hadNames && !hadVerified) return Promise.resolve();
    return this.writer.schedule();
  }

  private toJSON(): Table {
    // fromEntries, not assignment: a key such as "__proto__" stays an ordinary property.
    return Object.fromEntries([...this.rooms].map(([room, r]) => [room, Object.fromEntries([...r.names].map(([n, e]) => [n, e.fingerprint]))]));
  }

  private verifiedJSON(): Record<string, string[]> {
    return Object.fromEntries([...this.verifiedKeys].map(([room, fps]) => [room, [...fps]]));
  }
}
