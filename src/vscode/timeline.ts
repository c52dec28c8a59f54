// The host's copy of one room's timeline, as the chat panel shows it: verified messages,
// "could not be verified" placeholders and own messages with their sending state, ordered by
// relay seq (own messages not yet acked last). The panel holds a bounded window and pages
// through this with loadOlder/loadNewer. Holds only what the user may see: no key, no body.
// No vscode import: unit-tested in plain Node.
import type { ChatMessage, OutgoingUpdate, UnverifiableMessage } from '../core/client/types';
import type { ChatItem } from '../shared/messages';

/** Items kept per room in the host (the relay retains 10 000 by default, §1.6). */
export const MAX_TIMELINE_ITEMS = 20_000;

export type AddResult = 'appended' | 'updated' | 'inserted' | 'ignored';

export function itemFromMessage(m: ChatMessage, state: ChatItem['state']): ChatItem {
  const item: ChatItem = {
    key: m.id,
    kind: 'message',
    ts: m.ts,
    name: m.name,
    fingerprint: m.fingerprint,
    shortFingerprint: m.shortFingerprint,
    type: m.type,
    own: m.own,
    state,
    keyChanged: m.keyChanged,
  };
  if (m.seq !== undefined) item.seq = m.seq;
  if (m.text !== undefined) item.text = m.text;
  if (m.snippet !== undefined) {
    const s = m.snippet;
    item.snippet = { lang: s.lang, path: s.path, start: s.start, end: s.end, code: s.code };
  }
  return item;
}

function before(a: ChatItem, b: ChatItem): boolean {
  if (a.seq !== undefined && b.seq !== undefined) return a.seq < b.seq;
  return a.seq !== undefined && b.seq === undefined;
}

export class Timeline {
  private items: ChatItem[] = [];
  private readonly byKey = new Map<string, ChatItem>();
  /** Whether the relay holds messages older than the oldest item here (§1.6 `more`). */
  relayHasOlder = false;

  get size(): number {
    return this.items.length;
  }

  get(key: string): ChatItem | undefined {
    return this.byKey.get(key);
  }

  oldestSeq(): number | undefined {
    for (const x of this.items) if (x.seq !== undefined) return x.seq;
    return undefined;
  }

  newestSeq(): number {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const s = this.items[i]?.seq;
      if (s !== undefined) return s;
    }
    return 0;
  }

  /** Adds or replaces an item, keeping seq order. Says where it went. */
  add(item: ChatItem): AddResult {
    const existing = this.byKey.get(item.key);
    if (existing) {
      // A replayed copy never downgrades what is shown (§2.8: replays are caught by id).
      const merged: ChatItem = { ...existing, ...item, state: item.own ? item.state : existing.state };
      if (item.seq === undefined && existing.seq !== undefined) merged.seq = existing.seq;
      // Waiting is a kind of failure: a message stored since (its copy from the relay) is not.
      if (merged.state !== 'failed') delete merged.waiting;
      const at = this.items.indexOf(existing);
      this.byKey.set(item.key, merged);
      if (merged.seq !== existing.seq) {
        this.items.splice(at, 1);
        this.place(merged);
      } else {
        this.items[at] = merged;
      }
      return 'updated';
    }
    this.byKey.set(item.key, item);
    const last = this.items[this.items.length - 1];
    if (!last || !before(item, last)) {
      this.items.push(item);
      this.trim();
      return 'appended';
    }
    this.place(item);
    this.trim();
    return 'inserted';
  }

  /**
   * Replaces an item as it is (no merge: an edit or a delete removes fields), in its place.
   * False when the key is not here.
   */
  replace(item: ChatItem): boolean {
    const existing = this.byKey.get(item.key);
    if (!existing) return false;
    const next: ChatItem = { ...item };
    if (existing.seq !== undefined && next.seq === undefined) next.seq = existing.seq;
    this.items[this.items.indexOf(existing)] = next;
    this.byKey.set(item.key, next);
    return true;
  }

  /**
   * Gives an item a new key in its place (an own message that goes again under a new id, §3.3).
   * False when `from` is not here or `to` already is.
   */
  rekey(from: string, to: string): boolean {
    const existing = this.byKey.get(from);
    if (!existing || this.byKey.has(to)) return false;
    const next: ChatItem = { ...existing, key: to };
    this.items[this.items.indexOf(existing)] = next;
    this.byKey.delete(from);
    this.byKey.set(to, next);
    return true;
  }

  /** Every item, oldest first (search reads them; never handed to the webview whole). */
  all(): readonly ChatItem[] {
    return this.items;
  }

  /** Up to `before` items older than `key`, the item, and up to `after` newer; undefined when not here. */
  around(key: string, before: number, after: number): { items: ChatItem[]; hasOlder: boolean; hasNewer: boolean } | undefined {
    const at = this.indexOf(key);
    if (at === -1) return undefined;
    const start = Math.max(0, at - before);
    const end = Math.min(this.items.length, at + 1 + after);
    return { items: this.items.slice(start, end), hasOlder: start > 0 || this.relayHasOlder, hasNewer: end < this.items.length };
  }

  /**
   * Applies an outgoing state change (§1.5 ack) to an own message; undefined if unknown.
   * `waiting`: a failure that is only the connection being down (the message stays queued).
   */
  applyOutgoing(u: OutgoingUpdate, waiting = false): ChatItem | undefined {
    const existing = this.byKey.get(u.id);
    if (!existing) return undefined;
    const next: ChatItem = { ...existing, state: u.state };
    if (waiting && u.state === 'failed') next.waiting = true;
    else delete next.waiting;
    if (u.seq !== undefined) next.seq = u.seq;
    if (u.error !== undefined) next.error = u.error;
    else delete next.error;
    this.add(next);
    return this.byKey.get(u.id);
  }

  /**
   * Gives items new identity flags after the user verified a key (§2.4): `mark` returns an
   * item's flags, or undefined to leave it. Says how many items changed.
   */
  remark(mark: (item: ChatItem) => Pick<ChatItem, 'keyChanged' | 'identityVerified'> | undefined): number {
    let changed = 0;
    for (let i = 0; i < this.items.length; i++) {
      const item = this.items[i]!;
      const flags = mark(item);
      if (flags === undefined || (flags.keyChanged === item.keyChanged && (flags.identityVerified === true) === (item.identityVerified === true))) continue;
      const next: ChatItem = { ...item, keyChanged: flags.keyChanged };
      if (flags.identityVerified === true) next.identityVerified = true;
      else delete next.identityVerified;
      this.items[i] = next;
      this.byKey.set(next.key, next);
      changed++;
    }
    return changed;
  }

  addUnverifiable(m: UnverifiableMessage, ts: number): AddResult {
    if (this.byKey.has(m.id)) return 'ignored';
    const item: ChatItem = {
      key: m.id, kind: 'unverifiable', ts, name: '', fingerprint: '', shortFingerprint: '',
      type: 'unverifiable', own: false, state: 'received', keyChanged: false,
    };
    if (m.seq !== undefined) item.seq = m.seq;
    return this.add(item);
  }

  /** The newest `limit` items. */
  tail(limit: number): ChatItem[] {
    return this.items.slice(Math.max(0, this.items.length - limit));
  }

  /** Up to `limit` items just older than `key`; `hasOlder` counts the relay's too. */
  olderThan(key: string, limit: number): { items: ChatItem[]; hasOlder: boolean } {
    const at = this.indexOf(key);
    const end = at === -1 ? 0 : at;
    const start = Math.max(0, end - limit);
    return { items: this.items.slice(start, end), hasOlder: start > 0 || this.relayHasOlder };
  }

  /** Up to `limit` items just newer than `key`. */
  newerThan(key: string, limit: number): { items: ChatItem[]; hasNewer: boolean } {
    const at = this.indexOf(key);
    if (at === -1) return { items: this.tail(limit), hasNewer: false };
    const end = Math.min(this.items.length, at + 1 + limit);
    return { items: this.items.slice(at + 1, end), hasNewer: end < this.items.length };
  }

  /** Up to `limit` items from `key` on (inclusive); undefined when `key` is not here. */
  range(key: string, limit: number): { items: ChatItem[]; hasOlder: boolean; hasNewer: boolean } | undefined {
    const at = this.indexOf(key);
    if (at === -1) return undefined;
    const end = Math.min(this.items.length, at + limit);
    return { items: this.items.slice(at, end), hasOlder: at > 0 || this.relayHasOlder, hasNewer: end < this.items.length };
  }

  /** How many items older than `key` this timeline holds. */
  countOlderThan(key: string): number {
    const at = this.indexOf(key);
    return at === -1 ? 0 : at;
  }

  /** Received messages with a seq above `seq` (the unread count). */
  countUnreadAfter(seq: number): number {
    let n = 0;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const x = this.items[i];
      if (!x || x.seq === undefined) continue;
      if (x.seq <= seq) break;
      if (!x.own) n++;
    }
    return n;
  }

  private indexOf(key: string): number {
    const item = this.byKey.get(key);
    return item ? this.items.indexOf(item) : -1;
  }

  private place(item: ChatItem): void {
    // Binary search for the first item that must come after `item`.
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.items[mid];
      if (m && !before(item, m)) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, item);
  }

  private trim(): void {
    while (this.items.length > MAX_TIMELINE_ITEMS) {
      const dropped = this.items.shift();
      if (dropped) this.byKey.delete(dropped.key);
      this.relayHasOlder = true;
    }
  }
}
