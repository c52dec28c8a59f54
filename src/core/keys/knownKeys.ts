// Known keys (PROTOCOL.md §2.4): the first identity key seen for each display name in each
// room, like SSH's known_hosts. A later message under that name with another key is marked
// "key changed" until the user verifies and trusts the new fingerprint. Kept in a StateStore
// under `smc.knownKeys` (fingerprints of public keys are not secret).
import { CoalescedWriter } from './coalescedWriter';
import { StateStore } from './stores';

export const KNOWN_KEYS_STATE = 'smc.knownKeys';
/** Names remembered per room; past it, new names stay "new" (a hostile member cannot grow the state without bound). */
export const MAX_KNOWN_NAMES_PER_ROOM = 1_000;

export type KeyCheck = 'new' | 'same' | 'changed';

/**
 * The form under which a name is remembered: NFKC, case-folded, whitespace collapsed. So
 * "George", "george" and "George " (or a full-width "Ｇeorge") are one name, and someone who
 * joins as a look-alike of a known name with another key is flagged as a key change.
 */
export function nameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

type Table = Record<string, Record<string, string>>;

function load(state: StateStore): Map<string, Map<string, string>> {
  const stored = state.get<unknown>(KNOWN_KEYS_STATE);
  const out = new Map<string, Map<string, string>>();
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return out;
  for (const [room, names] of Object.entries(stored as Table)) {
    if (typeof names !== 'object' || names === null) continue;
    const m = new Map<string, string>();
    for (const [name, fp] of Object.entries(names)) if (typeof fp === 'string') m.set(name, fp);
    out.set(room, m);
  }
  return out;
}

/** Known keys; holds its own copy and writes it through (coalesced): one per StateStore. */
export class KnownKeys {
  private readonly rooms: Map<string, Map<string, string>>;
  private readonly writer: CoalescedWriter;

  constructor(private readonly state: StateStore) {
    this.rooms = load(state);
    this.writer = new CoalescedWriter(() => this.state.update(KNOWN_KEYS_STATE, this.toJSON()));
  }

  /** 'new' if no key is known for this name in this room, else whether this is that key. */
  check(room: string, name: string, fingerprint: string): KeyCheck {
    const known = this.rooms.get(room)?.get(nameKey(name));
    if (known === undefined) return 'new';
    return known === fingerprint ? 'same' : 'changed';
  }

  /** The fingerprint remembered for a name in a room. */
  known(room: string, name: string): string | undefined {
    return this.rooms.get(room)?.get(nameKey(name));
  }

  /** Remembers `fingerprint` as the key of `name` in `room` (first sight, or after the user verified it). */
  trust(room: string, name: string, fingerprint: string): Promise<void> {
    let names = this.rooms.get(room);
    if (names === undefined) {
      names = new Map();
      this.rooms.set(room, names);
    }
    const k = nameKey(name);
    if (names.get(k) === fingerprint) return Promise.resolve();
    if (!names.has(k) && names.size >= MAX_KNOWN_NAMES_PER_ROOM) return Promise.resolve();
    names.set(k, fingerprint);
    return this.writer.schedule();
  }

  /** Forgets every key of a room (when the user leaves it). */
  forgetRoom(room: string): Promise<void> {
    if (!this.rooms.delete(room)) return Promise.resolve();
    return this.writer.schedule();
  }

  private toJSON(): Table {
    // fromEntries, not assignment: a key such as "__proto__" stays an ordinary property.
    return Object.fromEntries([...this.rooms].map(([room, names]) => [room, Object.fromEntries(names)]));
  }
}
