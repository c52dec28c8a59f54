// The outbox of docs/protocol.md §1.5: every message keeps its id until the relay acks it, and is
// sent again, with the same id, after a reconnect or a `rate_limited` refusal. The relay's
// idempotence turns a resend of a message it already stored into a plain ack, so nothing is
// lost and nothing is doubled. Entries keep their insertion order, which is the send order.
import type { ChatMessage, OutgoingState } from './types';

export interface OutboxEntry {
  room: string;
  id: string;
  /** The sealed envelope (§2.4), kept as-is: a resend is byte-identical. */
  body: string;
  state: OutgoingState;
  /** The message as shown locally; gets its seq on ack. */
  message: ChatMessage;
  /** rid of the send frame in flight on the current connection, if any. */
  rid?: number;
  /** Refused by the relay for good (e.g. bad_request): not resent until retry(). Set through Outbox.hold. */
  readonly held: boolean;
  /** User-facing reason of the last failure. */
  error?: string;
  /** Marks the entry failed when no ack came in time (it stays queued). */
  failTimer?: ReturnType<typeof setTimeout>;
  /** Being saved to the OutboxStore: not sent (nor anything after it in its room) until saved. */
  saving?: boolean;
  /** A file's chunk (§2.3.5): the id of its file message. Paced (ClientTuning.chunkRate). */
  chunkOf?: string;
}

export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  /** Held entries, counted as they change so that `sendable` is O(1) on every ack. */
  private heldCount = 0;
  /** Characters of the bodies queued (ClientTuning.outboxBytes bounds them). */
  private bodyChars = 0;

  private static key(room: string, id: string): string {
    return `${room}/${id}`;
  }

  add(entry: OutboxEntry): void {
    const k = Outbox.key(entry.room, entry.id);
    if (this.entries.has(k)) this.delete(entry.room, entry.id);
    this.entries.set(k, entry);
    this.bodyChars += entry.body.length;
    if (entry.held) this.heldCount++;
  }

  /** Holds an entry (not resent until released) or releases it. */
  hold(entry: OutboxEntry, held: boolean): void {
    if (entry.held === held) return;
    (entry as { held: boolean }).held = held;
    if (this.entries.get(Outbox.key(entry.room, entry.id)) === entry) this.heldCount += held ? 1 : -1;
  }

  get(room: string, id: string): OutboxEntry | undefined {
    return this.entries.get(Outbox.key(room, id));
  }

  delete(room: string, id: string): OutboxEntry | undefined {
    const k = Outbox.key(room, id);
    const e = this.entries.get(k);
    if (e !== undefined) {
      this.entries.delete(k);
      this.bodyChars -= e.body.length;
      if (e.held) this.heldCount--;
      if (e.failTimer !== undefined) clearTimeout(e.failTimer);
    }
    return e;
  }

  /** Entries in send order. */
  values(): IterableIterator<OutboxEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Characters of the queued bodies (envelopes are ASCII: bytes). */
  get bytes(): number {
    return this.bodyChars;
  }

  /** Entries the client still tries to send until acked (not held). */
  get sendable(): number {
    return this.entries.size - this.heldCount;
  }

  /** Removes every entry of a room (the user left it). */
  dropRoom(room: string): void {
    for (const e of [...this.entries.values()]) if (e.room === room) this.delete(e.room, e.id);
  }
}
