// Private rooms in the extension (docs/protocol.md §3, docs/extension.md "Private rooms"): one
// PrivateRoom (src/core/private/privateRoom.ts) per private room, each on its own relay
// connection, and, while this member is an admin, its LobbyDesk that adds valid join requests
// by itself (§3.4). Their messages and membership events go into ChatSession's timelines
// through a small sink, so the panel shows and pages them as it does a link room's.
//
// Where things are kept (§3.8), as the other secrets are: the MLS state with its meta (owner
// seed, invite secrets) under `smc.mls.<room>` and the history key under `smc.history.<room>`
// in SecretStorage; the history itself, encrypted under that key, in the extension's global
// storage folder (history/<room>.log, mode 0600); which rooms are private in globalState
// (not a secret). No vscode import: unit-tested in plain Node against a real relay.
import { TypedEmitter } from '../core/client/emitter';
import { RelayClient } from '../core/client/relayClient';
import {
  ClientError, type ChatMessage, type ClientLog, type EffectEvent, type FileEvent, type OutgoingContent, type OutgoingFile,
  type OutgoingFileContent, type OutgoingMessage, type OutgoingUpdate, type Snippet, type TransportFactory,
} from '../core/client/types';
import { decodeB64u, encodeB64u } from '../core/crypto/b64u';
import { shortOfFingerprint, type Identity } from '../core/crypto/identity';
import { secureRandom } from '../core/crypto/primitives';
import { formatHostPort, parseHostPort } from '../core/hostPort';
// Light modules only: what carries MLS comes from ./privateParts on first use (see mlsParts).
import { isFingerprintForm } from '../core/payload/fields';
import { LocalFeatureRoom } from '../core/private/featureRoom';
import { messageOfRecord } from '../core/private/historyMessage';
import { HISTORY_KEY_BYTES, HistoryStore, type HistoryLog, type HistoryRecord } from '../core/private/historyStore';
import { decodeSaved, encodeSaved, freshMeta, type PrivateMeta } from '../core/private/meta';
import { parsePrivateInvite } from '../core/private/privateInvite';
import type { LobbyDesk } from '../core/private/lobby';
import type { MembershipEvent, PrivateRoom } from '../core/private/privateRoom';
import type { ChatItem, PrivateMemberView, RoomKindView } from '../shared/messages';
import type { MementoLike, RoomEntry, RoomListLike } from './chatSession';
import { membershipText, MEMBERSHIP_ID_PREFIX, MEMBERSHIP_TYPE } from './privateText';

/** The SecretStorage shape of src/core/keys/stores.ts. */
export interface PrivateSecrets {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/**
 * What a room of another kind needs from ChatSession (src/vscode/chatSession.ts, its private-room
 * hooks): the events RelayClient gives it for link rooms (message, outgoing, effects, file).
 */
export interface TimelineSink {
  deliver(m: ChatMessage): void;
  deliverOutgoing(u: OutgoingUpdate): void;
  /** A reaction, edit or delete applied (§2.3.3, §2.3.4), as RelayClient's `effects`. */
  deliverEffects(e: EffectEvent): void;
  /** A file's progress (§2.3.5), as RelayClient's `file`. */
  deliverFile(e: FileEvent): void;
  showItem(room: string, item: ChatItem): void;
  setBackend(room: string, backend: RoomBackend | undefined): void;
  /** §3.3: an own message went again under a new id (renewed, or written again by Retry); its item follows. */
  renameOwn(room: string, from: string, to: string): boolean;
}

/** A member @names bind to (§2.3.2). */
export interface BackendMember {
  name: string;
  fingerprint: string;
}

/**
 * How ChatSession sends in a room that is not on its link-room client: every §2.3 payload,
 * through the same checks as link rooms (LocalFeatureRoom: ClientError when refused).
 */
export interface RoomBackend {
  sendText(text: string): OutgoingMessage;
  sendSnippet(snippet: Snippet, caption?: string): OutgoingMessage;
  sendPayload(content: OutgoingContent): OutgoingMessage;
  sendFile(file: OutgoingFileContent): OutgoingFile;
  /**
   * A message the relay refused for good (§3.3: it is not in the outbox any more), written again
   * under a new id; undefined when its content is no longer held here (then it is not offered).
   */
  resend(id: string): OutgoingMessage | OutgoingFile | undefined;
  /** The room's other members with a name (§3.4: the MLS group, not presence). */
  members(): BackendMember[];
  /** How many members the group has, this one included. */
  memberCount(): number;
}

/** Own sends kept for a resend after a refusal (their content; files hold their bytes), at most. */
export const MAX_RESENDABLE = 64;

export interface PrivateRoomsDeps {
  secrets: PrivateSecrets;
  state: MementoLike;
  rooms: RoomListLike;
  identity(): Promise<Identity>;
  displayName(): string;
  /** The encrypted history's file (src/node/historyFile.ts in the extension). */
  historyLog(room: string): HistoryLog;
  transport: TransportFactory;
  agent: string;
  log: ClientLog;
  sink: TimelineSink;
  now?: () => number;
}

export interface PrivateRoomsEvents {
  /** A room's kind view changed (members, roles, removed). */
  changed: [room: string];
  error: [error: ClientError];
}

export const PRIVATE_ROOMS_STATE = 'smc.privateRooms';
export const mlsSecret = (room: string): string => `smc.mls.${room}`;
export const historySecret = (room: string): string => `smc.history.${room}`;

/** How long a join request waits for an admin by default (§3.4). */
export const JOIN_TIMEOUT_MS = 10 * 60_000;

type MlsParts = typeof import('./privateParts.js');
let loadingParts: Promise<MlsParts> | undefined;
/** ts-mls and the room's state machine, loaded once, when a private room is first used. */
const mlsParts = (): Promise<MlsParts> => (loadingParts ??= import('./privateParts.js'));

interface LiveRoom {
  room: PrivateRoom;
  features: LocalFeatureRoom;
  desk: LobbyDesk;
  history: HistoryStore;
  offs: (() => void)[];
}

/** What an own send was, to write it again after the relay refused it. */
type Resend = { kind: 'payload'; content: OutgoingContent } | { kind: 'file'; file: OutgoingFileContent };

export class PrivateRooms extends TypedEmitter<PrivateRoomsEvents> {
  private readonly live = new Map<string, LiveRoom>();
  private readonly starting = new Map<string, Promise<void>>();
  /** Rooms this member was removed from: by whom (read from the saved meta, or the live event). */
  private readonly removedBy = new Map<string, string>();
  private membershipCount = 0;
  private readonly now: () => number;

  constructor(private readonly deps: PrivateRoomsDeps) {
    super();
    this.now = deps.now ?? Date.now;
  }

  isPrivate(room: string): boolean {
    const all = this.deps.state.get<Record<string, unknown>>(PRIVATE_ROOMS_STATE);
    return all !== undefined && Object.hasOwn(all, room) && all[room] === true;
  }

  private async mark(room: string, on: boolean): Promise<void> {
    const all: Record<string, boolean> = { ...(this.deps.state.get<Record<string, boolean>>(PRIVATE_ROOMS_STATE) ?? {}) };
    if (on) Object.defineProperty(all, room, { value: true, enumerable: true, writable: true, configurable: true });
    else delete all[room];
    await this.deps.state.update(PRIVATE_ROOMS_STATE, all);
  }

  /** §3.6: a new private room with this member as its only member and admin. */
  async create(name: string, relay: string): Promise<RoomEntry> {
    const identity = await this.deps.identity();
    const { newPrivateRoom } = await mlsParts();
    const created = await newPrivateRoom(identity, this.now());
    await this.deps.secrets.store(mlsSecret(created.room), encodeSaved({ state: created.group.export(), meta: created.meta }));
    await this.mark(created.room, true);
    const entry: RoomEntry = { room: created.room, name, relay, lastSeq: 0 };
    await this.deps.rooms.upsert(entry);
    this.deps.log('private room created', { room: created.room, relay });
    return entry;
  }

  /**
   * §3.4: asks to join with a private room's invite and waits until an admin's client adds this
   * member (or refuses: JoinRefusedError with the reason). `status` hears "no admin online".
   */
  async join(inviteText: string, status: (text: string) => void, timeoutMs = JOIN_TIMEOUT_MS): Promise<RoomEntry> {
    const invite = parsePrivateInvite(inviteText);
    // src/core parses smcs:// private invites now (smc chat joins them); this panel has no pin for its rooms yet.
    if (invite.tls !== undefined) throw new Error('Private rooms on TLS relays (smcs://) are not supported in VS Code yet; join with smc chat.');
    const relay = formatHostPort(invite.host, invite.port);
    const clash = this.deps.rooms.all().find((r) => r.name === invite.name && r.relay === relay && !this.isPrivate(r.room));
    if (clash !== undefined) throw new Error(`A link room named "${invite.name}" on ${relay} is already here; leave it first.`);
    const identity = await this.deps.identity();
    const { joinByInvite, JoinRefusedError } = await mlsParts();
    let outcome;
    try {
      outcome = await joinByInvite({
        invite, identity, displayName: this.deps.displayName(), agent: this.deps.agent, transport: this.deps.transport, timeoutMs, status, log: this.deps.log,
      });
    } catch (e) {
      // §3.4: used, expired, revoked, removed, or no admin before the timeout, said as such.
      if (e instanceof JoinRefusedError) throw new Error(`Not added to private room "${invite.name}": ${e.message}.`);
      throw e;
    } finally {
      invite.secret.fill(0);
    }
    const meta = freshMeta(this.now());
    meta.applied = outcome.seq;
    await this.deps.secrets.store(mlsSecret(outcome.room), encodeSaved({ state: outcome.group.export(), meta }));
    await this.mark(outcome.room, true);
    this.removedBy.delete(outcome.room);
    const entry: RoomEntry = { room: outcome.room, name: invite.name, relay, lastSeq: outcome.seq };
    await this.deps.rooms.upsert(entry);
    this.deps.log('private room joined', { room: outcome.room, relay });
    return entry;
  }

  /** Every stored private room, each on its own connection (while the session is connected). */
  async startAll(): Promise<void> {
    for (const e of this.deps.rooms.all()) if (this.isPrivate(e.room)) await this.start(e.room);
  }

  async start(room: string): Promise<void> {
    if (this.live.has(room) || this.removedBy.has(room)) return;
    let p = this.starting.get(room);
    if (p === undefined) {
      p = this.open(room).catch((e: unknown) => {
        // A damaged state or history key: said once, the other rooms go on.
        const name = this.deps.rooms.get(room)?.name ?? room;
        this.emit('error', new ClientError('room_refused', `Private room "${name}" could not be opened here: ${e instanceof Error ? e.message : String(e)}`, room));
      }).finally(() => this.starting.delete(room));
      this.starting.set(room, p);
    }
    await p;
  }

  private async open(room: string): Promise<void> {
    const entry = this.deps.rooms.get(room);
    const addr = entry === undefined ? undefined : parseHostPort(entry.relay);
    if (entry === undefined || addr === undefined) return;
    const text = await this.deps.secrets.get(mlsSecret(room));
    if (text === undefined) {
      this.emit('error', new ClientError('room_refused', `The state of private room "${entry.name}" is missing from this machine's secret storage; ask an admin for a new invite.`, room));
      return;
    }
    const identity = await this.deps.identity();
    const { LobbyDesk, LOBBY_ADMIN_NAME, MlsGroup, PrivateRoom } = await mlsParts();
    const saved = decodeSaved(text);
    const meta: PrivateMeta = saved.meta;
    if (meta.removedBy !== undefined) {
      this.removedBy.set(room, meta.removedBy.name ?? meta.removedBy.fingerprint);
      this.emit('changed', room);
      return;
    }
    const group = await MlsGroup.import(saved.state, identity);
    const history = await this.historyStore(room);
    const stored = await history.load();
    const self = identity.publicKey.toString('hex');
    const displayName = this.deps.displayName();
    const pr = new PrivateRoom({
      room, name: entry.name, host: addr.host, port: addr.port, agent: this.deps.agent, transport: this.deps.transport,
      identity, displayName, group, meta, history, log: this.deps.log,
      save: (t) => this.deps.secrets.store(mlsSecret(room), t),
    });
    // §2.3.1-2.3.6 (§3.3: the same payload as link rooms): checked, applied and assembled as
    // RelayClient does for link rooms; ChatSession's RoomFeatures hears the same events.
    const resendable = new Map<string, Resend>();
    const features = new LocalFeatureRoom(room, pr.fingerprint, pr, {
      message: (m) => this.deps.sink.deliver(m),
      effects: (e) => this.deps.sink.deliverEffects(e),
      file: (e) => this.deps.sink.deliverFile(e),
      // §3.3 "What targets a renewed message is renewed with it": the item, its feature state
      // and a Retry's content follow the new id, so that what the user does next names it.
      renamed: (from, to) => {
        this.deps.sink.renameOwn(room, from, to);
        const r = resendable.get(from);
        if (r === undefined) return;
        resendable.delete(from);
        resendable.set(to, r);
      },
    });
    this.showHistory(room, features, stored.records, self);
    // §3.3, §3.8: own messages the relay never acked go out again (the history is the outbox).
    pr.restorePending(stored.records);
    const desk = new LobbyDesk(pr, new RelayClient({
      host: addr.host, port: addr.port, agent: this.deps.agent, identity, displayName: LOBBY_ADMIN_NAME, transport: this.deps.transport, log: this.deps.log,
    }), this.deps.log);
    const live: LiveRoom = { room: pr, features, desk, history, offs: [] };
    const changed = (): void => this.emit('changed', room);
    live.offs.push(
      pr.on('message', (m) => features.receive(m)),
      pr.on('renamed', (r) => features.renamed(r.from, r.to)),
      pr.on('outgoing', (u) => {
        // Acked: nothing to write again. Refused: kept for Retry (resend), the newest MAX_RESENDABLE.
        if (u.state === 'sent') resendable.delete(u.id);
        features.outgoing(u);
        this.deps.sink.deliverOutgoing({ room, ...u });
      }),
      pr.on('member_added', (e) => void this.membership(live, 'added', e).then(changed)),
      pr.on('member_removed', (e) => void this.membership(live, 'removed', e).then(changed)),
      pr.on('removed', (e) => void this.onRemoved(live, e.by)),
      pr.on('epoch', changed),
      pr.on('synced', changed),
      pr.on('control', changed),
      pr.on('error', (e) => this.emit('error', e)),
      // §3.6 "Repair": a commit every member refused ended the epoch at the relay; said in the timeline.
      pr.on('blocked', (e) => void this.notice(live, e.seq, e.owner
        ? 'the relay took a commit this client refused; repairing the room (you are its owner)'
        : 'the relay took a commit this client refused; the room waits for its owner to be online and repair it (what you write waits too)')),
      pr.on('repaired', (e) => void this.notice(live, e.seq, 'the room is repaired: the refused commit is undone')),
    );
    this.live.set(room, live);
    this.deps.sink.setBackend(room, this.backend(room, pr, features, resendable));
    pr.connect();
    desk.start();
    this.emit('changed', room);
  }

  /** How ChatSession sends in this room: through the features' checks, every §2.3 type. */
  private backend(room: string, pr: PrivateRoom, features: LocalFeatureRoom, resendable: Map<string, Resend>): RoomBackend {
    const outgoing = (message: ChatMessage): OutgoingMessage => ({ room, id: message.id, state: 'sending', message });
    const keep = (id: string, r: Resend): void => {
      resendable.set(id, r);
      for (const old of resendable.keys()) {
        if (resendable.size <= MAX_RESENDABLE) break;
        resendable.delete(old);
      }
    };
    const payload = (content: OutgoingContent): OutgoingMessage => {
      const out = outgoing(features.sendPayload(content));
      // Effects (reactions, edits, deletes) are no items: a refused one is not offered again.
      if (content.type === 'text' || content.type === 'snippet' || content.type === 'patch') keep(out.id, { kind: 'payload', content });
      return out;
    };
    const file = (f: OutgoingFileContent): OutgoingFile => {
      const sent = features.sendFile(f);
      keep(sent.message.id, { kind: 'file', file: f });
      return { ...outgoing(sent.message), chunks: sent.chunks, done: sent.done };
    };
    return {
      sendText: (text) => payload({ type: 'text', text }),
      sendSnippet: (snippet, caption) => payload({ type: 'snippet', snippet, ...(caption !== undefined && caption !== '' ? { text: caption } : {}) }),
      sendPayload: payload,
      sendFile: file,
      resend: (id) => {
        const r = resendable.get(id);
        if (r === undefined) return undefined;
        resendable.delete(id);
        return r.kind === 'file' ? file(r.file) : payload(r.content);
      },
      members: () => pr.members().filter((m) => !m.self && m.name !== undefined).map((m) => ({ name: m.name!, fingerprint: m.fingerprint })),
      memberCount: () => pr.members().length,
    };
  }

  /**
   * §3.8: what this member kept of the room, replayed through the features as it arrived (a
   * reaction, an edit or a delete applies again to its target, a file's chunks assemble again),
   * and the membership events this client wrote itself.
   */
  private showHistory(room: string, features: LocalFeatureRoom, records: HistoryRecord[], selfHex: string): void {
    for (const r of records) {
      const item = historyItem(room, r, selfHex);
      if (item === undefined) continue;
      if (item.kind === 'membership') this.deps.sink.showItem(room, item);
      else features.receive(item.message);
    }
  }

  private async historyStore(room: string): Promise<HistoryStore> {
    let key = await this.deps.secrets.get(historySecret(room));
    if (key === undefined) {
      key = encodeB64u(secureRandom(HISTORY_KEY_BYTES));
      await this.deps.secrets.store(historySecret(room), key);
    }
    return new HistoryStore(room, decodeB64u(key), this.deps.historyLog(room));
  }

  /** A membership event in the timeline, kept in the history so that it is there after a restart. */
  private async membership(live: LiveRoom, what: 'added' | 'removed' | 'removed_you', e: MembershipEvent | { by: MembershipEvent['by'] }): Promise<void> {
    const room = live.room.room;
    const seq = live.room.applied + 1;
    const by = e.by.name ?? e.by.fingerprint;
    const subject = 'fingerprint' in e ? (e.name ?? e.fingerprint) : undefined;
    const text = membershipText(what, by, subject);
    const id = `${MEMBERSHIP_ID_PREFIX}${seq}-${this.membershipCount++}`;
    const ts = this.now();
    const item = membershipItem(room, id, seq, ts, text, e.by.fingerprint);
    this.deps.sink.showItem(room, item);
    const identity = await this.deps.identity();
    await live.history.append({
      seq, ts, id, epoch: live.room.epoch, sender: identity.publicKey.toString('hex'),
      p: JSON.stringify({ type: MEMBERSHIP_TYPE, text, by: e.by.fingerprint }),
    }).catch((err: unknown) => this.deps.log('history append failed', { error: err instanceof Error ? err.message : String(err) }));
  }

  /** A line of the room's own in the timeline (kind membership: made by the host, not kept). */
  private notice(live: LiveRoom, seq: number, text: string): void {
    const id = `${MEMBERSHIP_ID_PREFIX}${seq}-n${this.membershipCount++}`;
    this.deps.sink.showItem(live.room.room, membershipItem(live.room.room, id, seq, this.now(), text, live.room.fingerprint));
  }

  private async onRemoved(live: LiveRoom, by: MembershipEvent['by']): Promise<void> {
    const room = live.room.room;
    await this.membership(live, 'removed_you', { by });
    this.removedBy.set(room, by.name ?? by.fingerprint);
    this.emit('changed', room);
    // The room is over for this member: its connections end (the state with removedBy is saved).
    await this.stop(room);
  }

  async stop(room: string): Promise<void> {
    await this.starting.get(room);
    const live = this.live.get(room);
    if (live === undefined) return;
    this.live.delete(room);
    for (const off of live.offs) off();
    this.deps.sink.setBackend(room, undefined);
    await live.desk.stop();
    await live.room.disconnect();
    // §3.8 "Deletes and edits at rest": a purge still due (they are batched) is done now.
    await live.history.flush().catch(() => undefined);
  }

  async stopAll(): Promise<void> {
    for (const room of [...this.live.keys()]) await this.stop(room);
  }

  /**
   * §3.5, §3.8: leaves the room (a member still in it asks to be removed first) and forgets it
   * here: its state, its history and the history's key. The room list entry is the caller's.
   */
  async forget(room: string): Promise<void> {
    const live = this.live.get(room);
    if (live !== undefined && !live.room.removed) {
      try {
        await live.room.leave();
        await Promise.race([live.room.drain(), new Promise((r) => setTimeout(r, 5_000))]);
      } catch (e) {
        this.deps.log('leave failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
    await this.stop(room);
    await this.deps.secrets.delete(mlsSecret(room));
    await this.deps.secrets.delete(historySecret(room));
    await this.deps.historyLog(room).remove();
    await this.mark(room, false);
    this.removedBy.delete(room);
  }

  /** The panel's view of a room (link rooms say only that). */
  view(room: string): RoomKindView {
    if (!this.isPrivate(room)) return { room, kind: 'link' };
    const removedBy = this.removedBy.get(room);
    if (removedBy !== undefined) return { room, kind: 'private', admin: false, members: [], removedBy };
    const live = this.live.get(room);
    if (live === undefined) return { room, kind: 'private', admin: false, members: [] };
    const members: PrivateMemberView[] = live.room.members().map((m) => ({
      ...(m.name !== undefined ? { name: m.name } : {}),
      fingerprint: m.fingerprint, shortFingerprint: shortOfFingerprint(m.fingerprint), role: m.admin ? 'admin' : 'member', self: m.self,
    }));
    return { room, kind: 'private', admin: live.room.isAdmin, members };
  }

  /** §3.4 step 1: a single-use invite, valid 24 h by default (admins; the core checks again). */
  async invite(room: string, options: { uses?: number; expiresMs?: number } = {}): Promise<{ link: string; expires: number }> {
    const live = this.requireAdmin(room, 'invite');
    const expires = new Promise<number>((resolve) => live.room.once('invite', (e) => resolve(e.expires)));
    const link = await live.room.invite(options);
    return { link, expires: await expires };
  }

  /** The member a panel request names, by full fingerprint (the webview's word is checked here). */
  member(room: string, fp: string): { name?: string; fingerprint: string; identityKey: string; admin: boolean; self: boolean } {
    const live = this.live.get(room);
    const m = live?.room.members().find((x) => x.fingerprint === fp);
    if (m === undefined) throw new Error('No such member in this room.');
    return m;
  }

  remove(room: string, fp: string): void {
    const live = this.requireAdmin(room, 'remove');
    const m = this.member(room, fp);
    if (m.self) throw new Error('To leave the room, use Leave.');
    live.room.remove(m.identityKey);
  }

  promote(room: string, fp: string): void {
    const live = this.requireAdmin(room, 'promote');
    const m = this.member(room, fp);
    if (m.admin) throw new Error(`${m.name ?? m.fingerprint} is already an admin.`);
    live.room.promote(m.identityKey);
  }

  private requireAdmin(room: string, what: string): LiveRoom {
    const live = this.live.get(room);
    if (live === undefined || live.room.removed) throw new Error('This private room is not open here; connect first.');
    if (!live.room.isAdmin) throw new Error(`Only an admin of this room can ${what}.`);
    return live;
  }

  /** For tests and the status: the room's live object (undefined when not open). */
  liveRoom(room: string): PrivateRoom | undefined {
    return this.live.get(room)?.room;
  }
}

/** A membership event as a timeline item (kind `membership`: never made from a message's content). */
export function membershipItem(room: string, id: string, seq: number, ts: number, text: string, byFingerprint: string): ChatItem {
  void room;
  return {
    key: id, kind: 'membership', seq, ts, name: '', fingerprint: byFingerprint, shortFingerprint: shortOfFingerprint(byFingerprint),
    type: MEMBERSHIP_TYPE, text, own: false, state: 'received', keyChanged: false,
  };
}

/**
 * One history record as the timeline gets it (§3.8): a message of any §2.3 type as it arrived
 * (messageOfRecord; the features apply it), a membership event this client wrote itself (its own
 * identity, an id of its own prefix), or nothing.
 */
export function historyItem(room: string, r: HistoryRecord, selfHex: string):
  { kind: 'message'; message: ChatMessage } | ChatItem & { kind: 'membership' } | undefined {
  let p: Record<string, unknown>;
  try {
    const v = JSON.parse(r.p) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    p = v as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (p.type === MEMBERSHIP_TYPE) {
    // Only this client's own records: another member's message of that type is not an event.
    if (r.sender !== selfHex || !r.id.startsWith(MEMBERSHIP_ID_PREFIX) || typeof p.text !== 'string' || typeof p.by !== 'string') return undefined;
    if (!isFingerprintForm(p.by)) return undefined;
    return { ...membershipItem(room, r.id, r.seq, r.ts, p.text.slice(0, 200), p.by), kind: 'membership' };
  }
  const message = messageOfRecord(room, r, selfHex);
  return message === undefined ? undefined : { kind: 'message', message };
}
