// One private room (docs/protocol.md §3): an MLS group carried over one relay connection. The
// room's seq is the one order (§3.3): every stored message, and every ack of our own, fills its
// seq's slot, and the slots are applied one at a time, in seq order, each to the group as it is
// after every lower seq. A commit of ours stays pending (saved before it is sent, §3.8) until
// its seq is applied; a lost race (stale_epoch, or another commit met first) keeps the intent
// and commits what still applies in the next epoch. The relay's membership follows the epochs
// (§3.6): after every commit it sends `rekey`, and this room joins again with the new epoch's
// key once it has applied that commit. Roles are the MLS group's rule (src/core/mls/roles.ts):
// a commit that breaks them is refused by every member alike, and ends no epoch.
import { randomInt } from 'node:crypto';
import { encodeB64u, decodeB64u } from '../crypto/b64u';
import { fingerprint, shortOfFingerprint, type Identity } from '../crypto/identity';
import { generateMessageId } from '../crypto/roomCipher';
import { PayloadError, PayloadTooLargeError, type Payload } from '../crypto/payload';
import { makeJoinProof } from '../crypto/roomAuth';
import { formatHostPort } from '../hostPort';
import {
  MlsError, MlsGroup, epochAuthKey, generateInviteSecret, inviteId as inviteIdOf, makeReset, makeRotation, readKeyPackage,
  type CommitIntent, type Incoming, type MlsMember,
} from '../mls/index';
import { LIMITS, type ClientFrame } from '../wire/frames';
import type { ReceivedError, ReceivedStoredAck, ReceivedStoredMsg } from '../wire/relayFrames';
import { TypedEmitter } from '../client/emitter';
import { RelayLink, type RoutedFrame } from '../client/link';
import { DEFAULT_TUNING } from '../client/relayClient';
import { TokenBucket } from '../client/tokenBucket';
import { relayErrorMessage } from '../client/relayErrors';
import { ClientError, type ChatMessage, type ClientLog, type ClientTuning, type ConnectionState, type TransportFactory } from '../client/types';
import { copyChatFields } from '../client/roomFeatures';
import { decodeMlsBody, encodeMlsBody } from './body';
import { RoomParts, roomBodies } from './parts';
import { MLS_PART_VERSION } from './body';
import { DEFAULT_INVITE_MS, MAX_INVITE_MS, MAX_INVITE_USES, encodeControl, encodeRoomPayload, parseRoomContent, type ControlContent } from './content';
import type { HistoryRecord, HistoryStore } from './historyStore';
import { encodeSaved, type PrivateMeta } from './meta';
import { formatPrivateInvite, inviteAdminOf } from './privateInvite';

/** Who did something, as a UI shows it. */
export interface Actor {
  fingerprint: string;
  name?: string;
}

export interface MembershipEvent {
  name?: string;
  fingerprint: string;
  by: Actor;
}

export interface PrivateMemberInfo {
  name?: string;
  fingerprint: string;
  identityKey: string;
  admin: boolean;
  self: boolean;
}

export interface PrivateRoomEvents {
  state: [state: ConnectionState, detail?: string];
  message: [message: ChatMessage];
  member_added: [event: MembershipEvent];
  member_removed: [event: MembershipEvent];
  /** A commit removed this member: the room is over for it. */
  removed: [event: { by: Actor }];
  /** An invite this member made (§3.4), as the link to pass on. */
  invite: [event: { invite: string; inviteId: string; uses: number; expires: number }];
  /** The group moved to a new epoch. */
  epoch: [event: { epoch: number }];
  /** A control message applied (invites, revokes, member_added): for the lobby desk. */
  control: [content: ControlContent, sender: MlsMember];
  /** Caught up with the relay after a join. */
  synced: [event: { room: string; applied: number }];
  /**
   * §3.3: an own message that was stale for everyone goes again under a new id (`to`); so does
   * what targets it in the outbox (a file's chunks, an edit, a delete, a reaction, a reply),
   * each under a new id of its own, the target now `to`. A UI re-keys what it shows of `from`.
   */
  renamed: [event: { from: string; to: string }];
  /** Own message acked (`sent`) or given up. */
  outgoing: [update: { id: string; state: 'sent' | 'failed'; seq?: number; error?: string }];
  /** A commit of ours took effect at its seq (the Welcome of an add goes out then). */
  committed: [event: { intent: CommitIntent; seq: number; welcome: Uint8Array | undefined; epoch: number }];
  /** A commit intent of ours that no longer applies (lost to one that did the same). */
  dropped: [intent: CommitIntent];
  /**
   * §3.6 "Repair": the relay took as the end of our epoch a commit this client refused (at
   * `seq`); the room waits for its owner's client (`owner`: this client is it, and repairs).
   */
  blocked: [event: { epoch: number; seq: number; owner: boolean }];
  /** §3.6 "Repair": the relay is back in our epoch; the refused commit at `seq` is undone. */
  repaired: [event: { epoch: number; seq: number; owner: boolean }];
  error: [error: ClientError];
}

export interface PrivateRoomOptions {
  room: string;
  name: string;
  host: string;
  port: number;
  /** §1.8: the relay's certificate SHA-256 (64 hex digits) when it speaks TLS; invites then carry it (§3.4). */
  tls?: string;
  agent: string;
  transport: TransportFactory;
  identity: Identity;
  displayName: string;
  group: MlsGroup;
  meta: PrivateMeta;
  /** Saves the MLS state and the meta as one secret (§3.8), before what depends on it is sent. */
  save(text: string): Promise<void>;
  history: HistoryStore;
  log?: ClientLog;
  tuning?: Partial<ClientTuning & PrivateTuning>;
  now?: () => number;
}

export interface PrivateTuning {
  /** §3.7: an update when the last commit is this old (default 24 h). */
  updateAfterMs: number;
  /** §3.7: how often that is checked (default 1 h, plus a random delay of up to as much). */
  updateCheckMs: number;
  /** §3.8: after a save that failed (a full disk), what waits is tried again this much later (default 5 s). */
  saveRetryMs: number;
}

const PRIVATE_DEFAULTS: PrivateTuning = { updateAfterMs: 24 * 3_600_000, updateCheckMs: 3_600_000, saveRetryMs: 5_000 };

/** §3.6 "Repair": a blocked member joins again after 1 s, doubling up to 30 s. */
const BLOCKED_RETRY_FIRST_MS = 1_000;
const BLOCKED_RETRY_MAX_MS = 30_000;
/** §3.8: own messages sealed behind one save of the state, at most (bounds the first one's wait). */
const SEAL_BATCH = 256;
/** Refused commits remembered in one epoch (a flood of them costs this much memory at most). */
const MAX_REFUSED_COMMITS = 256;

/** A seq's content, once known: a stored message, or the ack of one of ours. */
type Slot =
  | { kind: 'msg'; id: string; body: string; ts: number | undefined; epoch: number | undefined }
  | { kind: 'own'; id: string; ts: number | undefined; part?: string; partOnly?: boolean };

/** §3.3.1: one part of an own message or commit too long for one body, sent as its own `send`. */
interface PartSend {
  id: string;
  body: string;
  acked?: boolean;
}

/** Whether a body is a part (0x03, §3.3.1) rather than a whole MLS message. */
function isPartBody(body: string): boolean {
  // b64u of a first byte 0x03 begins with 'A' followed by one of [w-z] (0b000000 11....).
  return body.length >= 2 && Buffer.from(body.slice(0, 4), 'base64url')[0] === MLS_PART_VERSION;
}

/** An own application message, from the moment it is written to the moment the relay acks it. */
interface OwnSend {
  id: string;
  payload: Payload;
  /** For a control message (§3.4): its content, sealed as it is. */
  control?: ControlContent;
  body?: string;
  /** §3.3.1: the body in parts when it is longer than a body may be; the last part goes by `id`. */
  parts?: PartSend[];
  epoch?: bigint;
  rid?: number;
  /** Written to the history store (the outbox, §3.8) when it was written; awaited before it is sealed. */
  recorded?: Promise<void>;
  /** Restored from the history after a restart: the epoch it was written in (§3.3: same id only in that epoch). */
  restoredEpoch?: number;
  /** Sealed under a state that is saved (§3.8): it may leave, when its turn and its tokens come. */
  ready?: boolean;
}

/** A commit of ours on its way to the relay (sent again, same id, after a reconnect). */
interface CommitSend {
  id: string;
  frame: ClientFrame & { t: 'send' };
  /** §3.3.1: a commit in parts: these go first as plain sends; `frame` carries the last part and the rotation. */
  parts?: PartSend[];
  rid?: number;
}

type Request =
  | { kind: 'join' }
  | { kind: 'reset'; refuse?: number }
  | { kind: 'send'; id: string }
  | { kind: 'part'; id: string }
  | { kind: 'commit'; id: string }
  | { kind: 'history'; before: number };

export class PrivateRoom extends TypedEmitter<PrivateRoomEvents> {
  readonly room: string;
  private readonly link: RelayLink;
  private readonly log: ClientLog;
  private readonly tuning: PrivateTuning;
  private readonly now: () => number;
  private group: MlsGroup;
  private readonly meta: PrivateMeta;
  private readonly slots = new Map<number, Slot>();
  private readonly parts = new RoomParts();
  private readonly requests = new Map<number, Request>();
  private readonly outbox: OwnSend[] = [];
  /** Ids of own messages sent in an earlier run and not acked then (§3.8: not opened again). */
  private readonly ownIds = new Set<string>();
  /**
   * §3.3: the old ids (and parts, §3.3.1) of own messages that went again under a new id. The
   * relay may hold a copy under one and ack it late: its seq is ours (it fills its slot, never
   * opened as someone else's message, never recorded as sent), until it is applied.
   */
  private readonly retired = new Map<string, { part?: string; partOnly?: boolean }>();
  private commitSend: CommitSend | undefined;
  /** Intents waiting their turn (one commit of ours is pending at a time, §3.3). */
  private readonly intents: CommitIntent[] = [];
  /** A lost intent, committed again once the winning commit (this seq) is applied. */
  private retry: { intent: CommitIntent; afterSeq: number } | undefined;
  /** The relay ended our membership after the commit at this seq (§3.6 rekey), which began this epoch. */
  private rekeyAfter: number | undefined;
  private rekeyEpoch: number | undefined;
  /** §3.6: the relay's current epoch, as the last `joined` said (undefined: it did not say). */
  private relayEpoch: number | undefined;
  /** §3.6 "Repair": the refused commit the room is blocked behind, and the next re-join's delay. */
  private blocked: { epoch: number; seq: number } | undefined;
  /** The refused commit our (owner's) reset was sent for: one repair per refused commit. */
  private repairSentFor: number | undefined;
  private blockedDelayMs = BLOCKED_RETRY_FIRST_MS;
  private blockedTimer?: ReturnType<typeof setTimeout>;
  private joined = false;
  private synced = false;
  private head = 0;
  private work: Promise<void> = Promise.resolve();
  private updateTimer?: ReturnType<typeof setTimeout>;
  private closed = false;
  private displayName: string;
  /**
   * §1.7: own messages and their parts leave paced below the relay's rate, as link rooms pace a
   * file's chunks (ClientTuning.chunkRate, chunkBurst: 80 a second after 100), so that a file's
   * hundreds of sends never trip `rate_limited`. Commits and resets are not paced (they are
   * few, and the rest of the rate is theirs).
   */
  private readonly sendTokens: TokenBucket;
  private paceTimer?: ReturnType<typeof setTimeout>;

  constructor(private readonly options: PrivateRoomOptions) {
    super();
    this.room = options.room;
    this.group = options.group;
    this.meta = options.meta;
    this.displayName = options.displayName;
    this.log = options.log ?? (() => undefined);
    this.now = options.now ?? Date.now;
    this.tuning = { ...PRIVATE_DEFAULTS, ...options.tuning };
    const tuning: ClientTuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.sendTokens = new TokenBucket(tuning.chunkRate, tuning.chunkBurst);
    this.link = new RelayLink(
      { host: options.host, port: options.port, agent: options.agent, transport: options.transport, tuning },
      {
        log: this.log,
        state: (state, detail) => this.emit('state', state, detail),
        error: (err) => this.emit('error', err),
        welcomed: () => this.onWelcomed(),
        frame: (f) => this.onFrame(f),
        ignored: () => undefined,
        lost: () => this.onLost(),
        closed: () => undefined,
      },
    );
  }

  // ---- public API -----------------------------------------------------------------------

  get epoch(): number {
    return Number(this.group.epoch);
  }

  get applied(): number {
    return this.meta.applied;
  }

  get removed(): boolean {
    return this.group.removed;
  }

  get state(): ConnectionState {
    return this.link.state;
  }

  get fingerprint(): string {
    return fingerprint(this.options.identity.publicKey);
  }

  get isAdmin(): boolean {
    return !this.group.removed && this.group.isAdmin(this.options.identity.publicKey);
  }

  /** Messages written and not acked yet. */
  get pendingCount(): number {
    return this.outbox.length;
  }

  /** Whether a commit of ours is pending or waiting its turn. */
  get committing(): boolean {
    return this.group.pendingCommit !== undefined || this.intents.length > 0 || this.retry !== undefined;
  }

  members(): PrivateMemberInfo[] {
    const admins = this.group.admins();
    const self = this.options.identity.publicKey;
    return this.group.members().map((m) => {
      const hex = m.identityKey.toString('hex');
      const info: PrivateMemberInfo = {
        fingerprint: m.fingerprint, identityKey: hex, admin: admins.some((a) => a.equals(m.identityKey)), self: m.identityKey.equals(self),
      };
      const name = m.identityKey.equals(self) ? this.displayName : this.meta.names[hex];
      if (name !== undefined) info.name = name;
      return info;
    });
  }

  /** The member a /remove or /promote names: a display name, a full fingerprint, or its first groups. */
  findMember(nameOrFingerprint: string): PrivateMemberInfo | undefined {
    const wanted = nameOrFingerprint.trim();
    const compact = wanted.replace(/\s+/g, '').toUpperCase();
    const members = this.members();
    const byFp = members.filter((m) => compact.length >= 8 && m.fingerprint.replace(/\s+/g, '').startsWith(compact));
    if (byFp.length === 1) return byFp[0];
    const byName = members.filter((m) => m.name === wanted);
    return byName.length === 1 ? byName[0] : undefined;
  }

  connect(): void {
    this.link.connect();
    this.scheduleUpdateCheck();
  }

  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.updateTimer !== undefined) clearTimeout(this.updateTimer);
    if (this.paceTimer !== undefined) clearTimeout(this.paceTimer);
    if (this.blockedTimer !== undefined) clearTimeout(this.blockedTimer);
    if (this.saveRetry !== undefined) clearTimeout(this.saveRetry);
    await this.work;
    await this.save();
    await this.link.disconnect();
    this.link.reportOffline();
  }

  /** Resolves once every message written is acked and no commit of ours waits (for scripts). */
  async drain(): Promise<void> {
    while (!this.closed && (this.outbox.length > 0 || this.committing || this.commitSend !== undefined)) {
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
    }
    await this.work;
  }

  sendText(text: string): ChatMessage {
    if (text.length === 0) throw new ClientError('invalid_message', 'An empty message cannot be sent.', this.room);
    return this.enqueue({ type: 'text', text });
  }

  /** §3.4 step 1: a new invite (admins only); its link is the `invite` event, and the return. */
  async invite(options: { uses?: number; expiresMs?: number } = {}): Promise<string> {
    if (!this.isAdmin) throw new ClientError('invalid_message', 'Only an admin of this room can invite.', this.room);
    const uses = options.uses ?? 1;
    const ttl = options.expiresMs ?? DEFAULT_INVITE_MS;
    if (!Number.isSafeInteger(uses) || uses < 1 || uses > MAX_INVITE_USES) throw new ClientError('invalid_message', `--uses must be 1 to ${MAX_INVITE_USES}.`, this.room);
    if (!Number.isSafeInteger(ttl) || ttl < 1_000 || ttl > MAX_INVITE_MS) throw new ClientError('invalid_message', '--expires must be from 1 second to 30 days.', this.room);
    const secret = generateInviteSecret();
    const id = inviteIdOf(secret);
    const ts = this.now();
    // §3.4: the invite names its admin (whose refusals the joiner believes) and, on TLS, the pin.
    const link = formatPrivateInvite({
      host: this.options.host, port: this.options.port, name: this.options.name, secret, admin: inviteAdminOf(this.options.identity.publicKey),
      ...(this.options.tls !== undefined ? { tls: { fingerprint: this.options.tls } } : {}),
    });
    this.sendControl({ id: generateMessageId(), ts, name: this.displayName, type: 'invite', invite: id, secret: encodeB64u(secret), uses, expires: ts + ttl });
    this.emit('invite', { invite: link, inviteId: id, uses, expires: ts + ttl });
    return link;
  }

  /** §3.4: ends an invite. */
  revoke(inviteId: string): void {
    if (!this.isAdmin) throw new ClientError('invalid_message', 'Only an admin of this room can revoke an invite.', this.room);
    this.sendControl({ id: generateMessageId(), ts: this.now(), name: this.displayName, type: 'revoke', invite: inviteId });
  }

  /** The invites this member knows, by id (for the lobby desk). */
  get invites(): PrivateMeta['invites'] {
    return this.meta.invites;
  }

  /** Hex identity key -> seq of its removal. */
  get removals(): Readonly<Record<string, number>> {
    return this.meta.removed;
  }

  /** Join requests already answered (bounded). */
  answered(requestId: string): boolean {
    return this.meta.answered.includes(requestId);
  }

  markAnswered(requestId: string): void {
    this.meta.answered.push(requestId);
    if (this.meta.answered.length > 1_000) this.meta.answered.splice(0, this.meta.answered.length - 1_000);
  }

  /** Sends a member_added control message after an add (§3.4 step 3). */
  announceAdded(invite: string, member: Uint8Array, memberName: string): void {
    const names: Record<string, string> = {};
    for (const m of this.members()) if (m.name !== undefined) names[m.identityKey] = m.name;
    this.sendControl({ id: generateMessageId(), ts: this.now(), name: this.displayName, type: 'member_added', invite, member: Buffer.from(member).toString('hex'), memberName, names });
  }

  /** §3.4 step 3: an admin adds the owner of a KeyPackage (checked by the caller). */
  add(keyPackage: Uint8Array): void {
    this.queueIntent({ kind: 'add', keyPackages: [keyPackage] });
  }

  remove(identityKeyHex: string): void {
    if (!this.isAdmin) throw new ClientError('invalid_message', 'Only an admin can remove a member.', this.room);
    if (identityKeyHex === this.options.identity.publicKey.toString('hex')) throw new ClientError('invalid_message', 'To leave, use /leave.', this.room);
    this.queueIntent({ kind: 'remove', identityKeys: [Buffer.from(identityKeyHex, 'hex')] });
  }

  promote(identityKeyHex: string): void {
    if (!this.isAdmin) throw new ClientError('invalid_message', 'Only an admin can promote a member.', this.room);
    this.queueIntent({ kind: 'promote', identityKeys: [Buffer.from(identityKeyHex, 'hex')] });
  }

  /** §3.7: an update of our own leaf (new HPKE keys along our path). */
  update(): void {
    this.queueIntent({ kind: 'update' });
  }

  /** §3.5: asks to be removed; any member's next commit applies it. */
  async leave(): Promise<void> {
    await this.serial(async () => {
      if (this.group.removed) return;
      const proposal = await this.group.proposeLeave();
      await this.save();
      const id = generateMessageId();
      this.outboxRaw(id, encodeMlsBody(proposal));
    });
  }

  // ---- sending --------------------------------------------------------------------------

  /**
   * Any payload of docs/protocol.md §2.3 (§3.3: the same P as in link rooms): replies,
   * reactions, edits, deletes, files and their chunks (src/cli/chatFeatureRoom.ts). The rules of
   * §2.3 apply (ClientError invalid_message / message_too_large).
   */
  sendPayload(content: Omit<Payload, 'id' | 'ts' | 'name'>): ChatMessage {
    return this.enqueue(content);
  }

  private enqueue(content: Omit<Payload, 'id' | 'ts' | 'name'>): ChatMessage {
    if (this.group.removed) throw new ClientError('invalid_message', 'You were removed from this room.', this.room);
    const id = generateMessageId();
    const payload: Payload = { id, ts: this.now(), name: this.displayName, ...content };
    try {
      encodeRoomPayload(payload);
    } catch (err) {
      if (err instanceof PayloadTooLargeError) throw new ClientError('message_too_large', err.message, this.room);
      if (err instanceof PayloadError) throw new ClientError('invalid_message', err.message, this.room);
      throw err;
    }
    this.push({ id, payload });
    return this.chatMessage(payload, this.group.self(), undefined, true, false);
  }

  private sendControl(content: ControlContent): void {
    this.push({ id: content.id, payload: { id: content.id, ts: content.ts, name: content.name, type: content.type }, control: content });
  }

  /**
   * §3.8: an own message is stored in the local history as it is written, before anything else
   * (a restart finds it there and sends it, restorePending), then waits its turn in the outbox.
   */
  private push(e: OwnSend): void {
    e.recorded = this.record(e);
    // A failed write is reported once, when the message is sealed (it is not sent without it).
    e.recorded.catch(() => undefined);
    this.outbox.push(e);
    this.pump();
  }

  private plaintextOf(e: OwnSend): Buffer {
    return e.control !== undefined ? encodeControl({ ...e.control, id: e.id }) : encodeRoomPayload(e.payload);
  }

  private record(e: OwnSend): Promise<void> {
    return this.options.history.append({
      seq: 0, ts: e.payload.ts, id: e.id, epoch: this.epoch, sender: this.options.identity.publicKey.toString('hex'), p: this.plaintextOf(e).toString('utf8'),
    });
  }

  /**
   * §3.3, §3.8 after a restart: own messages the history holds without an ack go out again.
   * One the relay has after all comes back in the catch-up under its id and counts as sent;
   * the others are sealed again, under their id in the epoch they were written in, under a new
   * id in a later one (the relay may hold the old copy, stale for everyone).
   */
  restorePending(records: readonly HistoryRecord[]): void {
    const self = this.options.identity.publicKey.toString('hex');
    for (const r of records) {
      if (r.seq !== 0 || r.sender !== self || this.outbox.some((e) => e.id === r.id)) continue;
      this.ownIds.add(r.id);
      const parsed = parseRoomContent(Buffer.from(r.p, 'utf8'));
      if (!parsed.ok) continue;
      const c = parsed.content;
      const e: OwnSend = c.type === 'payload'
        ? { id: r.id, payload: c.payload }
        : { id: r.id, payload: { id: r.id, ts: c.ts, name: c.name, type: c.type }, control: c };
      if (e.payload.id !== r.id) continue;
      e.recorded = Promise.resolve();
      e.restoredEpoch = r.epoch;
      this.outbox.push(e);
    }
    this.pump();
  }

  /** A raw body (a proposal) sent once, like a message. */
  private outboxRaw(id: string, body: string): void {
    this.outbox.push({ id, payload: { id, ts: this.now(), name: this.displayName, type: 'proposal' }, body, epoch: this.group.epoch });
    this.pump();
  }

  /**
   * Writes what waits, while joined and caught up and with no commit of ours in flight (a
   * message sent under an epoch that our own commit is ending would be stale for everyone).
   */
  private pump(): void {
    if (!this.link.writable || !this.joined || !this.synced || this.closed) return;
    // §3.6: a read-only join (the relay is in another epoch) takes no send.
    if (this.relayEpoch !== undefined && this.relayEpoch !== this.epoch) return;
    void this.serial(async () => {
      if (this.commitSend === undefined && this.group.pendingCommit === undefined) {
        // §3.8: what waits is sealed in a batch, the state saved ONCE, then the batch goes: the
        // state is durable before any message made under it is sent, at one fsync per batch.
        let batch: OwnSend[] = [];
        let sealed = 0;
        const flush = async (): Promise<void> => {
          // Also when this pass sealed nothing: an earlier pass may have sealed and failed to
          // save (a full disk), and what it sealed must not leave until the save succeeds.
          if (sealed > 0 || this.unsavedSeals()) await this.saveOrRetry();
          for (const e of batch) if (e.body !== undefined) e.ready = true;
          this.writeReady();
          batch = [];
          sealed = 0;
        };
        for (const e of [...this.outbox]) {
          if (e.rid !== undefined || this.group.removed) continue;
          if (e.body === undefined || e.epoch !== this.group.epoch) {
            if (e.payload.type === 'proposal') continue;
            await this.seal(e);
            sealed++;
          }
          batch.push(e);
          if (sealed >= SEAL_BATCH) await flush();
        }
        await flush();
      }
      await this.nextIntent();
    });
  }

  /**
   * §3.3, §3.8: encrypts under the current epoch (its history record written first). The caller
   * saves the state before the message leaves (an MLS key is used once).
   */
  private async seal(e: OwnSend): Promise<void> {
    if (e.restoredEpoch !== undefined) {
      if (e.restoredEpoch !== this.epoch) await this.renew(e);
      e.restoredEpoch = undefined;
    }
    // §3.8: in the history before it can leave (written when it was written; again under a new id).
    try {
      await (e.recorded ??= this.record(e));
    } catch (err) {
      e.recorded = undefined;
      throw err;
    }
    const plaintext = this.plaintextOf(e);
    const message = await this.group.encrypt(plaintext, Buffer.from(e.id, 'utf8'));
    this.sealCount++;
    e.body = encodeMlsBody(message);
    e.parts = undefined;
    e.ready = false;
    e.epoch = this.group.epoch;
  }

  /**
   * Writes, in order, the own messages sealed under a saved state (§3.8) and not in flight, while
   * the pace allows (§1.7); the rest go when their tokens come (the pump runs again then).
   */
  private writeReady(): void {
    if (!this.link.writable || !this.joined || !this.synced || this.closed || this.group.removed) return;
    if (this.commitSend !== undefined || this.group.pendingCommit !== undefined) return;
    for (const e of this.outbox) {
      if (e.rid !== undefined || e.ready !== true || e.body === undefined || e.epoch !== this.group.epoch) continue;
      e.parts ??= this.partsOf(e.body, e.id);
      const sends = e.parts === undefined ? 1 : e.parts.filter((p, i) => i === e.parts!.length - 1 || p.acked !== true).length;
      if (!this.sendTokens.take(sends)) {
        if (this.paceTimer === undefined && !this.closed) {
          this.paceTimer = setTimeout(() => {
            this.paceTimer = undefined;
            this.pump();
          }, this.sendTokens.waitMs(sends));
        }
        return;
      }
      this.writeSend(e);
    }
  }

  /**
   * §3.3: an own message goes again under a new id; the old one is no message any more. What
   * targets it in the outbox (chunks, edits, deletes, reactions, replies) is renewed with it:
   * it now targets the new id, under a new id of its own (its old copy, if sent, names the old
   * target, and the relay would take the same id for a copy it has, §1.5), and so on for what
   * targets that. Each is in the history under its new id with its old one's end, in one
   * batch, so that a restart at any moment finds it once, with its new target (§3.8).
   */
  private async renew(first: OwnSend): Promise<void> {
    const writes: Promise<void>[] = [];
    const queue = [first];
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      const old = e.id;
      const fresh = generateMessageId();
      this.retire(e);
      e.id = fresh;
      e.payload = { ...e.payload, id: fresh };
      if (e.control !== undefined) e.control = { ...e.control, id: fresh };
      e.body = undefined;
      e.parts = undefined;
      e.rid = undefined;
      e.ready = false;
      e.restoredEpoch = undefined;
      e.recorded = this.record(e);
      e.recorded.catch(() => undefined);
      writes.push(e.recorded, this.options.history.superseded(old));
      this.ownIds.delete(old);
      this.emit('renamed', { from: old, to: fresh });
      for (const d of this.outbox) {
        const target = d.payload.target === old;
        const reply = d.payload.reply !== undefined && d.payload.reply.to === old;
        if (d === e || (!target && !reply)) continue;
        d.payload = { ...d.payload, ...(target ? { target: fresh } : {}), ...(reply ? { reply: { ...d.payload.reply!, to: fresh } } : {}) };
        if (!queue.includes(d)) queue.push(d);
      }
    }
    await Promise.all(writes);
  }

  /** §3.3: the ids an own message may be on the relay under, before it goes again under a new one. */
  private retire(e: OwnSend): void {
    const last = e.parts?.at(-1);
    this.retired.set(e.id, last !== undefined ? { part: last.body } : {});
    for (const p of e.parts?.slice(0, -1) ?? []) if (p.acked !== true) this.retired.set(p.id, { part: p.body, partOnly: true });
  }

  /** §1.2, §3.3.1: the longest body the relay takes (its welcome's maxFrame - 512). */
  private get maxBodyChars(): number {
    return this.link.maxFrame - 512;
  }

  /**
   * §3.3.1: cuts an MLS body longer than the relay takes into parts; the last one goes by
   * `lastId` (the message's wire id), the others by ids of their own. Undefined when it fits.
   */
  private partsOf(body: string, lastId: string): PartSend[] | undefined {
    if (body.length <= this.maxBodyChars) return undefined;
    const bodies = roomBodies(decodeMlsBody(body)!, this.maxBodyChars);
    this.log('sent_in_parts', { id: lastId, parts: bodies.length });
    return bodies.map((b, i) => ({ id: i === bodies.length - 1 ? lastId : generateMessageId(), body: b }));
  }

  /** Writes the parts not acked yet, in order (the same ids again after a reconnect: the relay dedups, §1.5). */
  private writeParts(parts: readonly PartSend[]): void {
    for (const p of parts) {
      if (p.acked === true) continue;
      const rid = this.link.reserveRid();
      this.requests.set(rid, { kind: 'part', id: p.id });
      this.link.write({ t: 'send', rid, room: this.room, id: p.id, body: p.body });
    }
  }

  private writeSend(e: OwnSend): void {
    e.parts ??= this.partsOf(e.body!, e.id);
    if (e.parts !== undefined) this.writeParts(e.parts.slice(0, -1));
    const rid = this.link.reserveRid();
    e.rid = rid;
    this.requests.set(rid, { kind: 'send', id: e.id });
    this.link.write({ t: 'send', rid, room: this.room, id: e.id, body: e.parts?.at(-1)?.body ?? e.body! });
  }

  /** An own part of a message or commit in flight, not its last (which goes by the message's id). */
  private ownPart(id: string): PartSend | undefined {
    for (const e of this.outbox) {
      const p = e.parts?.slice(0, -1).find((x) => x.id === id);
      if (p !== undefined) return p;
    }
    return this.commitSend?.parts?.find((x) => x.id === id);
  }

  private queueIntent(intent: CommitIntent): void {
    if (this.group.removed) throw new ClientError('invalid_message', 'You were removed from this room.', this.room);
    this.intents.push(intent);
    this.pump();
  }

  /** §3.3: makes our next commit, if none is pending, and sends it with the epoch rotation (§3.6). */
  private async nextIntent(): Promise<void> {
    const unsent = this.group.pendingCommit;
    if (unsent !== undefined && this.commitSend === undefined && this.retry === undefined) {
      // A pending commit with no frame: restored (saved, then the process died before or while
      // sending it, and the catch-up did not meet it), or its save failed. It goes under its
      // saved id (the relay dedups, §1.5) once the state holding it is saved (§3.8).
      if (!this.joined || !this.synced || this.group.removed) return;
      const id = this.meta.pendingCommitId ?? generateMessageId();
      this.meta.pendingCommitId = id;
      await this.saveOrRetry();
      this.commitSend = await this.commitFrame(id, unsent.message);
      this.writeCommit();
      return;
    }
    if (this.group.pendingCommit !== undefined || this.commitSend !== undefined || this.retry !== undefined) return;
    if (!this.joined || !this.synced || this.group.removed) return;
    // Our own messages go first: they were written under the epoch the commit ends.
    if (this.outbox.some((e) => e.rid === undefined || e.epoch !== this.group.epoch)) return;
    while (this.intents.length > 0) {
      const intent = await this.stillApplies(this.intents.shift()!);
      if (intent === undefined) continue;
      let pending;
      try {
        pending = await this.group.commit(intent);
      } catch (err) {
        if (!(err instanceof MlsError)) throw err;
        this.log('commit_refused_locally', { kind: intent.kind, reason: err.message });
        this.emit('error', new ClientError('invalid_message', `Could not ${intent.kind}: ${err.message}`, this.room));
        continue;
      }
      const id = generateMessageId();
      // §3.8: the pending commit is saved (with its wire id) before it is sent, so a crash
      // never leaves on the relay a commit its author cannot recognise.
      this.meta.pendingCommitId = id;
      await this.saveOrRetry();
      this.commitSend = await this.commitFrame(id, pending.message);
      this.writeCommit();
      return;
    }
  }

  /** §3.6: the frame of our pending commit, with the rotation of the room's auth key. */
  private async commitFrame(id: string, message: Uint8Array): Promise<CommitSend> {
    const current = epochAuthKey(await this.group.epochAuthSeed());
    const next = epochAuthKey((await this.group.pendingEpochAuthSeed())!);
    const nextEpoch = this.group.epoch + 1n;
    const { next: nextPub, rot } = makeRotation(current, this.room, nextEpoch, next);
    // §3.3.1: a commit too long for one body goes in parts, its rotation on the last one.
    const body = encodeMlsBody(message);
    const parts = this.partsOf(body, id);
    return {
      id, frame: { t: 'send', room: this.room, id, body: parts?.at(-1)?.body ?? body, epoch: Number(nextEpoch), next: nextPub, rot },
      ...(parts !== undefined ? { parts: parts.slice(0, -1) } : {}),
    };
  }

  private writeCommit(): void {
    const c = this.commitSend;
    if (c === undefined || !this.link.writable || !this.joined) return;
    if (c.parts !== undefined) this.writeParts(c.parts);
    const rid = this.link.reserveRid();
    c.rid = rid;
    this.requests.set(rid, { kind: 'commit', id: c.id });
    this.link.write({ ...c.frame, rid });
  }

  /** §3.3: what of a lost intent still applies in the new epoch (undefined: nothing). */
  private async stillApplies(intent: CommitIntent): Promise<CommitIntent | undefined> {
    const members = this.group.members();
    const isMember = (k: Uint8Array): boolean => members.some((m) => m.identityKey.equals(Buffer.from(k)));
    switch (intent.kind) {
      case 'update': return intent;
      case 'add': {
        const keep: Uint8Array[] = [];
        for (const kp of intent.keyPackages) {
          try {
            if (!isMember((await readKeyPackage(kp)).identityKey)) keep.push(kp);
          } catch {
            // a KeyPackage that does not read is dropped
          }
        }
        if (keep.length === 0) return this.drop(intent);
        return { kind: 'add', keyPackages: keep };
      }
      case 'remove': {
        const keep = intent.identityKeys.filter(isMember);
        return keep.length === 0 ? this.drop(intent) : { kind: 'remove', identityKeys: keep };
      }
      case 'promote': {
        const admins = this.group.admins();
        const keep = intent.identityKeys.filter((k) => isMember(k) && !admins.some((a) => a.equals(Buffer.from(k))));
        return keep.length === 0 && intent.identityKeys.length > 0 ? this.drop(intent) : { kind: 'promote', identityKeys: keep };
      }
    }
  }

  private drop(intent: CommitIntent): undefined {
    this.log('intent_dropped', { kind: intent.kind });
    this.emit('dropped', intent);
    return undefined;
  }

  // ---- the relay ------------------------------------------------------------------------

  private onWelcomed(): void {
    this.joined = false;
    this.synced = false;
    if (this.meta.ownerSeed !== undefined && this.meta.resetDone !== true) void this.sendReset();
    else void this.join();
  }

  /** §3.6: the creator makes the room private at the relay, at the epoch the group is in. */
  private async sendReset(refuse = 0): Promise<void> {
    const challenge = this.link.challenge;
    if (challenge === undefined || this.closed) return;
    const owner = epochAuthKey(decodeB64u(this.meta.ownerSeed!));
    const auth = epochAuthKey(await this.group.epochAuthSeed());
    // §3.6: signed over this connection's challenge: good on this connection only.
    if (this.link.challenge !== challenge) return;
    const fields = makeReset(owner, challenge, this.room, this.group.epoch, auth, BigInt(refuse));
    const rid = this.link.reserveRid();
    this.requests.set(rid, refuse > 0 ? { kind: 'reset', refuse } : { kind: 'reset' });
    this.link.write({
      t: 'reset', rid, room: this.room, owner: fields.owner, epoch: Number(this.group.epoch), auth: fields.auth, ...(refuse > 0 ? { refuse } : {}), sig: fields.sig,
    });
  }

  /**
   * §3.6 "Repair": the relay ended our epoch with the commit at `seq`, every seq up to it is
   * applied, and we are still in our epoch. The owner's client resets the relay to this epoch
   * when it received that commit and refused it; everyone else waits for the owner, joining
   * again now and then, and learns of the repair from a `joined` in its epoch.
   */
  private onBlocked(seq: number): void {
    const owner = this.meta.ownerSeed !== undefined;
    if (this.blocked?.seq !== seq) {
      this.blocked = { epoch: this.epoch, seq };
      this.blockedDelayMs = BLOCKED_RETRY_FIRST_MS;
      this.log('room_blocked', { epoch: this.epoch, seq, owner });
      this.emit('blocked', { epoch: this.epoch, seq, owner });
    }
    // Only a commit we received and refused is repaired: one we never got (older than the
    // relay keeps, §1.6) means we missed a change, and undoing it would strand the others.
    if (owner && this.repairSentFor !== seq && (this.meta.refusedCommits ?? []).includes(seq)) {
      this.repairSentFor = seq;
      void this.sendReset(seq);
      return;
    }
    this.retryBlocked();
  }

  private retryBlocked(): void {
    if (this.blockedTimer !== undefined || this.closed) return;
    const delay = this.blockedDelayMs;
    this.blockedDelayMs = Math.min(BLOCKED_RETRY_MAX_MS, delay * 2);
    this.blockedTimer = setTimeout(() => {
      this.blockedTimer = undefined;
      if (this.link.writable && !this.closed) void this.join();
    }, delay);
    this.blockedTimer.unref?.();
  }

  /** §3.6: the join proof under the current epoch's auth key; `since` the last seq applied. */
  private async join(): Promise<void> {
    const challenge = this.link.challenge;
    if (challenge === undefined || this.group.removed || this.closed) return;
    const auth = epochAuthKey(await this.group.epochAuthSeed());
    if (this.link.challenge !== challenge) return;
    for (const [rid, r] of this.requests) if (r.kind === 'join') this.requests.delete(rid);
    const rid = this.link.reserveRid();
    this.requests.set(rid, { kind: 'join' });
    this.joined = false;
    this.synced = false;
    this.rekeyAfter = undefined;
    this.link.write({ t: 'join', rid, room: this.room, since: this.meta.applied, limit: LIMITS.maxLimit, ...makeJoinProof(auth, challenge, this.room) });
  }

  private onFrame(f: RoutedFrame): void {
    switch (f.t) {
      case 'reset_ok': {
        const r = this.requests.get(f.rid);
        this.requests.delete(f.rid);
        if (r?.kind !== 'reset') return;
        if (r.refuse !== undefined) {
          // §3.6 "Repair": the relay is back in our epoch; the join that follows says so.
          this.log('room_repaired', { epoch: this.epoch, refused: r.refuse });
          void this.join();
          return;
        }
        this.meta.resetDone = true;
        void this.save().then(() => this.join());
        return;
      }
      case 'joined': {
        const r = f.rid === undefined ? undefined : this.requests.get(f.rid);
        if (r?.kind !== 'join' || f.room !== this.room) return;
        this.requests.delete(f.rid!);
        this.joined = true;
        this.head = f.head;
        this.relayEpoch = f.epoch;
        if (this.blocked !== undefined && f.epoch === this.epoch) {
          // §3.6 "Repair": the relay's epoch is ours again: the refused commit is undone.
          const { seq } = this.blocked;
          this.blocked = undefined;
          if (this.blockedTimer !== undefined) clearTimeout(this.blockedTimer);
          this.blockedTimer = undefined;
          this.emit('repaired', { epoch: this.epoch, seq, owner: this.meta.ownerSeed !== undefined });
        }
        return;
      }
      case 'synced': {
        if (f.room !== this.room || !this.joined) return;
        if (f.from > this.meta.applied + 1 && f.head > this.meta.applied) return this.requestHistory(f.from);
        return this.caughtUp();
      }
      case 'page': {
        const r = this.requests.get(f.rid);
        this.requests.delete(f.rid);
        if (r?.kind !== 'history') return;
        const lowest = f.from === 0 ? r.before : f.from;
        if (lowest > this.meta.applied + 1 && f.more) return this.requestHistory(lowest);
        // §1.6: older messages are gone from the relay: what is missing cannot be had.
        if (lowest > this.meta.applied + 1) this.skipTo(lowest - 1);
        return this.caughtUp();
      }
      case 'msg':
        if (f.room !== this.room || f.eph === true) return;
        return this.onStored(f);
      case 'ack':
        if (f.seq === undefined) return;
        return this.onAck(f);
      case 'rekey':
        if (f.room !== this.room) return;
        return this.onRekey(f.epoch, f.seq);
      case 'error':
        return this.onError(f);
      default:
        return;
    }
  }

  private requestHistory(before: number): void {
    const rid = this.link.reserveRid();
    this.requests.set(rid, { kind: 'history', before });
    this.link.write({ t: 'history', rid, room: this.room, before, limit: Math.min(LIMITS.maxLimit, before - this.meta.applied - 1) });
  }

  private caughtUp(): void {
    if (this.synced) return;
    this.synced = true;
    void this.serial(async () => {
      this.emit('synced', { room: this.room, applied: this.meta.applied });
      // §3.7: right after rejoining a room not seen for long, an update heals a copied state.
      const away = this.now() - this.meta.lastSeenAt;
      this.meta.lastSeenAt = this.now();
      if (away > this.tuning.updateAfterMs && !this.intents.some((i) => i.kind === 'update')) this.intents.push({ kind: 'update' });
      // A commit of ours in flight when the connection dropped goes again, same id (§1.5).
      if (this.commitSend !== undefined && this.group.pendingCommit !== undefined) this.writeCommit();
      else if (this.commitSend !== undefined) this.commitSend = undefined;
    });
    this.pump();
  }

  private onStored(f: ReceivedStoredMsg): void {
    if (f.seq <= this.meta.applied || this.slots.has(f.seq)) return;
    // §3.8: an own message of an earlier run comes back in a catch-up: it is ours, not opened.
    if (this.ownIds.has(f.id) || this.retired.has(f.id) || this.outbox.some((e) => e.id === f.id)) {
      // A message of an earlier run, restored: the epoch it was sealed in is in its header
      // (§3.3: stale for everyone when a lower seq ended that epoch).
      const restored = this.outbox.find((e) => e.id === f.id && e.epoch === undefined);
      const bytes = restored === undefined ? undefined : decodeMlsBody(f.body);
      const header = bytes === undefined ? undefined : this.group.peek(bytes);
      if (restored !== undefined && header !== undefined) restored.epoch = header.epoch;
      this.slots.set(f.seq, { kind: 'own', id: f.id, ts: f.ts, ...(isPartBody(f.body) ? { part: f.body } : {}) });
    } else {
      this.slots.set(f.seq, { kind: 'msg', id: f.id, body: f.body, ts: f.ts, epoch: f.epoch });
    }
    this.drainSlots();
  }

  private onAck(f: ReceivedStoredAck): void {
    const r = f.rid === undefined ? undefined : this.requests.get(f.rid);
    if (f.rid !== undefined) this.requests.delete(f.rid);
    if (f.room !== this.room) return;
    if (r?.kind === 'commit' && this.commitSend?.id === f.id) {
      // §3.6: the relay took our commit as the end of this epoch.
      this.lastCommitId = f.id;
      const body = this.commitSend.frame.body;
      if (f.seq > this.meta.applied) this.slots.set(f.seq, { kind: 'own', id: f.id, ts: f.ts, ...(isPartBody(body) ? { part: body } : {}) });
      this.commitSend = undefined;
    } else if (r?.kind === 'part' && this.ownPart(f.id) !== undefined) {
      // §3.3.1: an own part; at its seq it goes into our sets as into every member's (the same bounds).
      const p = this.ownPart(f.id)!;
      p.acked = true;
      if (f.seq > this.meta.applied) this.slots.set(f.seq, { kind: 'own', id: f.id, ts: f.ts, part: p.body, partOnly: true });
    } else if (this.outbox.some((e) => e.id === f.id)) {
      const last = this.outbox.find((e) => e.id === f.id)?.parts?.at(-1);
      if (f.seq > this.meta.applied) this.slots.set(f.seq, { kind: 'own', id: f.id, ts: f.ts, ...(last !== undefined ? { part: last.body } : {}) });
    } else if (this.retired.has(f.id)) {
      // §3.3: the late ack of an old id (a message that went again under a new one): its seq is ours.
      if (f.seq > this.meta.applied) this.slots.set(f.seq, { kind: 'own', id: f.id, ts: f.ts, ...this.retired.get(f.id) });
    } else {
      return;
    }
    this.drainSlots();
  }

  private onError(f: ReceivedError): void {
    const r = f.rid === undefined ? undefined : this.requests.get(f.rid);
    if (f.rid !== undefined) this.requests.delete(f.rid);
    this.log('relay_error', { code: f.code, kind: r?.kind });
    switch (r?.kind) {
      case 'commit':
        if (f.code === 'stale_epoch') {
          // §3.3: we lost the race. The intent is kept and committed again once the winning
          // commit (at f.seq) is applied.
          const afterSeq = f.seq ?? this.meta.applied;
          void this.serial(async () => {
            const intent = this.group.abandonOwnCommit();
            this.commitSend = undefined;
            await this.save();
            if (intent !== undefined) this.retry = { intent, afterSeq };
            this.afterApplied();
          });
          return;
        }
        if (f.code === 'not_joined' || f.code === 'rate_limited' || f.code === 'internal') {
          // Not processed: sent again after the next join (or shortly).
          if (this.commitSend !== undefined) this.commitSend.rid = undefined;
          if (f.code !== 'not_joined') setTimeout(() => this.writeCommit(), 500);
          return;
        }
        // Any other refusal: the commit cannot be stored; it is abandoned (nothing changed).
        void this.serial(async () => {
          this.group.abandonOwnCommit();
          this.commitSend = undefined;
          await this.save();
          this.emit('error', new ClientError('relay_error', relayErrorMessage(f.code), this.room, f.code));
        });
        return;
      case 'part':
        // Not stored: the whole message (or commit) goes again, its acked parts skipped.
        if (f.code === 'rate_limited' || f.code === 'internal') setTimeout(() => this.pump(), 500);
        return;
      case 'send': {
        const e = this.outbox.find((x) => x.id === r.id);
        if (e === undefined) return;
        e.rid = undefined;
        if (f.code === 'not_joined' || f.code === 'rate_limited' || f.code === 'internal' || f.code === 'shutting_down' || f.code === 'room_quota') {
          if (f.code === 'not_joined') return;
          // Not stored, while later ones of ours may be: sealed again (a new generation of our
          // MLS sender ratchet) rather than sent again as it was, which, stored after them,
          // would be further out of order than members' keys are kept for (§3.3): lost for all.
          if (e.payload.type !== 'proposal') {
            e.body = undefined;
            e.parts = undefined;
            e.ready = false;
          }
          setTimeout(() => this.pump(), 500);
          return;
        }
        this.outbox.splice(this.outbox.indexOf(e), 1);
        void this.options.history.superseded(e.id).catch(() => undefined);
        this.emit('outgoing', { id: e.id, state: 'failed', error: relayErrorMessage(f.code) });
        return;
      }
      case 'join':
        if (f.code === 'rate_limited') {
          setTimeout(() => void this.join(), 500);
          return;
        }
        this.emit('error', new ClientError('room_refused', `Room "${this.options.name}": ${relayErrorMessage(f.code)}`, this.room, f.code));
        return;
      case 'reset':
        if (r.refuse !== undefined) {
          // A repair the relay did not take (its epochs moved meanwhile): wait and look again.
          this.log('repair_refused', { code: f.code, refused: r.refuse });
          if (f.code === 'rate_limited' || f.code === 'internal') this.repairSentFor = undefined;
          else this.emit('error', new ClientError('relay_error', `Room "${this.options.name}": the relay refused the repair (${f.code}).`, this.room, f.code));
          this.retryBlocked();
          return;
        }
        this.emit('error', new ClientError('room_refused', `Room "${this.options.name}": the relay refused to make it private (${f.code}).`, this.room, f.code));
        return;
      case 'history':
        this.caughtUp();
        return;
      default:
        this.emit('error', new ClientError('relay_error', relayErrorMessage(f.code), this.room, f.code));
    }
  }

  /** §3.6: the relay ended our membership after the commit at `seq`; we join again once it is applied. */
  private onRekey(epoch: number, seq: number): void {
    this.log('rekey', { epoch, seq });
    this.joined = false;
    this.synced = false;
    this.rekeyAfter = seq;
    this.rekeyEpoch = epoch;
    for (const e of this.outbox) e.rid = undefined;
    if (this.commitSend !== undefined) this.commitSend.rid = undefined;
    this.afterApplied();
  }

  private onLost(): void {
    this.joined = false;
    this.synced = false;
    this.requests.clear();
    for (const e of this.outbox) e.rid = undefined;
    if (this.commitSend !== undefined) this.commitSend.rid = undefined;
  }

  // ---- applying, in seq order ----------------------------------------------------------

  /** Runs group work one task at a time, in the order asked (the group is never used twice at once). */
  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.work.then(task).catch((err: unknown) => {
      this.log('private_room_failure', { error: err instanceof Error ? err.message : String(err) });
      this.emit('error', new ClientError('protocol_error', `Room "${this.options.name}": ${err instanceof Error ? err.message : String(err)}`, this.room));
    });
    this.work = next;
    return next;
  }

  private drainSlots(): void {
    void this.serial(async () => {
      let changed = false;
      for (;;) {
        const seq = this.meta.applied + 1;
        const slot = this.slots.get(seq);
        if (slot === undefined) break;
        this.slots.delete(seq);
        const epochBefore = this.group.epoch;
        const commit = await this.apply(seq, slot);
        this.meta.applied = seq;
        changed = true;
        if (this.group.epoch !== epochBefore) delete this.meta.refusedCommits;
        else if (slot.kind === 'msg' && slot.epoch !== undefined && slot.epoch > this.epoch && !this.group.removed) this.noteRefusedCommit(seq);
        if (commit) await this.save();
        if (this.group.removed) break;
      }
      if (changed) this.scheduleSave();
      this.afterApplied();
    });
  }

  /** §3.6 "Repair": the relay forwarded the message at `seq` as the next epoch's commit, and we refused it. */
  private noteRefusedCommit(seq: number): void {
    this.log('commit_refused', { seq, epoch: this.epoch });
    const refused = (this.meta.refusedCommits ??= []);
    refused.push(seq);
    if (refused.length > MAX_REFUSED_COMMITS) refused.shift();
  }

  /** Applies one seq; true when the group changed epoch (its state is saved at once). */
  private async apply(seq: number, slot: Slot): Promise<boolean> {
    if (this.group.removed) return false;
    if (slot.kind === 'own') {
      // §3.3.1: our own parts count in our sets at their seqs, as in everyone's; what they join is ours.
      if (slot.part !== undefined) this.parts.take(seq, slot.part);
      if (slot.partOnly === true) {
        this.retired.delete(slot.id);
        return false;
      }
      return this.applyOwn(seq, slot);
    }
    // §3.3.1: a body is one MLSMessage, or a part of one, joined at the seq of its last part.
    const bytes = this.parts.take(seq, slot.body, (reason) => this.log('part_refused', { seq, reason }));
    if (bytes === undefined) {
      this.log('not_an_mls_message', { seq });
      return false;
    }
    const header = this.group.peek(bytes);
    if (header === undefined || !header.ours) {
      this.log('not_of_this_group', { seq });
      return false;
    }
    // §3.6: a commit counts only when the relay ordered it as the next epoch's first.
    if (header.contentType === 'commit' && header.epoch === this.group.epoch && slot.epoch !== this.epoch + 1
      && !this.isOwnPending(bytes)) {
      this.log('commit_without_rotation', { seq, epoch: slot.epoch });
      return false;
    }
    const ownPending = this.isOwnPending(bytes) ? this.group.pendingCommit : undefined;
    let result: Incoming;
    try {
      result = await this.group.process(bytes);
    } catch (err) {
      if (!(err instanceof MlsError)) throw err;
      this.log('message_refused', { seq, code: err.code, reason: err.message });
      if (err.code === 'undecryptable' && header.epoch > this.group.epoch) {
        // §3.8: a message of an epoch we do not have: we missed a commit every other member applied.
        this.emit('error', new ClientError('protocol_error',
          `Room "${this.options.name}": this client missed a change of the group and can no longer read it; ask an admin for a new invite.`, this.room));
      }
      return false;
    }
    // Our own commit met again at its seq (a catch-up after a crash or a lost ack, §3.3).
    if (ownPending !== undefined && result.kind === 'commit' && result.own) {
      this.commitSend = undefined;
      await this.committed(seq, ownPending.intent, ownPending.welcome);
    }
    return this.handle(seq, slot, result);
  }

  private isOwnPending(bytes: Uint8Array): boolean {
    const p = this.group.pendingCommit;
    return p !== undefined && Buffer.from(p.message).equals(Buffer.from(bytes));
  }

  private async applyOwn(seq: number, slot: { id: string }): Promise<boolean> {
    const pending = this.group.pendingCommit;
    if (this.commitSendIdWas(slot.id) && pending !== undefined) {
      const result = this.group.confirmOwnCommit();
      await this.committed(seq, pending.intent, pending.welcome);
      return this.handle(seq, { kind: 'own', id: slot.id, ts: undefined }, result);
    }
    const i = this.outbox.findIndex((e) => e.id === slot.id);
    const e = i >= 0 ? this.outbox[i] : undefined;
    this.ownIds.delete(slot.id);
    // §3.3: an old id of a message that went again under a new one: its seq is no message of ours.
    if (this.retired.delete(slot.id)) return false;
    if (e === undefined) {
      this.historyWrite(this.options.history.acked(slot.id, seq));
      return false;
    }
    if (e.epoch !== undefined && e.epoch < this.group.epoch && e.payload.type !== 'proposal') {
      // §3.3: written under an epoch a lower seq ended, so every member ignores it as stale:
      // it goes again, under a new id, in this epoch (nothing the user wrote is lost).
      this.log('own_message_stale', { seq });
      await this.renew(e);
      return false;
    }
    this.outbox.splice(i, 1);
    this.historyWrite(this.options.history.acked(slot.id, seq));
    // Our own control messages count for us at their seq too (§3.4: every member counts alike).
    if (e.control !== undefined) this.applyControl(seq, { ...e.control, id: e.id }, this.group.self());
    else this.emit('outgoing', { id: slot.id, state: 'sent', seq });
    return false;
  }

  private lastCommitId: string | undefined;

  private commitSendIdWas(id: string): boolean {
    return this.lastCommitId === id || this.commitSend?.id === id;
  }

  private async committed(seq: number, intent: CommitIntent, welcome: Uint8Array | undefined): Promise<void> {
    this.meta.lastCommitAt = this.now();
    this.emit('committed', { intent, seq, welcome, epoch: Number(this.group.epoch) });
    await Promise.resolve();
  }

  private async handle(seq: number, slot: Slot, result: Incoming): Promise<boolean> {
    switch (result.kind) {
      case 'application':
        await this.applicationMessage(seq, slot, result);
        return false;
      case 'proposal':
        // §3.5: a member asks to leave; an admin's next commit (an update) applies it.
        if (this.isAdmin && !this.intents.some((i) => i.kind === 'update')) this.intents.push({ kind: 'update' });
        return false;
      case 'stale':
        this.log('stale', { seq, epoch: Number(result.epoch) });
        return false;
      case 'removed': {
        const by = this.actor(result.committer);
        this.meta.removedBy = by;
        this.outbox.length = 0;
        this.intents.length = 0;
        this.retry = undefined;
        this.emit('removed', { by });
        return true;
      }
      case 'commit': {
        const by = this.actor(result.committer);
        // A member added by an invite is named by the admin's member_added message that
        // follows the commit (§3.4 step 3): its event waits for that name, at most until the
        // next commit.
        this.flushHeldAdds();
        for (const m of result.added) {
          const e: MembershipEvent = { ...this.nameOf(m), fingerprint: m.fingerprint, by };
          if (e.name === undefined) this.heldAdds.set(m.identityKey.toString('hex'), e);
          else this.emit('member_added', e);
        }
        for (const m of result.removed) {
          this.meta.removed[m.identityKey.toString('hex')] = seq;
          this.emit('member_removed', { ...this.nameOf(m), fingerprint: m.fingerprint, by });
        }
        if (result.lostIntent !== undefined && !result.own) {
          // §3.3: another commit came first; ours (pending, now void) is retried in this epoch.
          this.commitSend = undefined;
          this.intents.unshift(result.lostIntent);
        }
        this.emit('epoch', { epoch: Number(result.epoch) });
        return true;
      }
    }
  }

  private async applicationMessage(seq: number, slot: Slot, result: Extract<Incoming, { kind: 'application' }>): Promise<void> {
    const id = slot.id;
    if (Buffer.from(result.authenticatedData).toString('utf8') !== id) {
      this.log('aad_mismatch', { seq });
      return;
    }
    const parsed = parseRoomContent(result.plaintext);
    if (!parsed.ok) {
      this.log('content_refused', { seq, reason: parsed.reason });
      return;
    }
    const content = parsed.content;
    const senderHex = result.sender.identityKey.toString('hex');
    const pid = content.type === 'payload' ? content.payload.id : content.id;
    if (pid !== id) {
      this.log('payload_id_mismatch', { seq });
      return;
    }
    const record: HistoryRecord = {
      seq, ts: slot.ts ?? 0, id, epoch: Number(result.epoch), sender: senderHex, p: Buffer.from(result.plaintext).toString('utf8'),
    };
    this.historyWrite(this.options.history.append(record));
    const name = content.type === 'payload' ? content.payload.name : content.name;
    this.meta.names[senderHex] = name;
    if (content.type === 'payload') {
      // A profile only says the name its sender goes by (kept above).
      if (content.payload.type !== 'profile') this.emit('message', this.chatMessage(content.payload, result.sender, seq, false, false));
      return;
    }
    this.applyControl(seq, content, result.sender);
  }

  /** §3.4: every member records invites and counts their uses from member_added, in seq order. */
  private applyControl(seq: number, c: ControlContent, sender: MlsMember): void {
    // Only an admin's control messages count (roles, §3.5): anyone else's is ignored.
    if (!this.group.isAdmin(sender.identityKey)) {
      this.log('control_from_non_admin', { seq, type: c.type });
      return;
    }
    switch (c.type) {
      case 'invite':
        this.meta.invites[c.invite] = { secret: c.secret, uses: c.uses, used: 0, expires: c.expires, seq, revoked: false };
        break;
      case 'revoke': {
        const inv = this.meta.invites[c.invite];
        if (inv !== undefined) inv.revoked = true;
        break;
      }
      case 'member_added': {
        const inv = this.meta.invites[c.invite];
        if (inv !== undefined) inv.used++;
        for (const [k, n] of Object.entries(c.names ?? {})) if (k !== this.options.identity.publicKey.toString('hex')) this.meta.names[k] ??= n;
        this.meta.names[c.member] = c.memberName;
        {
          const held = this.heldAdds.get(c.member);
          this.heldAdds.delete(c.member);
          if (held !== undefined) this.emit('member_added', { ...held, name: c.memberName });
        }
        break;
      }
    }
    this.emit('control', c, sender);
  }

  /** member_added events still waiting for a name (hex identity key -> event). */
  private readonly heldAdds = new Map<string, MembershipEvent>();

  private flushHeldAdds(): void {
    for (const e of this.heldAdds.values()) this.emit('member_added', e);
    this.heldAdds.clear();
  }

  /** The name a member goes by, as the admin adding it learned it from its join request. */
  noteName(identityKeyHex: string, name: string): void {
    this.meta.names[identityKeyHex] = name;
  }

  /** After each applied batch: a rekey's re-join, a lost intent's retry, the next commit. */
  private afterApplied(): void {
    if (this.group.removed) return;
    if (this.rekeyAfter !== undefined && this.meta.applied >= this.rekeyAfter) {
      const seq = this.rekeyAfter;
      this.rekeyAfter = undefined;
      // §3.6 "Repair": every seq up to the commit that ended our epoch applied, and still in
      // it: we refused the commit the relay took as that epoch's end.
      if (this.rekeyEpoch !== undefined && this.rekeyEpoch > this.epoch) this.onBlocked(seq);
      else void this.join();
    } else if (this.rekeyAfter !== undefined && this.slots.size === 0) {
      // The commit that ended our epoch has not reached us: join with the key we have; the
      // relay gives us the rest of our epoch read-only, then the next rekey (§3.6).
      this.rekeyAfter = undefined;
      void this.join();
    }
    if (this.retry !== undefined && this.meta.applied >= this.retry.afterSeq) {
      this.intents.unshift(this.retry.intent);
      this.retry = undefined;
    }
    this.pump();
  }

  /** §1.6: messages older than the relay keeps are gone; the group will tell if that lost a commit. */
  private skipTo(seq: number): void {
    if (seq > this.meta.applied) this.meta.applied = seq;
    this.drainSlots();
  }

  // ---- helpers --------------------------------------------------------------------------

  private actor(m: MlsMember): Actor {
    return { fingerprint: m.fingerprint, ...this.nameOf(m) };
  }

  private nameOf(m: MlsMember): { name?: string } {
    const name = m.identityKey.equals(this.options.identity.publicKey) ? this.displayName : this.meta.names[m.identityKey.toString('hex')];
    return name === undefined ? {} : { name };
  }

  private chatMessage(p: Payload, sender: MlsMember, seq: number | undefined, own: boolean, history: boolean): ChatMessage {
    const m: ChatMessage = {
      room: this.room, ts: p.ts, id: p.id, name: p.name, fingerprint: sender.fingerprint, shortFingerprint: shortOfFingerprint(sender.fingerprint),
      type: p.type, verified: true, keyChanged: false, own, history,
    };
    if (seq !== undefined) m.seq = seq;
    if (p.text !== undefined) m.text = p.text;
    if (p.snippet !== undefined) m.snippet = p.snippet;
    copyChatFields(p, m);
    return m;
  }

  /**
   * History records of applied seqs still being written (group commit, historyStore.ts): each
   * is durable before the state that counts its seq as applied is saved (save() waits for them),
   * so that a restart never skips a seq whose record it does not have.
   */
  private historyWrites: Promise<void>[] = [];

  private historyWrite(write: Promise<void>): void {
    write.catch(() => undefined);
    this.historyWrites.push(write);
  }

  /** §3.8: the MLS state (with any pending commit) and the meta, as one secret. */
  private async save(): Promise<void> {
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const writes = this.historyWrites;
    this.historyWrites = [];
    await Promise.all(writes);
    const sealed = this.sealCount;
    await this.options.save(encodeSaved({ state: this.group.export(), meta: this.meta }));
    this.savedSealCount = sealed;
  }

  /**
   * §3.8: a save that must succeed before something is sent. When it fails (a full disk), the
   * error goes up (nothing is sent) and the send is tried again later, save first.
   */
  private async saveOrRetry(): Promise<void> {
    try {
      await this.save();
    } catch (err) {
      if (this.saveRetry === undefined && !this.closed) {
        this.saveRetry = setTimeout(() => {
          this.saveRetry = undefined;
          this.pump();
        }, this.tuning.saveRetryMs);
        this.saveRetry.unref?.();
      }
      throw new Error(`nothing was sent: the room's state could not be saved (${err instanceof Error ? err.message : String(err)}); trying again`);
    }
  }

  private saveRetry?: ReturnType<typeof setTimeout>;

  /** Messages sealed (MLS keys used, §3.8) and the count the last successful save covered. */
  private sealCount = 0;
  private savedSealCount = 0;

  /** Whether a message was sealed under a state not saved yet (it must not be sent, §3.8). */
  private unsavedSeals(): boolean {
    return this.sealCount !== this.savedSealCount;
  }

  private saveTimer?: ReturnType<typeof setTimeout>;

  private scheduleSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.serial(() => this.save());
    }, 200);
  }

  /** §3.7: hourly, with a random delay, an update once our last commit is a day old. */
  private scheduleUpdateCheck(): void {
    if (this.closed) return;
    const delay = this.tuning.updateCheckMs + randomInt(Math.max(1, this.tuning.updateCheckMs));
    this.updateTimer = setTimeout(() => {
      if (!this.group.removed && this.now() - this.meta.lastCommitAt >= this.tuning.updateAfterMs && !this.committing) this.update();
      this.scheduleUpdateCheck();
    }, delay);
    this.updateTimer.unref?.();
  }

  /** Where this room lives, for sentences. */
  get where(): string {
    return formatHostPort(this.options.host, this.options.port);
  }

  /** Own message ids of an earlier run not acked then (from the history store, §3.8). */
  rememberOwnIds(ids: Iterable<string>): void {
    for (const id of ids) this.ownIds.add(id);
  }
}
