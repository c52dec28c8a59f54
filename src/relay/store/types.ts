// The relay's storage interface. The relay (src/relay) talks to storage only through this, so
// that a store on a distributed engine can serve several relays (store/pg, docs/storage-postgres.md).
// Stored bodies are opaque ciphertext (docs/protocol.md §1.2); the store never interprets them.

/** One stored message of a room. */
export interface StoredMessage {
  seq: number;
  ts: number;
  id: string;
  body: string;
}

/** Result of an append: the message's place, and whether it was already stored (same id). */
export interface AppendResult {
  seq: number;
  ts: number;
  duplicate: boolean;
}

export interface MessageStore {
  /** Opens the store: takes the data directory's lock, recovers the log. */
  open(): Promise<void>;
  /**
   * Stores a message durably (written and synced, group-committed with others that arrive
   * meanwhile) and resolves only then. A second append of an `id` the room already holds,
   * even one still waiting for its sync, resolves with the first copy's seq/ts and
   * `duplicate: true` and stores nothing (§1.5). Rejects if the message cannot be stored.
   */
  append(room: string, id: string, body: string): Promise<AppendResult>;
  /** Highest durable seq of the room (0 when empty). */
  head(room: string): number;
  /**
   * Durable messages of `room` with `after < seq < before`, the newest `limit` of them,
   * oldest first. Bodies are read from disk.
   */
  range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]>;
  /** Lowest seq still retained for the room (head + 1 when none). */
  oldest(room: string): number;
  /** Flushes pending writes, releases the lock. */
  close(): Promise<void>;
}
