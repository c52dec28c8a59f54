// RelayClient: one connection to one relay, any number of rooms (PROTOCOL.md §1.3-1.7), and
// the envelope layer on top (§2.4-2.5). It never loses or doubles a message whatever the
// network does: an outbox resends un-acked messages with their id after every reconnect
// (§1.5 idempotence), joins resume from the last contiguous seq seen (§1.4), gaps are filled
// with history (§1.6), and ids already shown are dropped when a relay replays them (§2.8).
// No vscode import: the extension host and `smc chat` share this class.
import {
  RoomCipher, PayloadError, PayloadTooLargeError, fingerprint, shortFingerprint, generateMessageId,
  verifySignature,
} from '../crypto/index';
import type { OpenResult, Payload, PreparedOpen, SignatureVerifier, Snippet } from '../crypto/index';
import { LIMITS, PROTOCOL_VERSION } from '../wire/frames';
import type { ClientFrame, ErrorFrame, JoinedFrame, MsgFrame, PageFrame, PresenceFrame, SyncedFrame, AckFrame } from '../wire/frames';
import { displayNameProblem, namesLookAlike } from '../keys/displayName';
import { KnownKeys } from '../keys/knownKeys';
import { MemoryStateStore } from '../keys/stores';
import { Backoff } from './backoff';
import { TypedEmitter } from './emitter';
import { Outbox, type OutboxEntry } from './outbox';
import { RecentIds } from './recentIds';
import { ShownWindow } from './shownWindow';
import { SeqTracker } from './seqTracker';
import { relayErrorMessage } from './relayErrors';
import {
  ClientError, type ChatMessage, type ClientLog, type ClientTuning, type ConnectionState, type JoinOptions,
  type KnownKeysLike, type OutgoingMessage, type PresenceMemberInfo, type PresenceUpdate, type RelayClientEvents,
  type RelayClientOptions, type RoomHandle, type Transport, type TransportFactory, type UnverifiableMessage,
} from './types';

export const DEFAULT_TUNING: ClientTuning = {
  pingAfterMs: LIMITS.pingAfterMs,
  deadAfterMs: 10_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  stableAfterMs: 10_000,
  rateLimitBaseMs: 100,
  rateLimitMaxMs: 5_000,
  failAfterMs: 15_000,
  joinLimit: LIMITS.maxLimit,
  historyLimit: LIMITS.maxLimit,
  initialHistory: LIMITS.defaultLimit,
  dedupIds: 20_000,
  shownIds: LIMITS.retain,
  typingIntervalMs: 3_000,
  lastSeqFlushMs: 1_000,
};

/** Sends in flight at once; more wait in the outbox (bounds what a rate_limited burst refuses). */
const SEND_WINDOW = 64;
/** Seqs waiting above a hole before the client asks the relay for the hole (§1.6). */
const LIVE_GAP_THRESHOLD = 256;
/**
 * Live messages (seq > head) a catch-up holds while it pages back (they are shown after it, in
 * seq order). A relay that sends more before the catch-up ends is flooding: protocol error.
 */
const LIVE_DURING_SYNC = LIMITS.maxLimit;
/** Decrypted presence tags remembered (a tag is re-sent in every presence frame). */
const TAG_CACHE = 4_096;

/**
 * Catch-up messages handed to the verifier at once: big enough for a worker to pay for its
 * round trip, small enough that the workers start while later pages are still arriving.
 */
const VERIFY_CHUNK = 256;

/**
 * A message opened (or not) while its room is still catching up, shown in seq order later.
 * `solicited`: the message came in answer to this client's join or history request, so an id
 * shown in an earlier run may legitimately come again (§2.8 across restarts, see deliver()).
 */
type Opened =
  | { kind: 'msg'; seq?: number; message: ChatMessage; solicited?: boolean }
  | { kind: 'bad'; seq?: number; bad: UnverifiableMessage };
type Item = Opened | PendingItem;

/** A catch-up message past §2.4 steps 1-2 whose signature the verifier is checking. */
interface PendingItem {
  kind: 'pending';
  seq: number;
  prepared: PreparedOpen;
  /** Decided on arrival, as for a message opened at once. */
  history: boolean;
  /** The verifier's answer (step 3), once it came. */
  valid?: boolean;
}

interface SyncState {
  rid: number;
  /** `since` sent in the join. */
  since: number;
  /** The join's `limit` as the relay counts it (§1.4: at most LIMITS.maxLimit). */
  limit: number;
  /**
   * Where the join's reply is (§1.4): before `joined` (what comes is an earlier join's reply or
   * live), between `joined` and `synced` (only stored messages with since < seq ≤ head, at most
   * `limit`), then paging back (history pages, and live messages with seq > head).
   */
  phase: 'joining' | 'catchup' | 'paging';
  /** Messages of the join's catch-up so far. */
  caughtUp: number;
  /** Messages before `joined` and live messages while paging, held in `items` (bounded). */
  extra: number;
  /** Nothing seen before: load only the newest `initialHistory` (§1.4 `limit`). */
  fresh: boolean;
  items: Item[];
  /** rid of the latest step (the join, then each history page) whose end decides what follows. */
  stepRid: number;
  /** `before` of that step: its messages have lower seqs (the join's: head + 1). */
  stepBefore: number;
  /** The page after that step is already asked for (prefetched on its first message). */
  successor: boolean;
  /** `limit` of that step: how many of its messages may still come. */
  stepLimit: number;
  /** Prepared messages not yet handed to the verifier. */
  unsent: PendingItem[];
  /** Batches at the verifier; they settle once every item of theirs has `valid` (never reject). */
  batches: Promise<void>[];
}

interface RoomState {
  room: string;
  name: string;
  cipher: RoomCipher;
  seqs: SeqTracker;
  savedSeq: number;
  seen: RecentIds;
  /** Ids shown in this and earlier runs, with their seqs, kept across restarts (§2.8, issue 7 §2.1). */
  shown: ShownWindow;
  joined: boolean;
  /**
   * The relay refused this room's join proof (§1.9: auth_required / auth_failed). Not retried,
   * not even after a reconnect, until the user joins the room again.
   */
  refused?: string;
  sync?: SyncState;
  head: number;
  /** Lowest seq shown, for loadOlder (§1.6 `before`). */
  oldest: number;
  more: boolean;
  sid?: string;
  lastTypingAt: number;
  gapFilling: boolean;
  /**
   * Set while a finished catch-up waits for its signatures: what would be shown meanwhile (live
   * messages, a later catch-up) waits here, in arrival order, and is shown after it.
   */
  waiting?: (() => void)[];
}

type Pending =
  | { kind: 'join'; room: string }
  | { kind: 'send'; room: string; id: string }
  | { kind: 'eph' }
  | { kind: 'ping' }
  | { kind: 'leave'; resolve: () => void }
  | {
      kind: 'history'; room: string; purpose: 'sync' | 'older' | 'gap'; before: number;
      /** As the relay counts it (§1.6: at least 1, at most LIMITS.maxLimit). */
      limit: number;
      /** Messages of its page so far (§1.6: at most `limit`, every seq < `before`). */
      received: number;
      resolve?: (r: { more: boolean }) => void; reject?: (e: Error) => void;
    };

export class RelayClient extends TypedEmitter<RelayClientEvents> {
  private readonly tuning: ClientTuning;
  private readonly factory: TransportFactory;
  private readonly log: ClientLog;
  private readonly knownKeys: KnownKeysLike;
  private readonly verifier?: SignatureVerifier;
  private readonly ownFingerprint: string;
  private readonly ownShort: string;
  private displayName: string;

  private connState: ConnectionState = 'offline';
  private wanted = false;
  private transport?: Transport;
  private closedWaiters: (() => void)[] = [];
  private byeReceived = false;
  private nextRid = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly rooms = new Map<string, RoomState>();
  private readonly outbox = new Outbox();
  private inFlight = 0;
  private sendPausedUntil = 0;
  private pumpTimer?: ReturnType<typeof setTimeout>;
  private readonly reconnectBackoff: Backoff;
  private readonly rateBackoff: Backoff;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private stableTimer?: ReturnType<typeof setTimeout>;
  private keepaliveTimer?: ReturnType<typeof setInterval>;
  private seqFlushTimer?: ReturnType<typeof setTimeout>;
  /** The relay's maxFrame (§1.1), from its welcome. */
  private maxFrame: number = LIMITS.maxFrame;
  /** §1.9: this connection's challenge, from its welcome; every join signs it. */
  private challenge: string | undefined;
  private openedAt = 0;
  private lastRx = 0;
  private pingSentAt?: number;
  private outageReported = false;
  private drainWaiters: (() => void)[] = [];
  private readonly tagCache = new Map<string, OpenResult>();
  private readonly presenceByRoom = new Map<string, PresenceUpdate>();

  constructor(private readonly options: RelayClientOptions) {
    super();
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.factory = options.transport;
    this.log = options.log ?? (() => undefined);
    this.knownKeys = options.knownKeys ?? new KnownKeys(new MemoryStateStore());
    if (options.verifier !== undefined) this.verifier = options.verifier;
    this.ownFingerprint = fingerprint(options.identity.publicKey);
    this.ownShort = shortFingerprint(options.identity.publicKey);
    this.displayName = checkName(options.displayName);
    this.reconnectBackoff = new Backoff(this.tuning.reconnectBaseMs, this.tuning.reconnectMaxMs);
    this.rateBackoff = new Backoff(this.tuning.rateLimitBaseMs, this.tuning.rateLimitMaxMs);
  }

  // ---- public API -----------------------------------------------------------------------

  get state(): ConnectionState {
    return this.connState;
  }

  get name(): string {
    return this.displayName;
  }

  get fingerprint(): string {
    return this.ownFingerprint;
  }

  /** Rooms joined (or waiting to be joined when offline). */
  get joinedRooms(): RoomHandle[] {
    return [...this.rooms.values()].map((r) => ({ room: r.room, name: r.name }));
  }

  /** The last presence of a room, decrypted (undefined before the first presence frame). */
  presence(room: string): PresenceUpdate | undefined {
    return this.presenceByRoom.get(room);
  }

  /** Highest seq below which every message of the room has been shown. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.seqs.last;
  }

  /** Messages not acked yet (held ones included). */
  get pendingCount(): number {
    return this.outbox.size;
  }

  /** Starts connecting; reconnects by itself until disconnect(). */
  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.outageReported = false;
    this.reconnectBackoff.reset();
    this.open();
  }

  /** Closes the connection and stops reconnecting. The outbox is kept for the next connect(). */
  async disconnect(): Promise<void> {
    this.wanted = false;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.flushSeqs();
    const t = this.transport;
    if (t !== undefined) {
      const closed = new Promise<void>((resolve) => this.closedWaiters.push(resolve));
      t.close();
      await closed;
    }
    // Stops the verifier's threads (a batch still in it is finished in this thread and shown).
    await this.verifier?.close?.().catch((err: unknown) => this.log('verifier_close_failed', { error: err instanceof Error ? err.message : String(err) }));
    this.setState('offline');
  }

  /** Joins a room (now, or as soon as connected) and returns its id. Joining again renames it. */
  join(opts: JoinOptions): RoomHandle {
    const cipher = new RoomCipher(opts.key);
    const existing = this.rooms.get(cipher.room);
    if (existing !== undefined) {
      existing.name = opts.name;
      // Joining a refused room again is the user's choice to ask the relay once more.
      if (existing.refused !== undefined) {
        existing.refused = undefined;
        if (this.connState === 'connected' && existing.sync === undefined) this.sendJoin(existing);
      }
      return { room: existing.room, name: existing.name };
    }
    const last = opts.lastSeq ?? 0;
    const rs: RoomState = {
      room: cipher.room, name: opts.name, cipher, seqs: new SeqTracker(last), savedSeq: last,
      seen: new RecentIds(this.tuning.dedupIds), shown: this.loadShown(cipher.room), joined: false, head: 0, oldest: Number.POSITIVE_INFINITY,
      more: false, lastTypingAt: 0, gapFilling: false,
    };
    this.rooms.set(rs.room, rs);
    if (this.connState === 'connected') this.sendJoin(rs);
    return { room: rs.room, name: rs.name };
  }

  /** Leaves a room; its un-acked messages are dropped (the user chose to leave). */
  async leave(room: string): Promise<void> {
    const rs = this.rooms.get(room);
    if (rs === undefined) return;
    this.flushSeq(rs);
    this.rooms.delete(room);
    this.presenceByRoom.delete(room);
    this.outbox.dropRoom(room);
    this.checkDrain();
    if (this.connState !== 'connected' || !rs.joined || this.transport === undefined) return;
    await new Promise<void>((resolve) => {
      this.request({ t: 'leave', room }, { kind: 'leave', resolve });
    });
  }

  sendText(room: string, text: string): OutgoingMessage {
    if (text.length === 0) throw new ClientError('invalid_message', 'An empty message cannot be sent.', room);
    return this.enqueue(room, { type: 'text', text });
  }

  sendSnippet(room: string, snippet: Snippet, caption?: string): OutgoingMessage {
    return this.enqueue(room, caption === undefined || caption === '' ? { type: 'snippet', snippet } : { type: 'snippet', snippet, text: caption });
  }

  /** Sends a failed message again now (same id, so the relay cannot store it twice). */
  retry(room: string, id: string): void {
    const e = this.outbox.get(room, id);
    if (e === undefined) return;
    this.outbox.hold(e, false);
    this.setOutgoing(e, 'sending');
    this.armFailTimer(e);
    this.sendPausedUntil = 0;
    this.pump();
  }

  /** A typing indicator (§1.5 ephemeral), at most one per typingIntervalMs per room. */
  setTyping(room: string): void {
    const rs = this.rooms.get(room);
    if (rs === undefined || !rs.joined || this.connState !== 'connected' || this.byeReceived) return;
    const now = Date.now();
    if (now - rs.lastTypingAt < this.tuning.typingIntervalMs) return;
    rs.lastTypingAt = now;
    const id = generateMessageId();
    const body = rs.cipher.seal({ id, ts: now, name: this.displayName, type: 'typing' }, this.options.identity);
    this.request({ t: 'send', room, id, body, eph: true }, { kind: 'eph' });
  }

  /** Loads one page of older messages (§1.6); they arrive as `message` events with history. */
  loadOlder(room: string): Promise<{ more: boolean }> {
    const rs = this.rooms.get(room);
    if (rs === undefined) return Promise.reject(new ClientError('unknown_room', 'This room is not joined.', room));
    if (!rs.more || rs.oldest <= 1) return Promise.resolve({ more: false });
    if (this.connState !== 'connected' || !rs.joined || rs.sync !== undefined) {
      return Promise.reject(new ClientError('connection_failed', 'Not connected to the relay; older messages load once it is back.', room));
    }
    return new Promise((resolve, reject) => {
      const before = Number.isFinite(rs.oldest) ? rs.oldest : rs.head + 1;
      this.requestHistory(rs, 'older', before, this.tuning.historyLimit, resolve, reject);
    });
  }

  /** Changes the display name; presence tags are renewed by joining again (§1.4). */
  setDisplayName(name: string): void {
    this.displayName = checkName(name);
    if (this.connState !== 'connected') return;
    for (const rs of this.rooms.values()) if (rs.joined) this.sendJoin(rs);
  }

  /**
   * Resolves once every queued message is acked or held as failed by the relay; `failed` counts
   * the held ones. Does not time out: callers that need a bound race it with their own timer.
   */
  drain(): Promise<{ failed: number }> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (this.outbox.deliverable > 0) return false;
        resolve({ failed: this.outbox.size });
        return true;
      };
      if (!check()) this.drainWaiters.push(() => void check());
    });
  }

  // ---- connection -----------------------------------------------------------------------

  private open(): void {
    if (!this.wanted || this.transport !== undefined) return;
    this.reconnectTimer = undefined;
    this.byeReceived = false;
    this.setState('connecting');
    const { host, port } = this.options;
    this.log('connecting', { host, port });
    let t: Transport;
    try {
      t = this.factory(host, port);
    } catch (err) {
      this.onClose(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.transport = t;
    this.openedAt = Date.now();
    this.lastRx = this.openedAt;
    this.pingSentAt = undefined;
    this.startKeepalive();
    t.on('open', () => {
      if (this.transport !== t) return;
      this.write({ t: 'hello', v: PROTOCOL_VERSION, agent: this.options.agent });
    });
    t.on('line', (line) => {
      if (this.transport === t) this.onLine(line);
    });
    t.on('close', (err) => {
      if (this.transport === t) this.onClose(err);
    });
  }

  private onClose(err?: Error): void {
    const wasConnected = this.connState === 'connected';
    this.transport = undefined;
    this.challenge = undefined;
    this.stopKeepalive();
    if (this.stableTimer !== undefined) clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.log('closed', { reason: err?.message ?? 'closed', wasConnected });
    // Everything in flight on this connection is void; the outbox keeps every message.
    const lost = new ClientError('connection_failed', 'The connection to the relay was lost.');
    for (const p of this.pending.values()) {
      if (p.kind === 'leave') p.resolve();
      else if (p.kind === 'history') p.reject?.(lost);
    }
    this.pending.clear();
    this.inFlight = 0;
    for (const e of this.outbox.values()) e.rid = undefined;
    const unknownPresence: string[] = [];
    for (const rs of this.rooms.values()) {
      rs.joined = false;
      rs.sync = undefined;
      rs.gapFilling = false;
      if (this.presenceByRoom.delete(rs.room)) unknownPresence.push(rs.room);
    }
    this.flushSeqs();
    this.scheduleReconnect(err, wasConnected);
    // Who is online is unknown until the next join: say so after the state says why.
    for (const room of unknownPresence) this.emit('presence', { room, online: 0, members: [] });
    for (const w of this.closedWaiters.splice(0)) w();
  }

  private scheduleReconnect(err: Error | undefined, wasConnected: boolean): void {
    if (!this.wanted) {
      this.setState('offline');
      return;
    }
    const delay = this.reconnectBackoff.next();
    const why = err?.message ?? (this.byeReceived ? 'the relay is shutting down' : 'connection closed');
    if (!this.outageReported) {
      this.outageReported = true;
      const where = `${this.options.host}:${this.options.port}`;
      const msg = wasConnected ? `Lost the connection to the relay at ${where} (${why}); reconnecting.` : `Cannot reach the relay at ${where} (${why}); retrying.`;
      this.emit('error', new ClientError('connection_failed', msg));
    }
    this.setState('connecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private onWelcome(f: Record<string, unknown>): void {
    // §1.3, §1.9: a v2 relay answers v 2 with a challenge; without one it cannot check a join
    // proof, and this client does not join rooms on a relay that lets anyone in.
    if (f.v !== PROTOCOL_VERSION || !isChallenge(f.challenge)) return this.stopForOldRelay();
    this.challenge = f.challenge;
    this.outageReported = false;
    this.maxFrame = isSeq(f.maxFrame) && f.maxFrame > 0 ? f.maxFrame : LIMITS.maxFrame;
    this.setState('connected');
    this.log('connected', { relayAgent: typeof f.agent === 'string' ? f.agent.slice(0, 64) : undefined });
    this.stableTimer = setTimeout(() => this.reconnectBackoff.reset(), this.tuning.stableAfterMs);
    unref(this.stableTimer);
    for (const rs of this.rooms.values()) if (rs.refused === undefined) this.sendJoin(rs);
  }

  /**
   * A relay of protocol v1 (no challenge, or `unsupported_version` for hello v 2): said once,
   * plainly, and not retried, since every retry would get the same answer (no reconnect loop).
   * connect() tries again, e.g. once the relay is updated.
   */
  private stopForOldRelay(): void {
    const where = `${this.options.host}:${this.options.port}`;
    this.log('relay_too_old', { where });
    this.wanted = false;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.emit('error', new ClientError('relay_too_old',
      `The relay at ${where} is too old (protocol v1): it cannot check that only members enter a room. ` +
      'Ask its operator to update it (or use another relay). SMC does not retry until you connect again.'));
    this.dropTransport(new Error('the relay is too old (protocol v1)'));
    this.setState('offline', 'the relay is too old (protocol v1)');
  }

  private startKeepalive(): void {
    const tick = Math.max(20, Math.floor(Math.min(this.tuning.pingAfterMs, this.tuning.deadAfterMs) / 4));
    this.keepaliveTimer = setInterval(() => this.keepalive(), tick);
    unref(this.keepaliveTimer);
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  /** §1.3: ping after pingAfterMs of silence; no answer within deadAfterMs means a dead link. */
  private keepalive(): void {
    const t = this.transport;
    if (t === undefined) return;
    const now = Date.now();
    if (this.connState !== 'connected') {
      if (now - this.openedAt >= this.tuning.deadAfterMs) {
        this.log('connect_timeout', {});
        this.dropTransport(new Error('no answer from the relay'));
      }
      return;
    }
    if (this.pingSentAt === undefined) {
      if (now - this.lastRx >= this.tuning.pingAfterMs) {
        this.pingSentAt = now;
        this.request({ t: 'ping' }, { kind: 'ping' });
      }
    } else if (now - this.pingSentAt >= this.tuning.deadAfterMs) {
      this.log('dead_connection', { silentMs: now - this.lastRx });
      this.dropTransport(new Error('the relay stopped answering'));
    }
  }

  /** Ends a connection that is not usable any more; onClose then reconnects. */
  private dropTransport(err: Error): void {
    const t = this.transport;
    if (t === undefined) return;
    this.onClose(err);
    t.close();
  }

  private protocolError(what: string): void {
    this.log('protocol_error', { what });
    this.emit('error', new ClientError('protocol_error', 'The relay sent something SMC does not understand; reconnecting.'));
    this.dropTransport(new Error('protocol error'));
  }

  // ---- frames in -------------------------------------------------------------------------

  private onLine(line: string): void {
    this.lastRx = Date.now();
    this.pingSentAt = undefined;
    let f: unknown;
    try {
      f = JSON.parse(line);
    } catch {
      return this.protocolError('a line that is not JSON');
    }
    if (typeof f !== 'object' || f === null || Array.isArray(f) || typeof (f as { t?: unknown }).t !== 'string') {
      return this.protocolError('a frame without a type');
    }
    const frame = f as Record<string, unknown> & { t: string };
    if (this.connState !== 'connected' && frame.t !== 'welcome' && frame.t !== 'error' && frame.t !== 'bye') {
      return this.protocolError(`${frame.t.slice(0, 32)} before welcome`);
    }
    switch (frame.t) {
      case 'welcome': return this.onWelcome(frame);
      case 'pong': return this.settle(frame.rid);
      case 'joined': return this.onJoined(frame as unknown as JoinedFrame);
      case 'msg': return this.onMsg(frame as unknown as MsgFrame);
      case 'synced': return this.onSynced(frame as unknown as SyncedFrame);
      case 'presence': return this.onPresence(frame as unknown as PresenceFrame);
      case 'left': return this.settle(frame.rid);
      case 'ack': return this.onAck(frame as unknown as AckFrame);
      case 'page': return this.onPage(frame as unknown as PageFrame);
      case 'error': return this.onError(frame as unknown as ErrorFrame);
      case 'bye':
        // §1.7: acks for sends received before `bye` may still follow; the relay closes.
        this.byeReceived = true;
        this.log('bye', { reason: typeof frame.reason === 'string' ? frame.reason.slice(0, 64) : undefined });
        return;
      default:
        this.log('unknown_frame', { t: frame.t.slice(0, 32) });
    }
  }

  /** Removes a request that needs no more handling than "it is answered". */
  private settle(rid: unknown): void {
    if (typeof rid !== 'number') return;
    const p = this.pending.get(rid);
    this.pending.delete(rid);
    if (p?.kind === 'leave') p.resolve();
  }

  private onJoined(f: JoinedFrame): void {
    if (typeof f.rid === 'number') this.pending.delete(f.rid);
    const rs = this.rooms.get(f.room);
    if (rs === undefined || rs.sync === undefined || rs.sync.rid !== f.rid || !isSeq(f.head)) return;
    rs.joined = true;
    rs.head = f.head;
    rs.sync.phase = 'catchup';
    rs.sync.stepBefore = f.head + 1;
    rs.sid = typeof f.sid === 'string' ? f.sid : undefined;
    if (rs.sync.since > f.head) {
      // §1.4: since > head means the relay lost messages this client saw: sync again from 0.
      // Ids already shown are still in `seen`, so what comes again is not shown twice.
      this.log('relay_behind', { room: rs.room, since: rs.sync.since, head: f.head });
      rs.seqs = new SeqTracker(0);
      rs.sync.since = 0;
      rs.sync.fresh = false;
    }
    // A catch-up big enough for the verifier's threads: start them while its pages arrive.
    const coming = rs.sync.fresh ? Math.min(f.head, this.tuning.initialHistory) : f.head - rs.sync.since;
    if (coming >= VERIFY_CHUNK) this.verifier?.warm?.();
    this.pump();
  }

  private onMsg(f: MsgFrame): void {
    if (typeof f.room !== 'string' || typeof f.id !== 'string' || typeof f.body !== 'string') return this.protocolError('msg without room, id or body');
    const rs = this.rooms.get(f.room);
    if (rs === undefined) return;
    if (f.eph === true) return this.onEphemeral(rs, f);
    if (!isSeq(f.seq)) return this.protocolError('stored msg without seq');
    if (rs.sync !== undefined) {
      // §1.4/§1.6 bound what a catch-up holds until it is shown: limit × maxFrame per step.
      const violation = this.catchUpViolation(rs, rs.sync, f.seq);
      if (violation !== undefined) return this.protocolError(violation);
      rs.sync.items.push(this.verifier !== undefined ? this.prepareMessage(rs, rs.sync, f.id, f.body, f.seq) : this.openMessage(rs, f.id, f.body, f.seq));
      this.prefetch(rs, f.seq);
      return;
    }
    const answer = this.countForHistory(rs.room, f.seq);
    if (answer === 'over') return this.protocolError('a history page over its limit');
    const item = this.openMessage(rs, f.id, f.body, f.seq);
    if (item.kind === 'msg') item.solicited = answer === 'page';
    if (rs.waiting !== undefined) {
      rs.waiting.push(() => this.showLive(rs, item));
      return;
    }
    this.showLive(rs, item);
  }

  /**
   * Counts a stored message against the history request it answers: the room's oldest one
   * pending (the relay answers requests in order, §1.6), when `seq` is below its `before`.
   * 'over': more than its `limit` came. 'none': no request asked for it (a live message).
   */
  private countForHistory(room: string, seq: number): 'page' | 'over' | 'none' {
    for (const p of this.pending.values()) {
      if (p.kind !== 'history' || p.room !== room) continue;
      if (seq >= p.before) return 'none';
      return ++p.received > p.limit ? 'over' : 'page';
    }
    return 'none';
  }

  /**
   * Why a stored message may not be part of this catch-up (§1.4, §1.6), or undefined. Between
   * `joined` and `synced` only since < seq ≤ head and at most the join's `limit`; afterwards a
   * seq ≤ head answers a history page (seq < before, at most its limit; and above since, which
   * every page's limit was computed to stay above), a seq > head is live (bounded too).
   */
  private catchUpViolation(rs: RoomState, sync: SyncState, seq: number): string | undefined {
    if (sync.phase === 'joining') {
      // The reply to an earlier join on this connection (a rename), or live: at most one reply.
      return ++sync.extra > sync.limit + LIVE_DURING_SYNC ? 'more messages before joined than a join returns' : undefined;
    }
    if (sync.phase === 'catchup') {
      if (seq <= sync.since || seq > rs.head) return `a catch-up message (seq ${seq}) outside since ${sync.since} .. head ${rs.head}`;
      return ++sync.caughtUp > sync.limit ? `a catch-up over its limit of ${sync.limit}` : undefined;
    }
    if (seq > rs.head) return ++sync.extra > LIVE_DURING_SYNC ? 'more live messages during a catch-up than it holds' : undefined;
    if (seq <= sync.since) return `a history message (seq ${seq}) at or below since ${sync.since}`;
    const answer = this.countForHistory(rs.room, seq);
    if (answer === 'over') return 'a history page over its limit';
    return answer === 'none' ? `a history message (seq ${seq}) nobody asked for` : undefined;
  }

  private showLive(rs: RoomState, item: Opened): void {
    this.deliver(rs, item);
    if (rs.seqs.aheadCount > LIVE_GAP_THRESHOLD) this.fillLiveGap(rs);
  }

  /** §2.4 steps 1-4 (RoomCipher.open); the precise reason goes to the debug log only. */
  private openMessage(rs: RoomState, id: string, body: string, seq: number): Opened {
    return this.openedItem(rs, id, seq, rs.cipher.open(id, body), seq <= rs.head);
  }

  /**
   * §2.4 steps 1-2 of a catch-up message now; its signature (step 3) goes to the verifier with
   * the others, and finishSync completes it (resolveItem) in seq order with the rest.
   */
  private prepareMessage(rs: RoomState, sync: SyncState, id: string, body: string, seq: number): Item {
    const r = rs.cipher.prepareOpen(id, body);
    if (!r.ok) return this.openedItem(rs, id, seq, r, false);
    const item: PendingItem = { kind: 'pending', seq, prepared: r, history: seq <= rs.head };
    sync.unsent.push(item);
    if (sync.unsent.length >= VERIFY_CHUNK) this.sendToVerifier(sync);
    return item;
  }

  private sendToVerifier(sync: SyncState): void {
    const batch = sync.unsent;
    sync.unsent = [];
    if (batch.length === 0 || this.verifier === undefined) return;
    // A verifier that fails or answers the wrong count costs time, never a message: this thread
    // then checks the batch itself.
    const inThread = (): void => {
      for (const it of batch) it.valid = verifySignature(it.prepared.item);
    };
    let pending: Promise<boolean[]>;
    try {
      pending = this.verifier.verifyBatch(batch.map((it) => it.prepared.item));
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    sync.batches.push(pending.then((results) => {
      if (results.length !== batch.length) {
        this.log('verifier_failed', { error: `answered ${results.length} of ${batch.length}` });
        return inThread();
      }
      batch.forEach((it, i) => (it.valid = results[i] === true));
    }, (err: unknown) => {
      this.log('verifier_failed', { error: err instanceof Error ? err.message : String(err) });
      inThread();
    }));
  }

  /** Step 3's outcome and step 4 for a prepared message (RoomCipher.finishOpen). */
  private resolveItem(rs: RoomState, item: Item): Opened {
    if (item.kind !== 'pending') return item;
    const valid = item.valid ?? verifySignature(item.prepared.item);
    return this.openedItem(rs, item.prepared.id, item.seq, rs.cipher.finishOpen(item.prepared, valid), item.history);
  }

  private openedItem(rs: RoomState, id: string, seq: number, r: OpenResult, history: boolean): Opened {
    if (!r.ok) {
      this.log('unverifiable', { room: rs.room, seq, id: safeId(id), reason: r.reason });
      return { kind: 'bad', seq, bad: { room: rs.room, seq, id: safeId(id) } };
    }
    const p = r.payload;
    const message: ChatMessage = {
      room: rs.room, seq, ts: p.ts, id, name: p.name, fingerprint: r.fingerprint,
      shortFingerprint: r.fingerprint.slice(0, 9), type: p.type, verified: true, keyChanged: false,
      own: r.publicKey.equals(this.options.identity.publicKey), history,
    };
    if (p.text !== undefined) message.text = p.text;
    if (p.snippet !== undefined) message.snippet = p.snippet;
    return { kind: 'msg', seq, message };
  }

  /**
   * Shows one message: drops a replayed id or seq, counts the seq of what it accepts (only
   * that: a dropped replay must not move lastSeq, or a restart would see since > head and sync
   * again from 0), marks a key change (§2.4).
   */
  private deliver(rs: RoomState, item: Opened): void {
    if (item.kind === 'bad') {
      // Shown as "could not be verified": its seq is done with, as a shown message's.
      if (item.seq !== undefined) this.countSeq(rs, item.seq);
      this.emit('unverifiable', item.bad);
      return;
    }
    const m = item.message;
    if (rs.seen.has(m.id)) {
      this.log('duplicate', { room: rs.room, seq: m.seq, id: m.id });
      return;
    }
    // §2.8 across restarts (issue 7 §2.1): an id shown in an earlier run may come again only as
    // the history it was: in answer to a join or history request, under the same seq (the
    // extension's fresh join after a restart). Under another seq, or unasked, it is a replay.
    // §1.5: a seq is never given to two messages, so one shown under another id is a replay too.
    // An unknown id at or below the highest seq shown is old: shown as history, not as new.
    const before = rs.shown.seqOf(m.id);
    if (before !== undefined) {
      if (item.solicited !== true || !m.history || m.seq !== before) {
        this.log('replay', { room: rs.room, seq: m.seq, id: m.id, shownAs: before });
        return;
      }
      // Shown in an earlier run: a UI that only prints (the terminal) does not print it again.
      m.shownBefore = true;
    } else if (m.seq !== undefined && rs.shown.heldByOther(m.seq, m.id)) {
      this.log('replay', { room: rs.room, seq: m.seq, id: m.id, seqShownWithAnotherId: true });
      return;
    } else if (m.seq !== undefined && m.seq <= rs.shown.top) {
      m.history = true;
    }
    rs.seen.add(m.id);
    if (m.seq !== undefined) {
      this.countSeq(rs, m.seq);
      rs.shown.record(m.id, m.seq);
    }
    // Own display name is bound to own key (§2.4): another key under it, or under a look-alike
    // of it, is a key change whatever was seen first; own messages never are.
    const known = m.own ? 'same' : this.keyCheck(rs.room, m.name, m.fingerprint);
    if (known === 'new') this.trust(rs.room, m.name, m.fingerprint);
    m.keyChanged = known === 'changed';
    this.emit('message', m);
  }

  /** The seq of a message shown (or shown as unverifiable): lastSeq and `oldest` follow it. */
  private countSeq(rs: RoomState, seq: number): void {
    rs.seqs.see(seq);
    if (seq < rs.oldest) rs.oldest = seq;
    this.scheduleSeqFlush();
  }

  /**
   * §2.4 for a name under a key that is not this client's: 'changed' when it looks like the
   * own display name or is known in the room with another key. Messages, presence and typing
   * all use it; only a message makes a 'new' key trusted (the caller does).
   */
  private keyCheck(room: string, name: string, fp: string): 'new' | 'same' | 'changed' {
    return namesLookAlike(name, this.displayName) ? 'changed' : this.knownKeys.check(room, name, fp);
  }

  /**
   * Marks `fp` as the trusted key of `name` in `room` (§2.4), e.g. after the user compared
   * fingerprints (/verify): later messages signed with it are no longer keyChanged. A persisting
   * store may answer with a promise; its failure is logged.
   */
  trust(room: string, name: string, fp: string): void {
    try {
      const r = this.knownKeys.trust(room, name, fp);
      if (r instanceof Promise) r.catch((err: unknown) => this.log('known_keys_save_failed', { error: err instanceof Error ? err.message : String(err) }));
    } catch (err) {
      this.log('known_keys_save_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private onEphemeral(rs: RoomState, f: MsgFrame): void {
    const r = rs.cipher.open(f.id, f.body);
    if (!r.ok) {
      this.log('unverifiable_ephemeral', { room: rs.room, reason: r.reason });
      return;
    }
    if (r.payload.type !== 'typing' || r.publicKey.equals(this.options.identity.publicKey)) return;
    const keyChanged = this.keyCheck(rs.room, r.payload.name, r.fingerprint) === 'changed';
    this.emit('typing', { room: rs.room, name: r.payload.name, fingerprint: r.fingerprint, keyChanged });
  }

  private onSynced(f: SyncedFrame): void {
    const rs = this.rooms.get(f.room);
    const sync = rs?.sync;
    if (rs === undefined || sync === undefined || sync.rid !== f.rid || !isSeq(f.head) || !isSeq(f.from)) return;
    sync.phase = 'paging';
    // §1.4: head is the join's; a synced that raises it would let later history exceed it.
    if (f.head < rs.head) rs.head = f.head;
    // The next page was already asked for on the first catch-up message: wait for it.
    if (sync.stepRid !== sync.rid) return;
    this.continueSync(rs, f.from, f.from > 1);
  }

  /**
   * A step's messages come oldest first (§1.4, §1.6), so its first message carries the lowest
   * seq of the step: the next page (`before` = that seq) can be asked for at once, and the
   * relay reads it while this client is still opening the current one. A relay that breaks
   * the order only makes pages overlap; overlapping ids are dropped as duplicates.
   */
  private prefetch(rs: RoomState, seq: number): void {
    const sync = rs.sync!;
    if (sync.successor || seq >= sync.stepBefore) return;
    sync.successor = true;
    // Fresh join: the messages from seq to head are on their way (the estimate ignores holes,
    // so it may fetch a little more than initialHistory; finishSync keeps the newest).
    const limit = sync.fresh
      ? this.tuning.initialHistory - (rs.head - seq + 1)
      : Math.min(seq - sync.since - 1, this.catchUpRoom(sync) - sync.stepLimit + 1);
    if (seq > 1 && limit > 0) this.requestSyncPage(rs, seq, Math.min(limit, this.tuning.historyLimit));
  }

  /**
   * How many more messages a resuming catch-up may hold. It pages back to `since` (§1.4), but a
   * relay whose head is far ahead (2^53, or simply after a long absence) would make it hold
   * everything before showing anything: it stops at the replay window's size (the relay's
   * retain, §1.6), the rest stays loadable with loadOlder (`more`), as after a fresh join.
   */
  private catchUpRoom(sync: SyncState): number {
    return this.tuning.shownIds - sync.items.length;
  }

  private requestSyncPage(rs: RoomState, before: number, limit: number): void {
    const sync = rs.sync!;
    sync.stepRid = this.requestHistory(rs, 'sync', before, limit);
    sync.stepLimit = Math.min(Math.max(1, limit), LIMITS.maxLimit);
    sync.stepBefore = before;
    sync.successor = false;
  }

  /**
   * Pages back (§1.6) until the hole between `since` and what came is closed, or, on a fresh
   * join, until `initialHistory` messages are loaded; then shows everything in seq order.
   */
  private continueSync(rs: RoomState, lowest: number, more: boolean): void {
    const sync = rs.sync!;
    if (more && lowest > 1) {
      if (sync.fresh) {
        const want = this.tuning.initialHistory - sync.items.length;
        if (want > 0) return this.requestSyncPage(rs, lowest, Math.min(want, this.tuning.historyLimit));
      } else if (lowest > sync.since + 1 && this.catchUpRoom(sync) > 0) {
        return this.requestSyncPage(rs, lowest, Math.min(lowest - sync.since - 1, this.tuning.historyLimit, this.catchUpRoom(sync)));
      }
    }
    this.finishSync(rs, more && lowest > 1);
  }

  private finishSync(rs: RoomState, more: boolean): void {
    const sync = rs.sync!;
    rs.sync = undefined;
    const run = (): void => this.awaitSignatures(rs, sync, more);
    if (rs.waiting !== undefined) rs.waiting.push(run);
    else run();
  }

  /**
   * Shows a finished catch-up once its signatures are checked. With nothing at the verifier
   * this is synchronous, as without one; otherwise this thread checks the last partial batch
   * while the workers finish theirs, and the room holds what comes meanwhile (`waiting`).
   */
  private awaitSignatures(rs: RoomState, sync: SyncState, more: boolean): void {
    for (const it of sync.unsent) it.valid = verifySignature(it.prepared.item);
    sync.unsent = [];
    if (sync.batches.length === 0) return this.completeSync(rs, sync, more);
    rs.waiting = [];
    void Promise.all(sync.batches).then(() => {
      const queued = rs.waiting ?? [];
      rs.waiting = undefined;
      // Left meanwhile: nothing of this room is shown any more.
      if (this.rooms.get(rs.room) !== rs) return;
      this.completeSync(rs, sync, more);
      for (let i = 0; i < queued.length; i++) {
        // A queued catch-up that waits for its own batches holds the rest behind it again.
        const held = this.heldBy(rs);
        if (held !== undefined) {
          held.push(...queued.slice(i));
          return;
        }
        queued[i]!();
      }
    });
  }

  /** The room's `waiting` list, read afresh (a call may have set it). */
  private heldBy(rs: RoomState): (() => void)[] | undefined {
    return rs.waiting;
  }

  private completeSync(rs: RoomState, sync: SyncState, more: boolean): void {
    let items = sync.items.map((it) => this.resolveItem(rs, it)).sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    if (sync.fresh && items.length > this.tuning.initialHistory) {
      // The relay's `limit` is at least 1; a client asking for less keeps only the newest.
      items = items.slice(items.length - this.tuning.initialHistory);
      more = true;
    }
    for (const item of items) {
      if (item.kind === 'msg') item.solicited = true;
      this.deliver(rs, item);
    }
    // Older messages were skipped on purpose (fresh join) or are gone (retention).
    rs.seqs.jumpTo(rs.head);
    // deliver() lowered `oldest` to the lowest seq shown; with nothing shown, older means ≤ head.
    if (!Number.isFinite(rs.oldest)) rs.oldest = rs.head + 1;
    rs.more = more;
    this.flushSeq(rs);
    this.emit('synced', { room: rs.room, head: rs.head, lastSeq: rs.seqs.last, more });
  }

  private fillLiveGap(rs: RoomState): void {
    if (rs.gapFilling) return;
    const top = rs.seqs.firstAhead;
    if (top === undefined) return;
    rs.gapFilling = true;
    this.log('gap', { room: rs.room, from: rs.seqs.last + 1, to: top - 1 });
    this.requestHistory(rs, 'gap', top, Math.min(top - rs.seqs.last - 1, this.tuning.historyLimit));
  }

  private requestHistory(
    rs: RoomState, purpose: 'sync' | 'older' | 'gap', before: number, limit: number,
    resolve?: (r: { more: boolean }) => void, reject?: (e: Error) => void,
  ): number {
    const sent = Math.max(1, limit);
    const p: Pending = { kind: 'history', room: rs.room, purpose, before, limit: Math.min(sent, LIMITS.maxLimit), received: 0 };
    if (resolve !== undefined) p.resolve = resolve;
    if (reject !== undefined) p.reject = reject;
    return this.request({ t: 'history', room: rs.room, before, limit: sent }, p);
  }

  private onPage(f: PageFrame): void {
    if (typeof f.rid !== 'number') return;
    const p = this.pending.get(f.rid);
    if (p === undefined || p.kind !== 'history') return;
    this.pending.delete(f.rid);
    const rs = this.rooms.get(p.room);
    if (rs === undefined) return p.resolve?.({ more: false });
    const from = isSeq(f.from) ? f.from : 0;
    let more = f.more === true;
    if (more && (p.received === 0 || from < 1 || from >= p.before)) {
      // §1.6: `from` is the lowest seq sent, below `before`. A page that says more remain but
      // sent nothing (or moved nothing) would be asked for again forever: paging stops here.
      this.log('protocol_violation', { what: 'a history page without progress', room: rs.room, before: p.before, from, received: p.received });
      more = false;
    }
    if (p.purpose === 'sync') {
      // A page whose successor was prefetched is done; the latest step decides.
      if (rs.sync === undefined || rs.sync.stepRid !== f.rid) return;
      return this.continueSync(rs, from === 0 ? 1 : from, more && from > 0);
    }
    if (p.purpose === 'gap') {
      rs.gapFilling = false;
      // Everything the relay holds below `before` down to `from` came; a covered hole is closed.
      if (from === 0 || from <= rs.seqs.last + 1 || !more) rs.seqs.jumpTo(p.before - 1);
      this.scheduleSeqFlush();
      if (rs.seqs.aheadCount > LIVE_GAP_THRESHOLD) this.fillLiveGap(rs);
      return;
    }
    if (from > 0 && from < rs.oldest) rs.oldest = from;
    rs.more = more && from !== 1;
    if (from === 0) rs.more = false;
    p.resolve?.({ more: rs.more });
  }

  private onPresence(f: PresenceFrame): void {
    const rs = this.rooms.get(f.room);
    if (rs === undefined || !Array.isArray(f.members)) return;
    const members: PresenceMemberInfo[] = [];
    for (const m of f.members) {
      if (typeof m !== 'object' || m === null || typeof m.sid !== 'string') continue;
      const info: PresenceMemberInfo = { sid: m.sid, verified: false, self: m.sid === rs.sid, keyChanged: false };
      if (typeof m.tag === 'string') {
        const r = this.openTag(rs, m.tag);
        if (r.ok) {
          info.verified = true;
          info.name = r.payload.name;
          info.fingerprint = r.fingerprint;
          // §2.4 as for messages; presence never makes a key trusted (a tag is no message).
          info.keyChanged = !r.publicKey.equals(this.options.identity.publicKey) && this.keyCheck(rs.room, r.payload.name, r.fingerprint) === 'changed';
        }
      }
      members.push(info);
    }
    const update: PresenceUpdate = { room: rs.room, online: isSeq(f.online) ? f.online : members.length, members };
    this.presenceByRoom.set(rs.room, update);
    this.emit('presence', update);
  }

  private openTag(rs: RoomState, tag: string): OpenResult {
    const key = `${rs.room}/${tag}`;
    let r = this.tagCache.get(key);
    if (r === undefined) {
      r = rs.cipher.openPresence(tag);
      if (!r.ok) this.log('unverifiable_presence', { room: rs.room, reason: r.reason });
      if (this.tagCache.size >= TAG_CACHE) this.tagCache.clear();
      this.tagCache.set(key, r);
    }
    return r;
  }

  private onAck(f: AckFrame): void {
    if (typeof f.rid === 'number') {
      const p = this.pending.get(f.rid);
      if (p !== undefined && (p.kind === 'send' || p.kind === 'eph')) {
        this.pending.delete(f.rid);
        if (p.kind === 'send') this.inFlight = Math.max(0, this.inFlight - 1);
      }
    }
    if (f.seq === undefined) return; // §1.5: an ephemeral send's ack has no seq.
    if (typeof f.room !== 'string' || typeof f.id !== 'string' || !isSeq(f.seq)) return this.protocolError('ack without room, id or seq');
    const e = this.outbox.get(f.room, f.id);
    const rs = this.rooms.get(f.room);
    if (rs !== undefined) {
      rs.seqs.see(f.seq);
      // Own messages are shown at once; their seq comes with the ack (§2.8: a replay of it later is caught).
      if (e !== undefined) rs.shown.record(f.id, f.seq);
      this.scheduleSeqFlush();
    }
    if (e === undefined) return;
    this.outbox.delete(f.room, f.id);
    this.rateBackoff.reset();
    e.message.seq = f.seq;
    e.state = 'sent';
    this.emit('outgoing', { room: e.room, id: e.id, state: 'sent', seq: f.seq });
    this.checkDrain();
    this.pump();
  }

  private onError(f: ErrorFrame): void {
    const code = typeof f.code === 'string' ? f.code : 'internal';
    const p = typeof f.rid === 'number' ? this.pending.get(f.rid) : undefined;
    if (typeof f.rid === 'number') this.pending.delete(f.rid);
    this.log('relay_error', { code, rid: f.rid, kind: p?.kind });
    // §1.3: a relay that does not speak v2 answers hello with unsupported_version, then closes.
    if (code === 'unsupported_version' && this.connState !== 'connected') return this.stopForOldRelay();
    switch (p?.kind) {
      case 'send': return this.onSendError(p.room, p.id, code);
      case 'eph': case 'ping': return;
      case 'leave': return p.resolve();
      case 'history': {
        const rs = this.rooms.get(p.room);
        if (p.purpose === 'sync' && rs?.sync !== undefined) return this.finishSync(rs, false);
        if (p.purpose === 'gap' && rs !== undefined) rs.gapFilling = false;
        p.reject?.(new ClientError('relay_error', relayErrorMessage(code), p.room, code));
        return;
      }
      case 'join': {
        const rs = this.rooms.get(p.room);
        if (rs !== undefined) rs.sync = undefined;
        if (rs !== undefined && (code === 'auth_required' || code === 'auth_failed')) return this.refuseRoom(rs, code);
        if (rs !== undefined && code === 'rate_limited') return this.joinLater(rs);
        this.emit('error', new ClientError('relay_error', relayErrorMessage(code), p.room, code));
        return;
      }
      default:
        this.emit('error', new ClientError('relay_error', relayErrorMessage(code), undefined, code));
    }
  }

  /**
   * §1.9: the relay refused this room's join proof. Retrying cannot help (the proof is what it
   * is), so the room is marked, its messages fail, and one plain error says so.
   */
  private refuseRoom(rs: RoomState, code: string): void {
    rs.refused = code;
    rs.joined = false;
    const name = safeName(rs.name);
    for (const e of this.outbox.values()) {
      if (e.room !== rs.room || e.held) continue;
      this.outbox.hold(e, true);
      this.setOutgoing(e, 'failed', `Not sent: the relay refused room "${name}" (${code}).`);
    }
    this.checkDrain();
    this.emit('error', new ClientError('room_refused', `Room "${name}": ${relayErrorMessage(code)}`, rs.room, code));
  }

  /**
   * §1.7, §1.9: the relay checks join proofs at a bounded rate (per connection and per
   * address), and refused this one unprocessed: ask again after a backoff, on this connection
   * only (a reconnect joins every room anyway).
   */
  private joinLater(rs: RoomState): void {
    const challenge = this.challenge;
    const delay = Math.max(this.tuning.rateLimitBaseMs, this.rateBackoff.next());
    this.log('join_rate_limited', { room: rs.room, retryMs: delay });
    setTimeout(() => {
      if (this.connState !== 'connected' || this.challenge !== challenge || this.rooms.get(rs.room) !== rs) return;
      if (rs.sync === undefined && rs.refused === undefined) this.sendJoin(rs);
    }, delay);
  }

  private onSendError(room: string, id: string, code: string): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const e = this.outbox.get(room, id);
    if (e === undefined) return;
    e.rid = undefined;
    if (code === 'rate_limited' || code === 'internal' || code === 'not_joined' || code === 'shutting_down') {
      // §1.7: the refused frame was not processed; send it again later, same id.
      if (code === 'internal') this.setOutgoing(e, 'failed', relayErrorMessage(code));
      if (code === 'not_joined') {
        const rs = this.rooms.get(room);
        if (rs !== undefined && rs.sync === undefined && rs.refused === undefined) this.sendJoin(rs);
      }
      const delay = this.rateBackoff.next();
      this.sendPausedUntil = Math.max(this.sendPausedUntil, Date.now() + delay);
      this.pump();
      return;
    }
    this.outbox.hold(e, true);
    this.setOutgoing(e, 'failed', relayErrorMessage(code));
    this.checkDrain();
  }

  // ---- frames out ------------------------------------------------------------------------

  private write(frame: ClientFrame): void {
    this.transport?.write(JSON.stringify(frame));
  }

  private request(frame: ClientFrame, p: Pending): number {
    const rid = this.nextRid++;
    this.pending.set(rid, p);
    this.write({ ...frame, rid });
    return rid;
  }

  private sendJoin(rs: RoomState): void {
    // §1.9: only on a connection whose welcome gave a challenge (sendJoin runs once connected).
    const challenge = this.challenge;
    if (challenge === undefined) return;
    const since = rs.seqs.last;
    const fresh = since === 0;
    const limit = fresh ? Math.min(Math.max(1, this.tuning.initialHistory), LIMITS.maxLimit) : this.tuning.joinLimit;
    const tag = rs.cipher.sealPresence(this.displayName, this.options.identity);
    const rid = this.nextRid++;
    rs.sync = {
      rid, since, limit: Math.min(limit, LIMITS.maxLimit), phase: 'joining', caughtUp: 0, extra: 0, fresh, items: [],
      stepRid: rid, stepBefore: 0, successor: false, stepLimit: Math.min(limit, LIMITS.maxLimit), unsent: [], batches: [],
    };
    this.pending.set(rid, { kind: 'join', room: rs.room });
    this.write({ t: 'join', rid, room: rs.room, since, limit, tag, ...rs.cipher.joinProof(challenge) });
  }

  private enqueue(room: string, content: Pick<Payload, 'type' | 'text' | 'snippet'>): OutgoingMessage {
    const rs = this.rooms.get(room);
    if (rs === undefined) throw new ClientError('unknown_room', 'This room is not joined.', room);
    const id = generateMessageId();
    const payload: Payload = { id, ts: Date.now(), name: this.displayName, ...content };
    let body: string;
    try {
      body = rs.cipher.seal(payload, this.options.identity);
    } catch (err) {
      if (err instanceof PayloadTooLargeError) throw new ClientError('message_too_large', err.message, room);
      if (err instanceof PayloadError) throw new ClientError('invalid_message', err.message, room);
      throw err;
    }
    const message: ChatMessage = {
      room, ts: payload.ts, id, name: this.displayName, fingerprint: this.ownFingerprint,
      shortFingerprint: this.ownShort, type: payload.type, verified: true, keyChanged: false, own: true, history: false,
    };
    if (payload.text !== undefined) message.text = payload.text;
    if (payload.snippet !== undefined) message.snippet = payload.snippet;
    rs.seen.add(id);
    const entry: OutboxEntry = { room, id, body, state: 'sending', message, held: false };
    this.outbox.add(entry);
    if (rs.refused !== undefined) {
      // §1.9: this room cannot be joined on this relay; the message waits, failed, for a retry.
      this.outbox.hold(entry, true);
      this.setOutgoing(entry, 'failed', `Not sent: the relay refused room "${safeName(rs.name)}" (${rs.refused}).`);
      return { room, id, state: 'failed', message };
    }
    this.armFailTimer(entry);
    this.emit('outgoing', { room, id, state: 'sending' });
    this.pump();
    return { room, id, state: 'sending', message };
  }

  /** Writes queued sends, in order, up to SEND_WINDOW in flight, unless paused by rate_limited. */
  private pump(): void {
    if (this.transport === undefined || this.connState !== 'connected' || this.byeReceived) return;
    const wait = this.sendPausedUntil - Date.now();
    if (wait > 0) {
      if (this.pumpTimer === undefined) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, wait);
      }
      return;
    }
    for (const e of this.outbox.values()) {
      if (this.inFlight >= SEND_WINDOW) break;
      if (e.rid !== undefined || e.held) continue;
      const rs = this.rooms.get(e.room);
      if (rs === undefined || !rs.joined) continue;
      const rid = this.nextRid++;
      const line = JSON.stringify({ t: 'send', rid, room: e.room, id: e.id, body: e.body });
      // §1.1: a relay configured with a smaller maxFrame would close the connection on this
      // frame, and every reconnect would resend it: hold it as failed instead (ASCII line).
      if (line.length + 1 > this.maxFrame) {
        this.outbox.hold(e, true);
        this.setOutgoing(e, 'failed', `This message is too large for this relay (it accepts frames of at most ${this.maxFrame} bytes).`);
        this.checkDrain();
        continue;
      }
      e.rid = rid;
      this.inFlight++;
      this.pending.set(rid, { kind: 'send', room: e.room, id: e.id });
      this.transport.write(line);
    }
  }

  private armFailTimer(e: OutboxEntry): void {
    if (e.failTimer !== undefined) clearTimeout(e.failTimer);
    e.failTimer = setTimeout(() => {
      e.failTimer = undefined;
      if (this.outbox.get(e.room, e.id) === e && e.state === 'sending') {
        this.setOutgoing(e, 'failed', 'Not delivered yet: the relay has not confirmed it. It is sent again automatically when the connection is back.');
      }
    }, this.tuning.failAfterMs);
    unref(e.failTimer);
  }

  private setOutgoing(e: OutboxEntry, state: 'sending' | 'failed', error?: string): void {
    e.state = state;
    e.error = error;
    this.emit('outgoing', error === undefined ? { room: e.room, id: e.id, state } : { room: e.room, id: e.id, state, error });
  }

  private checkDrain(): void {
    if (this.outbox.deliverable > 0) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  // ---- lastSeq persistence ---------------------------------------------------------------

  /** Batched (§ "no per-message disk writes"): at most one save per room per lastSeqFlushMs. */
  private scheduleSeqFlush(): void {
    if (this.seqFlushTimer !== undefined || (this.options.saveLastSeq === undefined && this.options.shownIds === undefined)) return;
    this.seqFlushTimer = setTimeout(() => {
      this.seqFlushTimer = undefined;
      this.flushSeqs();
    }, this.tuning.lastSeqFlushMs);
    unref(this.seqFlushTimer);
  }

  private flushSeqs(): void {
    if (this.seqFlushTimer !== undefined) clearTimeout(this.seqFlushTimer);
    this.seqFlushTimer = undefined;
    for (const rs of this.rooms.values()) this.flushSeq(rs);
  }

  private flushSeq(rs: RoomState): void {
    this.flushShown(rs);
    const last = rs.seqs.last;
    if (last === rs.savedSeq || this.options.saveLastSeq === undefined) return;
    rs.savedSeq = last;
    try {
      this.options.saveLastSeq(rs.room, last);
    } catch (err) {
      this.log('save_last_seq_failed', { room: rs.room, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** The shown ids of a room from the store (issue 7 §2.1); a damaged record is logged and starts empty. */
  private loadShown(room: string): ShownWindow {
    let stored: unknown;
    try {
      stored = this.options.shownIds?.load(room);
    } catch (err) {
      this.log('shown_ids_load_failed', { room, error: err instanceof Error ? err.message : String(err) });
    }
    const { window, damaged } = ShownWindow.fromRecord(this.tuning.shownIds, stored);
    if (damaged !== undefined) this.log('shown_ids_damaged', { room, reason: damaged });
    return window;
  }

  /** Saved with lastSeq, so at most once per lastSeqFlushMs, and on synced/leave/disconnect. */
  private flushShown(rs: RoomState): void {
    const store = this.options.shownIds;
    if (store === undefined || !rs.shown.dirty) return;
    const failed = (err: unknown): void => this.log('save_shown_ids_failed', { room: rs.room, error: err instanceof Error ? err.message : String(err) });
    try {
      const r = store.save(rs.room, rs.shown.toRecord());
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private setState(state: ConnectionState, detail?: string): void {
    if (state === this.connState && detail === undefined) return;
    this.connState = state;
    this.emit('state', state, detail);
  }

  protected override listenerFailed(event: string, err: unknown): void {
    this.log('listener_error', { event, error: err instanceof Error ? err.message : String(err) });
    super.listenerFailed(event, err);
  }
}

/** The one rule for a name one sends under (src/core/keys/displayName.ts). */
function checkName(name: string): string {
  const problem = displayNameProblem(name);
  if (problem !== undefined) throw new ClientError('invalid_message', problem);
  return name;
}

function isSeq(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** §1.9: a challenge is b64u of 32 bytes, 43 chars. */
function isChallenge(c: unknown): c is string {
  return typeof c === 'string' && /^[A-Za-z0-9_-]{43}$/.test(c);
}

/** A room name in an error sentence: control characters made visible (it came from an invite). */
function safeName(name: string): string {
  return [...name].map((ch) => {
    const c = ch.codePointAt(0)!;
    return c < 0x20 || (c >= 0x7f && c < 0xa0) ? '\u{FFFD}' : ch;
  }).join('');
}

/** An id from the network, cut to its legal length before it reaches a log or an event. */
function safeId(id: string): string {
  return id.length <= 22 ? id : id.slice(0, 22);
}

function unref(t: { unref?: () => unknown }): void {
  t.unref?.();
}
