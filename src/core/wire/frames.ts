// The wire frames of docs/protocol.md §1, as types. This file is the contract between the relay
// (src/relay), the client core (src/core/client) and the tests: change it only together with
// docs/protocol.md.

/** Protocol version clients speak (§1.3): v2 adds the join proof (§1.9). */
export const PROTOCOL_VERSION = 2;
/** Versions the relay accepts in `hello` (§1.3); v1 clients cannot prove membership (§1.9). */
export const SUPPORTED_VERSIONS: readonly number[] = [1, 2];

/** Defaults and fixed limits of §1 (the relay's options may change the defaults). */
export const LIMITS = {
  /** §1.1: bound on every line in both directions, `\r` and `\n` included. */
  maxFrame: 65_536,
  /** §1.2: a body is at most maxFrame - BODY_OVERHEAD chars. */
  bodyOverhead: 512,
  /** §1.2: a presence tag is at most this many chars. */
  maxTag: 2_048,
  /** §1.3: a connection must complete `hello` within this time. */
  helloTimeoutMs: 10_000,
  /** §1.3: a client pings after this much silence. */
  pingAfterMs: 25_000,
  /** §1.3: the relay closes a connection silent for this long. */
  idleTimeoutMs: 90_000,
  /** §1.4: join/history default and maximum `limit`. */
  defaultLimit: 200,
  maxLimit: 1_000,
  /** §1.4: rooms per connection. */
  maxRoomsPerConnection: 32,
  /** §1.4: presence `members` is cut at this many entries. */
  maxPresenceMembers: 256,
  /** §1.4: presence changes of a room may be coalesced over this window. */
  presenceCoalesceMs: 100,
  /** §1.6: messages kept per room at least. */
  retain: 10_000,
  /** §1.7: sends per second per connection, and burst. */
  rate: 100,
  burst: 200,
  /** §1.7: bytes accepted for a connection and not yet handed to the OS. */
  maxOutputBytes: 8 * 1024 * 1024,
  /** §1.7: connections in all, and per remote address. */
  maxConnections: 10_000,
  maxConnectionsPerIp: 64,
  /** §1.7: a stopping relay exits within this time. */
  shutdownMs: 10_000,
} as const;

/**
 * §1.7 error codes: whether the relay closes the connection after sending each, and whether a
 * `send` refused with it is sent again later by the client, same `id` (`retryable`: the frame
 * was not processed, and a later try can succeed). A `join` refused with `rate_limited` is asked
 * again too. Codes that close the connection are answered by reconnecting, which resends every
 * un-acked message anyway; other refusals are final for the frame.
 */
export const ERROR_CODES = {
  bad_frame: { closes: true, retryable: false },
  frame_too_large: { closes: true, retryable: false },
  hello_required: { closes: true, retryable: false },
  unsupported_version: { closes: true, retryable: false },
  unknown_type: { closes: false, retryable: false },
  bad_request: { closes: false, retryable: false },
  not_joined: { closes: false, retryable: true },
  too_many_rooms: { closes: false, retryable: false },
  rate_limited: { closes: false, retryable: true },
  // §1.7: over the room's budget of stored bytes per hour; the client sends it again later.
  room_quota: { closes: false, retryable: true },
  auth_required: { closes: false, retryable: false },
  auth_failed: { closes: false, retryable: false },
  server_busy: { closes: true, retryable: false },
  shutting_down: { closes: true, retryable: true },
  internal: { closes: false, retryable: true },
  // §3.3, §3.6: a commit for an epoch that already ended; the client applies the winner and
  // retries its intent as a new commit (a new frame, not this one again).
  stale_epoch: { closes: false, retryable: false },
} as const satisfies Record<string, { closes: boolean; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A code from the wire (a newer relay may send one this version does not know). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** §1.7: true when a frame refused with `code` is sent again later; false for unknown codes. */
export function isRetryable(code: string): boolean {
  return isErrorCode(code) && ERROR_CODES[code].retryable;
}

// ---- client → relay -------------------------------------------------------------------

export interface HelloFrame { t: 'hello'; v: number; agent?: string; rid?: number }
export interface PingFrame { t: 'ping'; rid?: number }
/** §1.4, §1.9: `auth` is the room-auth public key (b64u), `proof` its signature of the challenge. */
export interface JoinFrame {
  t: 'join'; rid?: number; room: string; since?: number; limit?: number; tag?: string; auth?: string; proof?: string;
}
export interface LeaveFrame { t: 'leave'; rid?: number; room: string }
/**
 * §1.5; §3.6: a private room's commit carries the epoch it starts (`epoch`), that epoch's
 * room-auth public key (`next`, b64u of 32 bytes) and the rotation signature (`rot`, b64u of 64
 * bytes) under the current epoch's key. The three come together, never with `eph`.
 */
export interface SendFrame {
  t: 'send'; rid?: number; room: string; id: string; body: string; eph?: boolean; epoch?: number; next?: string; rot?: string;
}
export interface HistoryFrame { t: 'history'; rid?: number; room: string; before?: number; limit?: number }
export interface AdminFrame { t: 'admin'; rid?: number; op: 'shutdown'; token?: string }
/**
 * §3.6: makes `room` a private room at the relay, or sets it again: `owner` is the owner public
 * key (b64u, 32 bytes; `room` is its hash), `auth` the room-auth public key of `epoch`, `sig` the
 * owner's signature (b64u, 64 bytes) over the connection's challenge; `refuse` (0 when absent) the
 * seq of the commit a repair refuses.
 */
export interface ResetFrame { t: 'reset'; rid?: number; room: string; owner: string; epoch: number; auth: string; refuse?: number; sig: string }

export type ClientFrame = HelloFrame | PingFrame | JoinFrame | LeaveFrame | SendFrame | HistoryFrame | AdminFrame | ResetFrame;

// ---- relay → client -------------------------------------------------------------------

/** §1.3, §1.9: `challenge` is fresh per connection (b64u of 32 random bytes). */
export interface WelcomeFrame { t: 'welcome'; rid?: number; v: number; agent: string; maxFrame: number; time: number; challenge: string }
export interface PongFrame { t: 'pong'; rid?: number }
/** §3.6: `epoch`, for a private room only, is the relay's current epoch. */
export interface JoinedFrame { t: 'joined'; rid?: number; room: string; head: number; sid: string; epoch?: number }
export interface SyncedFrame { t: 'synced'; rid?: number; room: string; head: number; from: number }
export interface PresenceMember { sid: string; tag?: string }
export interface PresenceFrame { t: 'presence'; room: string; online: number; members: PresenceMember[] }
export interface LeftFrame { t: 'left'; rid?: number; room: string }
/**
 * §1.5: a stored message has `seq` and `ts`; an ephemeral one has `eph: true` and neither.
 * §3.6: a private room's commit is forwarded with the epoch it starts.
 */
export interface StoredMsgFrame { t: 'msg'; room: string; seq: number; ts: number; id: string; body: string; eph?: undefined; epoch?: number }
export interface EphemeralMsgFrame { t: 'msg'; room: string; seq?: undefined; ts?: undefined; id: string; body: string; eph: true }
export type MsgFrame = StoredMsgFrame | EphemeralMsgFrame;
/** §1.5: the ack of a stored message has its `seq` and `ts`; an ephemeral one's neither. */
/** §3.6: the ack of a private room's commit carries the epoch it started. */
export interface StoredAckFrame { t: 'ack'; rid?: number; room: string; id: string; seq: number; ts: number; epoch?: number }
export interface EphemeralAckFrame { t: 'ack'; rid?: number; room: string; id: string; seq?: undefined; ts?: undefined }
export type AckFrame = StoredAckFrame | EphemeralAckFrame;
export interface PageFrame { t: 'page'; rid?: number; room: string; from: number; to: number; more: boolean }
/** §1.7; §3.3: `stale_epoch` carries the relay's epoch and the seq of the commit that ended the sender's. */
export interface ErrorFrame { t: 'error'; rid?: number; code: ErrorCode; message: string; epoch?: number; seq?: number }
export interface ByeFrame { t: 'bye'; reason: string }
/** §3.6: the answer to `reset`, once the relay has stored the room's owner, epoch and key durably. */
export interface ResetOkFrame { t: 'reset_ok'; rid?: number }
/**
 * §3.6: the commit at `seq` started `epoch`; the connection is no longer in `room` and re-joins
 * with a proof under the new epoch's key.
 */
export interface RekeyFrame { t: 'rekey'; room: string; epoch: number; seq: number }

export type RelayFrame =
  | WelcomeFrame | PongFrame | JoinedFrame | SyncedFrame | PresenceFrame | LeftFrame
  | MsgFrame | AckFrame | PageFrame | ErrorFrame | ByeFrame | ResetOkFrame | RekeyFrame;
