// The storage interface of a relay in a cluster (issue 9): several relays on one PostgreSQL
// database serve the same rooms. It keeps the shape of the embedded store's MessageStore
// (../types.ts) and changes what a distributed engine needs:
// - `head` and `oldest` are asynchronous: the truth is in the database, not in memory;
// - a feed delivers every stored message of the rooms this relay watches, its own and other
//   relays', exactly once per room and in seq order, so that the relay fans out in seq order
//   (docs/protocol.md §1.5) whichever relay stored a message;
// - presence of every relay's members, with expiry for a relay that died (§1.4).
// Stored bodies stay opaque ciphertext (§1.2): the database sees what a relay sees, no more.
import type { AppendResult, CommitResult, ResetResult, StoredMessage } from '../types';
import type { ResetSeen } from './feed';
import type { PgPrivateRecord } from './privateRooms';

export type { AppendResult, CommitResult, PgPrivateRecord, ResetResult, ResetSeen, StoredMessage };

/** One message of the feed: a stored message of a watched room. */
export interface FeedMessage<Origin> extends StoredMessage {
  room: string;
  /**
   * The `origin` passed to `append` when this relay stored the message (the relay passes the
   * sending connection, which gets the ack and never the msg, §1.5); undefined when another
   * relay stored it.
   */
  origin: Origin | undefined;
}

export interface PresenceEntry {
  sid: string;
  tag?: string;
}

export interface RoomPresence {
  /** Members on every live relay (§1.4 `online`). */
  online: number;
  /** At most `limit` of them, in a stable order. */
  members: PresenceEntry[];
}

export interface ClusterStoreEvents<Origin> {
  /** A stored message of a watched room, in seq order per room, each exactly once. */
  message(message: FeedMessage<Origin>): void;
  /** The members of `room` changed on another relay (or one expired): list them again. */
  presence(room: string): void;
  /** An ephemeral message (§1.5) another relay received for a watched room. */
  ephemeral(message: { room: string; id: string; body: string }): void;
  /** §3.6: a watched private room was reset by another relay (or a reset this relay missed). */
  reset(reset: ResetSeen): void;
}

export interface ClusterStore<Origin = unknown> {
  /**
   * Connects, refuses a server with `fsync` off, runs the migrations, registers this relay
   * instance (presence) and starts listening for other relays' messages.
   */
  open(): Promise<void>;
  /**
   * Stores a message and resolves only once the transaction holding it has committed with
   * `synchronous_commit` on (group-committed with others that arrive meanwhile). An `id` the
   * room already holds, stored by any relay, resolves with the first copy's seq/ts and
   * `duplicate: true` (§1.5). Rejects with StoreBusyError over the queue bound (→ `internal`, "busy"; open),
   * with StoreUnavailableError while the database cannot be reached (→ internal), and with
   * StoreWriteError otherwise (→ internal); a rejected append was never acked and may or may not
   * be stored: the client resends with the same id and dedup answers.
   */
  append(room: string, id: string, body: string, origin?: Origin): Promise<AppendResult>;
  /** Highest committed seq of the room in the database (0 when empty). */
  head(room: string): Promise<number>;
  /** Messages with `after < seq < before`, the newest `limit` of them, oldest first. */
  range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]>;
  /** Lowest seq still retained for the room (head + 1 when none). */
  oldest(room: string): Promise<number>;
  /**
   * Starts (or keeps) the feed of `room`. Once it resolves, `cursor(room)` is the seq up to which
   * the feed has delivered: every message with a higher seq will come through `message`, in order.
   * Watching is counted: each `watch` needs one `unwatch`.
   */
  watch(room: string): Promise<void>;
  unwatch(room: string): void;
  /**
   * The feed's position in a watched room: the head as this relay shows it (synchronous, so the
   * relay can take it and register a member in one step with no message in between).
   */
  cursor(room: string): number;
  /** This relay's member `sid` is in `room` with `tag` (a join, or a join again). */
  setPresence(room: string, sid: string, tag: string | undefined): void;
  /** This relay's member `sid` left `room`. */
  removePresence(room: string, sid: string): void;
  /** The members of `room` on every live relay. */
  presence(room: string, limit: number): Promise<RoomPresence>;
  /**
   * Passes an ephemeral message (§1.5, not stored) to the other relays, best effort: they emit
   * `ephemeral`; this relay delivers it to its own members itself.
   */
  publishEphemeral(room: string, id: string, body: string): void;
  on<E extends keyof ClusterStoreEvents<Origin>>(event: E, listener: ClusterStoreEvents<Origin>[E]): void;

  // ---- private rooms (docs/protocol.md §3.6; store/types.ts PrivateRoomStore) ----
  /** The room's record with its reset generation, or undefined for a link room. */
  privateRoom(room: string): Promise<PgPrivateRecord | undefined>;
  /**
   * As PrivateRoomStore.resetPrivateRoom, for every relay of the cluster; the others get `reset`.
   * `refuse` > 0: a repair (§3.6), which cuts the epochs after `epoch` (store/pg/schema.ts).
   */
  resetPrivateRoom(room: string, owner: Buffer, epoch: number, authPub: Buffer, refuse?: number): Promise<ResetResult>;
  /**
   * As PrivateRoomStore.appendCommit, through the group commit: the commit then reaches the feed
   * (with its epoch and `origin`) as any message, on every relay.
   */
  appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer, origin?: Origin): Promise<CommitResult>;
  /** Resolves once the feed of a watched room has delivered up to `seq` (at once if not watched). */
  reach(room: string, seq: number, timeoutMs: number): Promise<void>;
  /** The feed's highest delivered commit and known reset generation of a watched room. */
  privateState(room: string): { commitSeq: number; generation: number } | undefined;
  /** Notes a reset generation seen in a record; true when it is news (the room's members here must be rekeyed). */
  raiseGeneration(room: string, generation: number): boolean;

  /** Finishes the appends in flight, removes this instance's presence, closes every connection. */
  close(): Promise<void>;
}

/** The database cannot be reached (down, restarting, failing over): the relay answers `internal`. */
export class StoreUnavailableError extends Error {
  readonly code = 'EUNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * More appends (or reads) are waiting than the store's bound: the relay refuses the request at
 * once with `internal` saying it is busy (the connection stays open; `server_busy` closes it, §1.7).
 */
export class StoreBusyError extends Error {
  readonly code = 'EBUSY';
  constructor(message: string) {
    super(message);
    this.name = 'StoreBusyError';
  }
}

/** An append the database refused, or a store that is closed: the relay answers `internal`. */
export class StoreWriteError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'StoreWriteError';
  }
}

/** The server is unfit to keep the promise of §1.5 (e.g. `fsync` off): the relay must not start. */
export class StoreRefusedError extends Error {
  readonly code = 'EREFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'StoreRefusedError';
  }
}
