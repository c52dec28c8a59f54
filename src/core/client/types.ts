// The public types of the client core: what a UI (the VS Code extension, `smc chat`) sees of
// RelayClient. Everything here is data a UI can show as it is; nothing here ever carries a key,
// a body or a presence tag. No vscode, no DOM, no Node built-ins: this file is imported by the
// extension host and (through src/shared) its types may be mirrored in the webview.

import type { Identity, SignatureVerifier, Snippet } from '../crypto/index';
import type { OutboxStore } from '../keys/stores';
import type { ChatFields, FileInfo, PatchShare, ReplyRef } from '../payload/fields';
import type { FileTransferErrorCode } from '../payload/fileTransfer';
import type { MessageView, ReactionView } from '../payload/effects';

export type { Identity, Snippet, ChatFields, FileInfo, PatchShare, ReplyRef, MessageView, ReactionView };

// ---- transport ------------------------------------------------------------------------

/**
 * A minimal duplex of lines (docs/protocol.md §1.1): one connection to one relay. `line` carries
 * one frame without its `\n`; the transport bounds incoming lines itself (maxFrame) and closes
 * with an error when a line is too long. After `close` no other event follows.
 */
export interface TransportEvents {
  /** The connection is established; writes are accepted from now on. */
  open: [];
  /** One received line (without `\r\n`), never empty. */
  line: [line: string];
  /** The connection is over (once). `error` says why when it was not a clean close. */
  close: [error?: Error];
}

export interface Transport {
  /** Queues one frame; the transport appends `\n`. Ignored once closed. */
  write(line: string): void;
  /** Closes the connection; `close` is emitted once. */
  close(): void;
  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void;
}

/** Opens a connection to host:port; the result emits `open` or `close`. */
export type TransportFactory = (host: string, port: number) => Transport;

// ---- client options ---------------------------------------------------------------------

/**
 * The first key seen per name per room (docs/protocol.md §2.4), like SSH's known_hosts. The
 * crypto engineer's `KnownKeys` (src/core/keys) satisfies this; RelayClient keeps an
 * in-memory one when none is given.
 */
export interface KnownKeysLike {
  check(room: string, name: string, fingerprint: string): 'new' | 'same' | 'changed';
  trust(room: string, name: string, fingerprint: string): unknown;
}

/**
 * Where a client keeps, per room, what it needs to recognise every id it has shown, across
 * restarts (issue 7 §2.1, docs/protocol.md §2.8): one opaque record per room (ShownWindow's), saved
 * batched with lastSeq. src/core/keys ShownIdsState keeps it in a StateStore.
 */
export interface ShownIdsStore {
  load(room: string): unknown;
  save(room: string, record: unknown): unknown;
}

/** A debug log sink. Receives event names and non-secret fields only. */
export type ClientLog = (event: string, fields?: Record<string, unknown>) => void;

export interface RelayClientOptions {
  host: string;
  port: number;
  /** `agent` of the hello frame (§1.3), e.g. "smc-cli/0.1.0". */
  agent: string;
  identity: Identity;
  displayName: string;
  /**
   * How to reach the relay. The core knows no sockets: in Node (the terminal and the extension
   * host) pass createTcpTransport, or for a TLS relay (smcs:// invite, §1.8)
   * createTlsTransportFactory(fingerprint), both from src/node/tcpTransport.ts.
   */
  transport: TransportFactory;
  log?: ClientLog;
  knownKeys?: KnownKeysLike;
  /**
   * Called with the highest seq seen per room so that a restart resumes (§1.4 `since`).
   * Batched: at most once per `lastSeqFlushMs` per room, and on synced/leave/disconnect.
   */
  saveLastSeq?: (room: string, seq: number) => void;
  /** Keeps the ids shown per room across restarts (§2.8); without it they live in memory only. */
  shownIds?: ShownIdsStore;
  /**
   * Keeps un-acked messages (their sealed envelopes) across restarts (§1.5): each is saved
   * before its send goes out and removed on its ack; join() sends a room's again, same ids,
   * and reports them as `restored`. Without it they live in memory only.
   */
  outbox?: OutboxStore;
  /** Timing and sizing knobs; the defaults follow docs/protocol.md. Tests shorten them. */
  tuning?: Partial<ClientTuning>;
  /**
   * Checks the signatures (§2.4 step 3) of a join's catch-up in batches, e.g. on worker threads
   * (src/node/verifyPool.ts WorkerSignatureVerifier); closed by disconnect(). Without one, and
   * for live messages always, every message is opened in this thread as it arrives.
   */
  verifier?: SignatureVerifier;
}

export interface ClientTuning {
  /** §1.3: ping after this much silence (default 25 000). */
  pingAfterMs: number;
  /** No byte for this long after a ping: the connection is dead (default 10 000). */
  deadAfterMs: number;
  /** Reconnect backoff: first ceiling, maximum ceiling (full jitter below the ceiling). */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** A connection that lasted this long resets the backoff (default 10 000). */
  stableAfterMs: number;
  /** rate_limited: first resend delay ceiling and its maximum. */
  rateLimitBaseMs: number;
  rateLimitMaxMs: number;
  /** An un-acked message is shown as failed after this long (it stays in the outbox). */
  failAfterMs: number;
  /** `limit` of join (§1.4) and of history pages (§1.6). */
  joinLimit: number;
  historyLimit: number;
  /** On a fresh join (nothing seen yet), how many of the newest messages to load. */
  initialHistory: number;
  /** Ids remembered per room to drop replays (§2.8). */
  dedupIds: number;
  /** Ids kept per room across restarts, with their seqs (issue 7 §2.1; default: the relay's retain, §1.6). */
  shownIds: number;
  /** Typing indicators: at most one per this interval per room. */
  typingIntervalMs: number;
  /** How often lastSeq is handed to saveLastSeq at most. */
  lastSeqFlushMs: number;
  /**
   * File chunks (docs/protocol.md §2.3.5) are paced below the relay's send rate (§1.7: 100/s,
   * burst 200 by default) so that an 8 MiB file never trips `rate_limited`: at most
   * `chunkBurst` at once, then `chunkRate` per second (defaults 100 and 80).
   */
  chunkRate: number;
  chunkBurst: number;
  /** Un-acked messages at most (all rooms); one more is refused with `outbox_full`. */
  outboxLimit: number;
  /** Bytes of sealed envelopes (body characters) un-acked at most; past it, `outbox_full`. */
  outboxBytes: number;
}

// ---- state and events -------------------------------------------------------------------

export type ConnectionState = 'offline' | 'connecting' | 'connected';

/**
 * A verified message, ready to show. Unverifiable ones are `UnverifiableMessage`. It carries
 * the fields of docs/protocol.md §2.3.1-2.3.6 its type takes (ChatFields: `reply`, `mentions`,
 * `target`, `emoji`, `file`, `patch`; `index` and `data` only on a `file-chunk`, which
 * RelayClient never emits: it assembles chunks into `file` events). RelayClient emits content
 * messages (text, snippet, file, patch) and types it does not know as `message`, with the
 * effects already known applied (`edited`, `deleted`, `reactions`); reactions, edits and
 * deletes come as `effects` events.
 */
export interface ChatMessage extends ChatFields {
  room: string;
  /** Relay seq (§1.4); absent only for messages of this client not yet acked. */
  seq?: number;
  /** The sender's clock (signed payload `ts`, §2.3). */
  ts: number;
  id: string;
  /** The sender's claimed display name (§2.3: a claim, not an identity). */
  name: string;
  /** Full fingerprint, 8 groups (§2.1). */
  fingerprint: string;
  /** First 2 groups, for compact display. */
  shortFingerprint: string;
  type: string;
  text?: string;
  snippet?: Snippet;
  verified: true;
  /** §2.4: this name was seen in this room with another key, not verified since. */
  keyChanged: boolean;
  /** Sent by this installation's identity. */
  own: boolean;
  /** Loaded from history (join catch-up or loadOlder), not received live. */
  history: boolean;
  /**
   * This id was shown in an earlier run (§2.8) and came again as the history it was, under the
   * same seq (a fresh join or a re-sync from 0): a UI that keeps a timeline rebuilds it from
   * such messages; one that only prints (the terminal) must not print it again.
   */
  shownBefore?: boolean;
  /** §2.3.4: an edit by the sender's key applies; `text` (and `mentions`) are the edited ones. */
  edited?: boolean;
  /** §2.3.4: deleted by the sender's key: no text, snippet, file, patch, reply or reactions are left. */
  deleted?: boolean;
  /** §2.3.3: the reactions on, each with the fingerprints that have it on. */
  reactions?: ReactionView[];
}

/**
 * What a reaction, edit or delete did (docs/protocol.md §2.3 "Who may act on a message",
 * §2.3.3, §2.3.4), as `effects` events. `view` is the target as it shows now, when loaded.
 */
export interface EffectEvent {
  room: string;
  /** The reaction, edit or delete itself (verified; an own one not acked yet has no seq). */
  effect: ChatMessage;
  target: string;
  /**
   * `edited`/`deleted`/`reactions`: the target shows differently now (redraw it from `view`;
   * on `deleted`, purge its text from anything kept). `unchanged`: it applies but does not
   * change what shows (an older edit, a target already deleted). `pending`: the target is not
   * loaded yet; applied when it comes (the target's `message` then shows it). `refused`: not
   * applied (`why`), e.g. an edit under another key than the target's.
   */
  change: 'edited' | 'deleted' | 'reactions' | 'unchanged' | 'pending' | 'refused';
  why?: 'not_the_sender' | 'not_content';
  view?: MessageView;
}

/**
 * A file's progress (docs/protocol.md §2.3.5), as `file` events; `file` is the id of its `file`
 * message. Received: `receiving` (parts so far), then `complete` with the verified bytes
 * (handed over once: the client keeps none) or `failed` (nothing of it is kept). Sent by this
 * client: `uploading` as the relay acks its parts, then `uploaded`.
 */
export type FileEvent = { room: string; file: string } & (
  | { state: 'receiving'; received: number; chunks: number }
  | { state: 'complete'; info: FileInfo; fingerprint: string; bytes: Uint8Array }
  /** `evicted`: dropped unfinished to keep the room's bound of bytes being assembled (32 MiB). */
  | { state: 'failed'; reason: FileTransferErrorCode | 'evicted'; error: string }
  | { state: 'uploading'; acked: number; chunks: number }
  | { state: 'uploaded'; chunks: number }
);

/**
 * What sendPayload sends: a content message (`text`, `snippet`, `patch`, with an optional
 * `reply` and `mentions`) or an effect (`reaction`, `edit`, `delete` with its `target`). Files
 * go through sendFile. The rules of docs/protocol.md §2.3 apply (ClientError
 * `invalid_message` / `message_too_large`).
 */
export interface OutgoingContent {
  type: 'text' | 'snippet' | 'patch' | 'reaction' | 'edit' | 'delete';
  text?: string;
  snippet?: Snippet;
  reply?: ReplyRef;
  mentions?: string[];
  target?: string;
  emoji?: string;
  patch?: PatchShare;
}

/** What sendFile sends (§2.3.5): the bytes, the name and media type the others see. */
export interface OutgoingFileContent {
  /** The name shown (sendableFileName makes one from a local name); a suggestion to the others. */
  name: string;
  /** Media type; application/octet-stream when absent. */
  mime?: string;
  bytes: Uint8Array;
  /** Optional caption. */
  text?: string;
  reply?: ReplyRef;
  mentions?: string[];
}

/** A message that failed one of the steps of §2.4: never its content. */
export interface UnverifiableMessage {
  room: string;
  seq?: number;
  id: string;
}

export type OutgoingState = 'sending' | 'sent' | 'failed';

export interface OutgoingUpdate {
  room: string;
  id: string;
  state: OutgoingState;
  seq?: number;
  /** User-facing reason for `failed`. */
  error?: string;
}

/** What sendText/sendSnippet return: the message as it will show, and its id for retry. */
export interface OutgoingMessage {
  room: string;
  id: string;
  state: OutgoingState;
  message: ChatMessage;
}

/** What sendFile returns: the file message, and its parts' fate. */
export interface OutgoingFile extends OutgoingMessage {
  chunks: number;
  /**
   * Resolves when the relay acked the file message and every part; rejects with a ClientError
   * when one is refused for good. Does not time out (parts wait in the outbox, and a restart
   * sends them again).
   */
  done: Promise<void>;
}

export interface PresenceMemberInfo {
  sid: string;
  /** Present when the tag was verified. */
  name?: string;
  fingerprint?: string;
  verified: boolean;
  /** This connection's own entry. */
  self: boolean;
  /**
   * §2.4 as for messages: the tag's name is known in this room (from messages) with another
   * key, or looks like this client's own display name. Presence never makes a key trusted.
   * RelayClient always sets it (optional only for UIs that build members themselves).
   */
  keyChanged?: boolean;
}

export interface PresenceUpdate {
  room: string;
  online: number;
  members: PresenceMemberInfo[];
}

export interface TypingEvent {
  room: string;
  name: string;
  fingerprint: string;
  /** As PresenceMemberInfo.keyChanged (§2.4): typing under a name known with another key. */
  keyChanged: boolean;
}

export interface SyncedEvent {
  room: string;
  /** Relay head at join time. */
  head: number;
  /** Highest seq this client has now seen in the room. */
  lastSeq: number;
  /** Older messages remain on the relay (loadOlder can fetch them). */
  more: boolean;
}

export type ClientErrorCode =
  /** The relay could not be reached or the connection dropped; the client retries. */
  | 'connection_failed'
  /** The relay answered with an error frame (§1.7); `relayCode` holds its code. */
  | 'relay_error'
  /** A message is over the payload limits (§2.3); nothing was sent. */
  | 'message_too_large'
  /** A message was refused before sending (empty, bad snippet...). */
  | 'invalid_message'
  /** A call named a room this client has not joined. */
  | 'unknown_room'
  /** As many messages as the outbox holds wait for the relay (ClientTuning.outboxLimit/Bytes); nothing was queued. */
  | 'outbox_full'
  /** A message could not be saved to the OutboxStore: it is sent, but would not survive a restart. */
  | 'outbox_unsaved'
  /** The relay sent something that is not docs/protocol.md; the client reconnects. */
  | 'protocol_error'
  /**
   * The relay refused to let this client into a room (§1.9: auth_required or auth_failed,
   * in `relayCode`). Not retried: the room stays out until the user joins it again.
   */
  | 'room_refused'
  /** The relay speaks protocol v1 (no join proof, §1.3): not retried until connect() again. */
  | 'relay_too_old';

/** An error with a code and a message a UI can show as it is (no stack, no secrets). */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly room?: string,
    readonly relayCode?: string,
  ) {
    super(message);
  }
}

export interface RelayClientEvents {
  state: [state: ConnectionState, detail?: string];
  message: [message: ChatMessage];
  unverifiable: [message: UnverifiableMessage];
  outgoing: [update: OutgoingUpdate];
  /** A message an earlier run queued and the relay never acked, queued again by join() (same id). */
  restored: [message: OutgoingMessage];
  presence: [update: PresenceUpdate];
  typing: [event: TypingEvent];
  synced: [event: SyncedEvent];
  /** A reaction, edit or delete arrived, or was sent by this client (§2.3.3, §2.3.4). */
  effects: [event: EffectEvent];
  /** A file's progress, received or sent (§2.3.5). */
  file: [event: FileEvent];
  error: [error: ClientError];
}

/** What join() returns. */
export interface RoomHandle {
  room: string;
  name: string;
}

export interface JoinOptions {
  key: Uint8Array;
  name: string;
  lastSeq?: number;
}
