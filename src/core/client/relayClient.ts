// RelayClient: one connection to one relay, any number of rooms (docs/protocol.md §1.3-1.7),
// and the envelope layer on top (§2.4-2.5). It never loses or doubles a message whatever the
// network does: an outbox resends un-acked messages with their id after every reconnect
// (§1.5 idempotence), joins resume from the last contiguous seq seen (§1.4), gaps are filled
// with history (§1.6), and ids already shown are dropped when a relay replays them (§2.8).
// No vscode import: the extension host and `smc chat` share this class.
//
// This class is the public API and its events; the work is done by parts with one job each,
// wired here: the link (link.ts: transport, hello, keepalive, reconnect, request ids), the
// sender (sender.ts: outbox, send window, rate-limit backoff), the room sync (roomSync.ts:
// catch-up, paging, gaps, lastSeq) and the opener (opener.ts: envelopes, replays, known keys,
// presence). Frames from the relay are routed to the part they concern in onFrame().
import {
  RoomCipher, PayloadError, PayloadTooLargeError, fingerprint, shortFingerprint, generateMessageId,
} from '../crypto/index';
import type { Payload, Snippet } from '../crypto/index';
import { filePayloads, uploadDone, type FileUpload } from './fileSend';
import { LIMITS } from '../wire/frames';
import type {
  ReceivedEphemeralAck, ReceivedEphemeralMsg, ReceivedError, ReceivedStoredAck, ReceivedStoredMsg, RelayFrameFailure,
} from '../wire/relayFrames';
import { displayNameProblem } from '../keys/displayName';
import { KnownKeys } from '../keys/knownKeys';
import { MemoryStateStore, type PendingEnvelope } from '../keys/stores';
import { TypedEmitter } from './emitter';
import { RelayLink, type RoutedFrame } from './link';
import { Opener } from './opener';
import type { OutboxEntry } from './outbox';
import { RecentIds } from './recentIds';
import { RoomFeatures, copyChatFields } from './roomFeatures';
import { relayErrorMessage } from './relayErrors';
import type { OpenRequest, RoomState } from './roomState';
import { RoomSync } from './roomSync';
import { Sender } from './sender';
import { SeqSaver } from './seqSaver';
import { SeqTracker } from './seqTracker';
import {
  ClientError, type ChatMessage, type ClientLog, type ClientTuning, type ConnectionState, type JoinOptions,
  type MessageView, type OutgoingContent, type OutgoingFile, type OutgoingFileContent, type OutgoingMessage,
  type OutgoingUpdate, type PresenceUpdate, type RelayClientEvents, type RelayClientOptions, type ReplyRef, type RoomHandle,
} from './types';
import { errorText, safeId, safeName } from './util';

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
  // §2.3.5 chunks below §1.7's 100/s, burst 200: a file never trips rate_limited, and leaves
  // the rest of the rate to the user's messages and typing indicators.
  chunkRate: 80,
  chunkBurst: 100,
  // What a killed client keeps for its next run (§1.5): bounded, in a store, in memory.
  outboxLimit: 2_000,
  outboxBytes: 16 * 1024 * 1024,
};

/** §2.3: the types sendPayload sends (a file and its chunks go through sendFile). */
const PAYLOAD_TYPES: readonly string[] = ['text', 'snippet', 'patch', 'reaction', 'edit', 'delete'];

/** A file being sent in a room of this client. */
interface Upload extends FileUpload {
  room: string;
}

export class RelayClient extends TypedEmitter<RelayClientEvents> {
  private readonly tuning: ClientTuning;
  private readonly log: ClientLog;
  private readonly ownFingerprint: string;
  private readonly ownShort: string;
  private displayName: string;
  private readonly rooms = new Map<string, RoomState>();
  private readonly link: RelayLink;
  private readonly sender: Sender;
  private readonly opener: Opener;
  private readonly sync: RoomSync;
  /** Per room, its reactions, edits, deletes and files (§2.3.1-2.3.5). */
  private readonly features = new Map<string, RoomFeatures>();
  /** Files being sent, by room/file id. */
  private readonly uploads = new Map<string, Upload>();
  /** Rooms whose presence the last close made unknown (said after the state says why). */
  private presenceLost: string[] = [];

  constructor(private readonly options: RelayClientOptions) {
    super();
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.log = options.log ?? (() => undefined);
    this.ownFingerprint = fingerprint(options.identity.publicKey);
    this.ownShort = shortFingerprint(options.identity.publicKey);
    this.displayName = checkName(options.displayName);
    const log = this.log;
    this.link = new RelayLink(
      { host: options.host, port: options.port, agent: options.agent, transport: options.transport, tuning: this.tuning },
      {
        log,
        state: (state, detail) => this.emit('state', state, detail),
        error: (err) => this.emit('error', err),
        welcomed: () => {
          for (const rs of this.rooms.values()) if (rs.refused === undefined) this.sync.join(rs);
        },
        frame: (f) => this.onFrame(f),
        ignored: (failure) => this.onIgnored(failure),
        lost: (requests) => this.onLost(requests),
        closed: () => {
          // Who is online is unknown until the next join: said after the state says why.
          for (const room of this.presenceLost.splice(0)) this.emit('presence', { room, online: 0, members: [] });
        },
      },
    );
    this.sender = new Sender(this.link, this.rooms, this.tuning, {
      outgoing: (u, e) => this.onOutgoing(u, e),
      rejoin: (room) => this.sync.rejoin(room),
      log,
      error: (err) => this.emit('error', err),
    }, options.outbox);
    this.opener = new Opener(
      {
        ownPublicKey: options.identity.publicKey,
        displayName: () => this.displayName,
        knownKeys: options.knownKeys ?? new KnownKeys(new MemoryStateStore()),
        ...(options.verifier !== undefined ? { verifier: options.verifier } : {}),
      },
      {
        log,
        message: (m) => this.onShown(m),
        unverifiable: (u) => this.emit('unverifiable', u),
        typing: (t) => this.emit('typing', t),
        presence: (p) => this.emit('presence', p),
        counted: (rs, seq) => this.sync.counted(rs, seq),
      },
    );
    const saver = new SeqSaver({
      ...(options.saveLastSeq !== undefined ? { saveLastSeq: options.saveLastSeq } : {}),
      ...(options.shownIds !== undefined ? { shownIds: options.shownIds } : {}),
      shownCapacity: this.tuning.shownIds, flushMs: this.tuning.lastSeqFlushMs, log,
    }, this.rooms);
    this.sync = new RoomSync(this.link, this.rooms, this.opener, this.tuning, saver, {
      log,
      synced: (e) => this.emit('synced', e),
      error: (err) => this.emit('error', err),
      joined: () => this.sender.pump(),
      refused: (room, reason) => this.sender.holdRoom(room, reason),
      rateDelay: () => this.sender.rateBackoff.next(),
      presenceTag: (rs) => rs.cipher.sealPresence(this.displayName, options.identity),
    });
  }

  // ---- public API -----------------------------------------------------------------------

  get state(): ConnectionState {
    return this.link.state;
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
    return this.opener.presence(room);
  }

  /** Highest seq below which every message of the room has been shown. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.seqs.last;
  }

  /** Messages not acked yet (held ones included). */
  get pendingCount(): number {
    return this.sender.outbox.size;
  }

  /** Starts connecting; reconnects by itself until disconnect(). */
  connect(): void {
    this.link.connect();
  }

  /** Closes the connection and stops reconnecting. The outbox is kept for the next connect(). */
  async disconnect(): Promise<void> {
    await this.link.disconnect(() => this.sync.saver.flushAll());
    // Stops the verifier's threads (a batch still in it is finished in this thread and shown).
    await this.opener.close();
    this.link.reportOffline();
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
        if (this.link.connected && existing.sync === undefined) this.sync.join(existing);
      }
      return { room: existing.room, name: existing.name };
    }
    const last = opts.lastSeq ?? 0;
    const rs: RoomState = {
      room: cipher.room, name: opts.name, cipher, seqs: new SeqTracker(last), savedSeq: last,
      seen: new RecentIds(this.tuning.dedupIds), shown: this.sync.saver.loadShown(cipher.room), joined: false, head: 0,
      oldest: Number.POSITIVE_INFINITY, more: false, lastTypingAt: 0, gapFilling: false,
    };
    this.rooms.set(rs.room, rs);
    this.features.set(rs.room, new RoomFeatures(rs.room, this.ownFingerprint, {}, this.log));
    this.restoreOutbox(rs);
    if (this.link.connected) this.sync.join(rs);
    return { room: rs.room, name: rs.name };
  }

  /**
   * Leaves a room; its un-acked messages are dropped from memory (the user chose to leave). An
   * OutboxStore keeps them: the next join() of the room sends them (forget them there).
   */
  async leave(room: string): Promise<void> {
    const rs = this.rooms.get(room);
    if (rs === undefined) return;
    this.sync.saver.flush(rs);
    this.rooms.delete(room);
    this.features.delete(room);
    this.opener.forgetPresence(room);
    this.sender.dropRoom(room);
    for (const [k, u] of this.uploads) {
      if (u.room !== room) continue;
      this.uploads.delete(k);
      u.reject(new ClientError('unknown_room', 'The room was left before the file was sent; it is sent when the room is joined again.', room));
    }
    if (!this.link.connected || !rs.joined) return;
    await new Promise<void>((resolve) => {
      this.link.request({ t: 'leave', room }, { kind: 'leave', resolve });
    });
  }

  sendText(room: string, text: string): OutgoingMessage {
    if (text.length === 0) throw new ClientError('invalid_message', 'An empty message cannot be sent.', room);
    return this.enqueue(room, { type: 'text', text });
  }

  sendSnippet(room: string, snippet: Snippet, caption?: string): OutgoingMessage {
    return this.enqueue(room, caption === undefined || caption === '' ? { type: 'snippet', snippet } : { type: 'snippet', snippet, text: caption });
  }

  /**
   * A message of a type other than text or snippet, with a `text` (docs/protocol.md §3.4: the
   * lobby's join_request, welcome and join_refused). Receivers get it as any message of its type.
   */
  sendControl(room: string, type: string, text: string): OutgoingMessage {
    return this.enqueue(room, { type, text });
  }

  /**
   * Sends a message of docs/protocol.md §2.3, §2.3.1-2.3.4, §2.3.6: a text, snippet or patch
   * (with an optional `reply` and `mentions`), or a reaction, edit or delete of a loaded message
   * (`target`). Refused with ClientError `invalid_message` (a rule of §2.3, an edit or delete of
   * someone else's message, a target not loaded) or `message_too_large`; nothing is sent then.
   * An effect applies here at once: the `effects` event says so before this returns.
   */
  sendPayload(room: string, content: OutgoingContent): OutgoingMessage {
    const features = this.features.get(room);
    if (features === undefined) throw new ClientError('unknown_room', 'This room is not joined.', room);
    if (!PAYLOAD_TYPES.includes(content.type)) {
      throw new ClientError('invalid_message', `This message cannot be sent: a "${safeName(String(content.type))}" message is not one sendPayload sends${String(content.type) === 'file' ? ' (sendFile sends files)' : ''}.`, room);
    }
    if (content.type === 'text' && (content.text ?? '') === '') throw new ClientError('invalid_message', 'An empty message cannot be sent.', room);
    const problem = features.outgoingProblem(content);
    if (problem !== undefined) throw new ClientError('invalid_message', `This message cannot be sent: ${problem}.`, room);
    const p: Omit<Payload, 'id' | 'ts' | 'name'> = { type: content.type };
    for (const f of ['text', 'snippet', 'reply', 'mentions', 'target', 'emoji', 'patch'] as const) {
      if (content[f] !== undefined) (p as Record<string, unknown>)[f] = content[f];
    }
    return this.enqueue(room, p);
  }

  /**
   * Sends a file (docs/protocol.md §2.3.5, 0 to 8 MiB): its file message, then its chunks,
   * sealed now and queued together in the outbox (so that a restart sends what the relay did
   * not ack), paced below the relay's rate (ClientTuning.chunkRate). All or nothing: a file
   * over 8 MiB is `message_too_large`, a name or media type against §2.3.5 `invalid_message`,
   * and one the outbox cannot hold whole `outbox_full`. Progress: `file` events (`uploading`,
   * `uploaded`) and the returned `done`.
   */
  sendFile(room: string, file: OutgoingFileContent): OutgoingFile {
    const rs = this.rooms.get(room);
    const features = this.features.get(room);
    if (rs === undefined || features === undefined) throw new ClientError('unknown_room', 'This room is not joined.', room);
    const id = generateMessageId();
    const ts = Date.now();
    const sealed = this.sealOrThrow(room, () => {
      const { file: fp, chunks } = filePayloads(file, id, ts, this.displayName, generateMessageId);
      return [fp, ...chunks].map((p) => ({ p, body: rs.cipher.seal(p, this.options.identity) }));
    });
    this.sender.checkCapacity(sealed.reduce((n, x) => n + x.body.length, 0), sealed.length);
    const chunks = sealed.length - 1;
    const { done, resolve, reject } = uploadDone();
    const upload: Upload = { room, file: id, chunks, unacked: new Set(sealed.map((x) => x.p.id)), acked: 0, resolve, reject };
    this.uploads.set(`${room}/${id}`, upload);
    let first: OutgoingMessage | undefined;
    for (const { p, body } of sealed) {
      const message = this.ownMessage(room, p);
      const out = this.queue(rs, message, body, p.type === 'file-chunk' ? id : undefined);
      first ??= out;
      if (p.type === 'file') for (const e of features.sent(message)) this.emit('effects', e);
    }
    return { ...first!, chunks, done };
  }

  /** §2.3.1: the `reply` for a loaded message of a room (its sender and a quote of its text), or undefined. */
  replyTo(room: string, id: string): ReplyRef | undefined {
    return this.features.get(room)?.replyTo(id);
  }

  /** A loaded content message as it shows now (edits, delete and reactions applied). */
  view(room: string, id: string): MessageView | undefined {
    return this.features.get(room)?.view(id);
  }

  /** Sends a failed message again now (same id, so the relay cannot store it twice). */
  retry(room: string, id: string): void {
    this.sender.retry(room, id);
  }

  /** A typing indicator (§1.5 ephemeral), at most one per typingIntervalMs per room. */
  setTyping(room: string): void {
    const rs = this.rooms.get(room);
    if (rs === undefined || !rs.joined || !this.link.writable) return;
    const now = Date.now();
    if (now - rs.lastTypingAt < this.tuning.typingIntervalMs) return;
    rs.lastTypingAt = now;
    const id = generateMessageId();
    const body = rs.cipher.seal({ id, ts: now, name: this.displayName, type: 'typing' }, this.options.identity);
    this.link.request({ t: 'send', room, id, body, eph: true }, { kind: 'eph' });
  }

  /** Loads one page of older messages (§1.6); they arrive as `message` events with history. */
  loadOlder(room: string): Promise<{ more: boolean }> {
    return this.sync.loadOlder(room);
  }

  /** Changes the display name; presence tags are renewed by joining again (§1.4). */
  setDisplayName(name: string): void {
    this.displayName = checkName(name);
    if (!this.link.connected) return;
    for (const rs of this.rooms.values()) if (rs.joined) this.sync.join(rs);
  }

  /**
   * Resolves once every queued message is acked or held as failed by the relay; `failed` counts
   * the held ones. Does not time out: callers that need a bound race it with their own timer.
   */
  drain(): Promise<{ failed: number }> {
    return this.sender.drain();
  }

  /**
   * Marks `fp` as the trusted key of `name` in `room` (§2.4), e.g. after the user compared
   * fingerprints (/verify): later messages signed with it are no longer keyChanged. A persisting
   * store may answer with a promise; its failure is logged.
   */
  trust(room: string, name: string, fp: string): void {
    this.opener.trust(room, name, fp);
  }

  // ---- wiring ----------------------------------------------------------------------------

  /** A frame after the welcome, to the part it concerns. */
  private onFrame(f: RoutedFrame): void {
    switch (f.t) {
      case 'joined': return this.sync.onJoined(f);
      case 'msg': return this.onMsg(f);
      case 'synced': return this.sync.onSynced(f);
      case 'presence': {
        const rs = this.rooms.get(f.room);
        if (rs !== undefined) this.opener.onPresence(rs, f);
        return;
      }
      case 'left': return this.link.settle(f.rid);
      case 'ack': return this.onAck(f);
      case 'page': return this.sync.onPage(f);
      case 'error': return this.onError(f);
    }
  }

  /**
   * A frame the parser found malformed but forgivable, as the client always did: dropped. A
   * `joined` still answers its join request (its rid is done with; the room is not joined).
   */
  private onIgnored(failure: RelayFrameFailure): void {
    if (failure.t === 'joined' && failure.rid !== undefined) this.link.take(failure.rid);
  }

  private onMsg(f: ReceivedStoredMsg | ReceivedEphemeralMsg): void {
    const rs = this.rooms.get(f.room);
    if (rs === undefined) return;
    if (f.eph === true) return this.opener.ephemeral(rs, f.id, f.body);
    this.sync.onStored(rs, f.id, f.body, f.seq);
  }

  private onAck(f: ReceivedStoredAck | ReceivedEphemeralAck): void {
    if (f.rid !== undefined) this.sender.settle(f.rid);
    if (f.seq === undefined) return; // §1.5: an ephemeral send's ack has no seq.
    const e = this.sender.outbox.get(f.room, f.id);
    this.sync.onAckedSeq(f.room, f.id, f.seq, e !== undefined);
    if (e === undefined) return;
    this.sender.acked(e, f.seq);
    // §2.3 "Order": an own edit ranks by its seq once acked.
    if (e.chunkOf === undefined) for (const ev of this.features.get(f.room)?.acked(e.message) ?? []) this.emit('effects', ev);
  }

  /** A verified message, past the replay checks: to the room's features, then to the UI. */
  private onShown(m: ChatMessage): void {
    const features = this.features.get(m.room);
    if (features === undefined) return void this.emit('message', m);
    const out = features.receive(m);
    if (out.message !== undefined) this.emit('message', out.message);
    for (const e of out.effects) this.emit('effects', e);
    for (const f of out.files) this.emit('file', f);
  }

  /** The sender's updates: a chunk's is its file's progress (one `outgoing` per file, not per part). */
  private onOutgoing(u: OutgoingUpdate, e: OutboxEntry): void {
    const upload = this.uploads.get(`${u.room}/${e.chunkOf ?? e.id}`);
    if (e.chunkOf === undefined) this.emit('outgoing', u);
    if (upload === undefined) {
      if (e.chunkOf !== undefined && u.state === 'failed') this.log('chunk_failed', { room: u.room, file: safeId(e.chunkOf), error: u.error });
      return;
    }
    if (u.state === 'failed' && e.held) {
      this.uploads.delete(`${upload.room}/${upload.file}`);
      upload.reject(new ClientError('relay_error', `The file could not be sent: ${u.error ?? 'refused by the relay'}`, u.room));
      return;
    }
    if (u.state !== 'sent' || !upload.unacked.delete(u.id)) return;
    if (e.chunkOf !== undefined) {
      upload.acked++;
      this.emit('file', { room: u.room, file: upload.file, state: 'uploading', acked: upload.acked, chunks: upload.chunks });
    }
    if (upload.unacked.size > 0) return;
    this.uploads.delete(`${upload.room}/${upload.file}`);
    this.emit('file', { room: u.room, file: upload.file, state: 'uploaded', chunks: upload.chunks });
    upload.resolve();
  }

  private onError(f: ReceivedError): void {
    const code = f.code;
    const p = f.rid !== undefined ? this.link.take(f.rid) : undefined;
    this.log('relay_error', { code, rid: f.rid, kind: p?.kind });
    // §1.3: a relay that does not speak v2 answers hello with unsupported_version, then closes.
    if (code === 'unsupported_version' && !this.link.connected) return this.link.stopForOldRelay();
    switch (p?.kind) {
      case 'send': return this.sender.refused(p.room, p.id, code);
      case 'eph': case 'ping': return;
      case 'leave': return p.resolve();
      case 'history': return this.sync.historyFailed(p, code);
      case 'join': return this.sync.joinFailed(p.room, code);
      default:
        this.emit('error', new ClientError('relay_error', relayErrorMessage(code), undefined, code));
    }
  }

  /** The connection is gone: what waited on it is settled; every message stays queued. */
  private onLost(requests: OpenRequest[]): void {
    const lost = new ClientError('connection_failed', 'The connection to the relay was lost.');
    for (const p of requests) {
      if (p.kind === 'leave') p.resolve();
      else if (p.kind === 'history') p.reject?.(lost);
    }
    this.sender.lost();
    this.sync.lost();
    for (const rs of this.rooms.values()) if (this.opener.forgetPresence(rs.room)) this.presenceLost.push(rs.room);
    this.sync.saver.flushAll();
  }

  private enqueue(room: string, content: Omit<Payload, 'id' | 'ts' | 'name'>): OutgoingMessage {
    const rs = this.rooms.get(room);
    if (rs === undefined) throw new ClientError('unknown_room', 'This room is not joined.', room);
    const id = generateMessageId();
    const payload: Payload = { id, ts: Date.now(), name: this.displayName, ...content };
    const body = this.sealOrThrow(room, () => rs.cipher.seal(payload, this.options.identity));
    this.sender.checkCapacity(body.length);
    const message = this.ownMessage(room, payload);
    const out = this.queue(rs, message, body);
    for (const e of this.features.get(room)?.sent(message) ?? []) this.emit('effects', e);
    return out;
  }

  /** Seals with the payload rules (§2.3) turned into the ClientErrors a UI shows. */
  private sealOrThrow<T>(room: string, seal: () => T): T {
    try {
      return seal();
    } catch (err) {
      if (err instanceof PayloadTooLargeError) throw new ClientError('message_too_large', err.message, room);
      if (err instanceof PayloadError) throw new ClientError('invalid_message', err.message, room);
      throw err;
    }
  }

  /** An own message as it shows before its ack. */
  private ownMessage(room: string, payload: Payload): ChatMessage {
    const message: ChatMessage = {
      room, ts: payload.ts, id: payload.id, name: payload.name, fingerprint: this.ownFingerprint,
      shortFingerprint: this.ownShort, type: payload.type, verified: true, keyChanged: false, own: true, history: false,
    };
    if (payload.text !== undefined) message.text = payload.text;
    if (payload.snippet !== undefined) message.snippet = payload.snippet;
    copyChatFields(payload, message);
    // A chunk's bytes are in its sealed body already: not held a second time (§2.3.5, 8 MiB).
    delete message.data;
    return message;
  }

  /** Queues a sealed own message in the outbox (checked for capacity by the caller). */
  private queue(rs: RoomState, message: ChatMessage, body: string, chunkOf?: string): OutgoingMessage {
    const { room, id } = message;
    rs.seen.add(id);
    const entry: OutboxEntry = { room, id, body, state: 'sending', message, held: false, ...(chunkOf !== undefined ? { chunkOf } : {}) };
    if (rs.refused !== undefined) {
      // §1.9: this room cannot be joined on this relay; the message waits, failed, for a retry.
      this.sender.add(entry, `Not sent: the relay refused room "${safeName(rs.name)}" (${rs.refused}).`);
      return { room, id, state: 'failed', message };
    }
    this.sender.add(entry);
    return { room, id, state: 'sending', message };
  }

  /**
   * §1.5 across restarts: the room's messages an earlier run saved and never saw acked are
   * queued again with their ids and envelopes as they were (the relay's dedup answers one it
   * stored with its original seq), and reported as `restored`. Only this identity's own
   * envelopes of this room go out again; anything else in the store is dropped and logged.
   */
  private restoreOutbox(rs: RoomState): void {
    const store = this.options.outbox;
    if (store === undefined) return;
    let kept: PendingEnvelope[];
    try {
      kept = store.load(rs.room);
    } catch (err) {
      this.log('outbox_load_failed', { room: rs.room, error: errorText(err) });
      return;
    }
    const drop = (id: string, reason: string): void => {
      this.log('outbox_entry_dropped', { room: rs.room, id: safeId(id), reason });
      store.remove(rs.room, id).catch((err: unknown) => this.log('outbox_remove_failed', { room: rs.room, error: errorText(err) }));
    };
    for (const k of kept) {
      if (k.room !== rs.room || this.sender.outbox.get(rs.room, k.id) !== undefined) continue;
      // Acked and shown, but the process stopped before the store forgot it.
      if (rs.shown.seqOf(k.id) !== undefined) {
        drop(k.id, 'acked before');
        continue;
      }
      const r = rs.cipher.open(k.id, k.body);
      if (!r.ok) {
        drop(k.id, r.reason);
        continue;
      }
      if (!r.publicKey.equals(this.options.identity.publicKey)) {
        drop(k.id, 'not signed by this identity');
        continue;
      }
      const p = r.payload;
      const message = this.ownMessage(rs.room, { ...p, id: k.id });
      rs.seen.add(k.id);
      // A file's chunks go again as its parts, paced, not reported one by one (§2.3.5).
      const chunkOf = p.type === 'file-chunk' ? p.target : undefined;
      if (chunkOf === undefined) {
        this.emit('restored', { room: rs.room, id: k.id, state: 'sending', message });
        for (const e of this.features.get(rs.room)?.sent(message) ?? []) this.emit('effects', e);
      }
      this.sender.restore({ room: rs.room, id: k.id, body: k.body, state: 'sending', message, held: false, ...(chunkOf !== undefined ? { chunkOf } : {}) });
    }
  }

  protected override listenerFailed(event: string, err: unknown): void {
    this.log('listener_error', { event, error: errorText(err) });
    super.listenerFailed(event, err);
  }
}

/** The one rule for a name one sends under (src/core/keys/displayName.ts). */
function checkName(name: string): string {
  const problem = displayNameProblem(name);
  if (problem !== undefined) throw new ClientError('invalid_message', problem);
  return name;
}
