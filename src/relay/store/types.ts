// The relay's storage interface. The relay (src/relay) talks to storage only through this, so
// that a store on a distributed engine can serve several relays (store/pg, docs/storage-postgres.md).
// Stored bodies are opaque ciphertext (docs/protocol.md §1.2); the store never interprets them.

/** One stored message of a room. */
export interface StoredMessage {
  seq: number;
  ts: number;
  id: string;
  body: string;
  /** §3.6: a private room's commit carries the epoch it began (catch-up and history send it too). */
  epoch?: number;
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
  /**
   * Private rooms (§3.6). A store without it serves link rooms only: the relay then refuses
   * `reset` and commits with `internal` and says so.
   */
  readonly privateRooms?: PrivateRoomStore;
}

// ---- private rooms (docs/protocol.md §3.6) ------------------------------------------------
//
// A private room's record at the relay: its owner key and, for every epoch since its last reset,
// the epoch's auth public key and where the epoch began. The relay checks joins, resets and
// commits against it; the store keeps it durably, beside the log, and changes it only as below.

/** One epoch of a private room (§3.6 "Catching up through epochs"). */
export interface EpochKey {
  epoch: number;
  /** authPub_e, 32 raw bytes. */
  authPub: Buffer;
  /**
   * The seq of the commit that started the epoch (S_e); for the epoch a reset set, the room's
   * head when the reset was stored. Epoch e ends at the next entry's seq (S_{e+1}).
   */
  seq: number;
  /** The commit's ts (the reset's time for a reset). */
  ts: number;
  /** The commit's message id ('' for a reset): a resent commit is answered from it (§1.5). */
  id: string;
}

export interface PrivateRoomRecord {
  /** ownerPub, 32 raw bytes; the room id is its hash (§3.6). */
  owner: Buffer;
  /** Oldest first, consecutive epochs; the last is the current epoch. Never empty. */
  epochs: readonly EpochKey[];
}

/**
 * `owner`: the room has another owner key. `stale`: the reset would take the room back, below
 * its oldest stored epoch, or to that epoch's very key after later commits; or, for a repair,
 * the record does not hold `epoch` with that key before its current epoch, with the epoch after
 * it begun at the refused seq (§3.6 "Repair").
 */
export type ResetResult = { ok: true; seq: number } | { ok: false; reason: 'owner' | 'stale' };

/** A commit stored (or found stored: `duplicate`), or refused because its epoch already ended. */
export type CommitResult =
  | { stale: false; seq: number; ts: number; duplicate: boolean; epoch: number }
  | { stale: true; epoch: number; seq: number };

/**
 * What a store does for private rooms (§3.6). Every method is asynchronous so that a store on a
 * database implements it with a transaction; each change of one room is atomic and serialised
 * with the room's other changes (a compare-and-set on the epoch).
 */
export interface PrivateRoomStore<Origin = unknown> {
  /** The room's record, or undefined for a room that was never reset (a link room). */
  privateRoom(room: string): Promise<PrivateRoomRecord | undefined>;
  /**
   * Makes `room` a private room at `epoch` with `authPub` (the relay checked the signature), or
   * sets it again: refused with `owner` when the room has a record with another owner key.
   * Refused with `stale` when `epoch` is below the record's oldest epoch, or equal to it with
   * the same key while later epochs exist. Resolves once the record is durable. The record then
   * holds only this epoch, from the room's head on (`seq`: that head).
   *
   * `refuse` > 0 is a repair (§3.6): the record must hold `epoch` with exactly `authPub`, not as
   * its current epoch, and the epoch after it must have begun at seq `refuse`; then the epochs
   * after `epoch` are dropped (durably, in one write) and `epoch` is current again, its earlier
   * epochs kept. Otherwise `stale`. `seq` of the result is the room's head.
   */
  resetPrivateRoom(room: string, owner: Buffer, epoch: number, authPub: Buffer, refuse?: number): Promise<ResetResult>;
  /**
   * Stores a commit as a message of the room AND moves the room to `epoch` with `authPub`, in
   * one durable write: after a crash at any instant both or neither are there. Only when the
   * room's current epoch is still `epoch - 1` (the relay verified the rotation under that
   * epoch's key); otherwise `stale` with the current epoch and the seq of the commit that began
   * `epoch` (or, when that one is no longer known, of the current epoch). A commit whose id
   * already began an epoch is answered from it with `duplicate: true`. `origin` is the sending
   * connection: a cluster's store forwards the commit from its feed to every member but it
   * (as `append` in store/pg/clusterRooms.ts); the embedded store does not need it.
   */
  appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer, origin?: Origin): Promise<CommitResult>;
}
