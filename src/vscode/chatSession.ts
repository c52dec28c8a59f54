// The extension's chat state: one RelayClient (the relay of the current room), the rooms the
// user has, each room's timeline, presence, unread counts. The commands, the status bar and
// the chat panel are thin views over this. No vscode import: every dependency is passed in
// (activate() wires the real ones), so this runs in plain Node tests with a fake client.
//
// Keys (docs/protocol.md §2.1): the room keys and the identity live only in the KeyStore
// (SecretStorage); RoomList keeps the non-secret room list (name, relay, last read seq).
// Nothing here logs or emits a key.
import { TypedEmitter } from '../core/client/emitter';
import { ClientError } from '../core/client/types';
import { shortOfFingerprint } from '../core/crypto/identity';
import { formatHostPort, parseHostPort } from '../core/hostPort';
import { displayNameProblem, namesLookAlike } from '../core/keys/displayName';
import type {
  ChatMessage, ConnectionState, EffectEvent, FileEvent, Identity, JoinOptions, KnownKeysLike, OutgoingMessage,
  OutgoingUpdate, PresenceUpdate, RelayClientEvents, RoomHandle, Snippet,
} from '../core/client/types';
import { WEBVIEW_LIMITS, type ChatItem, type MentionCandidate, type PanelSnapshot, type PresenceView, type RoomView, type SearchHit } from '../shared/messages';
import { CONTENT_TYPES, MAX_MENTIONS, makeQuote, resolveMentions, type PatchShare } from '../core/payload';
import type { OutgoingContent, OutgoingFile, OutgoingFileContent } from '../core/client/types';
import { nameKey } from '../core/keys/displayName';
import { itemFromMessage, Timeline } from './timeline';
import { RoomFeatures, type FeatureChanges } from './roomFeatures';
import { searchItems } from './search';
import type { RoomBackend } from './privateSession';

/** The parts of RelayClient the session uses (src/core/client/relayClient.ts). */
export interface ClientLike {
  readonly state: ConnectionState;
  on<K extends keyof RelayClientEvents>(event: K, listener: (...args: RelayClientEvents[K]) => void): () => void;
  connect(): void;
  disconnect(): Promise<void>;
  join(opts: JoinOptions): RoomHandle;
  leave(room: string): Promise<void>;
  sendText(room: string, text: string): OutgoingMessage;
  sendSnippet(room: string, snippet: Snippet, caption?: string): OutgoingMessage;
  retry(room: string, id: string): void;
  setTyping(room: string): void;
  loadOlder(room: string): Promise<{ more: boolean }>;
  setDisplayName(name: string): void;
  /** §2.3.1-2.3.6: a message of any chat type (reply, mentions, reaction, edit, delete, patch). */
  sendPayload(room: string, content: OutgoingContent): OutgoingMessage;
  /** §2.3.5: the file message (returned) and its chunks, paced. */
  sendFile(room: string, file: OutgoingFileContent): OutgoingFile;
}

export interface ClientParams {
  host: string;
  port: number;
  identity: Identity;
  displayName: string;
  knownKeys: KnownKeysLike;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /**
   * The relay speaks TLS and its certificate must have this SHA-256 fingerprint (64 lowercase
   * hex digits, from an smcs:// invite or smc.relay.tlsFingerprint; docs/protocol.md §1.8).
   */
  tlsFingerprint?: string;
}

/** The Shared APIs' KeyStore / RoomList shapes (src/core/keys). */
export interface KeyStoreLike {
  identity(): Promise<Identity>;
  roomKey(room: string): Promise<Buffer | undefined>;
  setRoomKey(room: string, key: Uint8Array): Promise<void>;
  deleteRoomKey(room: string): Promise<void>;
}
export interface RoomEntry { room: string; name: string; relay: string; lastSeq: number }
export interface RoomListLike {
  all(): RoomEntry[];
  get(room: string): RoomEntry | undefined;
  upsert(e: RoomEntry): Promise<void>;
  remove(room: string): Promise<void>;
  setLastSeq(room: string, seq: number): Promise<void>;
}
export interface MementoLike {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Promise<void>;
}

export interface SessionSettings {
  relayHost: string;
  relayPort: number;
  displayName: string;
  /** smc.relay.tlsFingerprint, normalized (64 lowercase hex), when the team relay speaks TLS. */
  relayTlsFingerprint?: string;
}

/** The known keys of §2.4 with the user's verifications (src/core/keys/knownKeys.ts). */
export interface SessionKnownKeys extends KnownKeysLike {
  check(room: string, name: string, fingerprint: string): 'new' | 'same' | 'changed';
  verify(room: string, name: string, fingerprint: string): Promise<void>;
  isVerified(room: string, name: string, fingerprint: string): boolean;
}

export interface SessionDeps {
  keys: KeyStoreLike;
  rooms: RoomListLike;
  knownKeys: SessionKnownKeys;
  /** Where the current room id is remembered (globalState). */
  state: MementoLike;
  settings: () => SessionSettings;
  createClient: (p: ClientParams) => ClientLike;
  /** Fingerprint helpers (src/core/crypto), injected to keep this file light at activation. */
  fingerprint: (publicKey: Uint8Array) => string;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** The clients' un-acked messages (globalState, src/core/keys/outboxState.ts): forgotten with their room. */
  outbox?: { forget(room: string): Promise<void> };
  /** Private rooms (src/vscode/privateSession.ts) live on their own connections, not this client's. */
  isPrivateRoom?: (room: string) => boolean;
}

export interface SessionEvents {
  /** Connection state of the session's client and the relay it talks to. */
  connection: [state: ConnectionState, relay: string];
  /** The current room changed (or its entry did). */
  room: [room: RoomEntry | undefined];
  /** An item to show at the live end of a timeline, or a changed one (`update`: never a new one). */
  item: [room: string, item: ChatItem, update?: boolean];
  /** Items went into the middle of a timeline: views should redraw it from a snapshot. */
  resync: [room: string];
  presence: [room: string, presence: PresenceView];
  /** keyChanged: §2.4, as the client core reports it or the own name's look-alike rule finds it. */
  typing: [room: string, name: string, shortFingerprint: string, keyChanged: boolean];
  /** A live message from someone else (for notifications). */
  incoming: [room: string, item: ChatItem];
  unread: [count: number];
  error: [error: ClientError];
}

const CURRENT_ROOM_KEY = 'smc.currentRoom';
/** Room ids whose notifications are muted (not secret). */
export const MUTED_ROOMS_KEY = 'smc.mutedRooms';
/**
 * Room id -> the pinned certificate fingerprint of its relay, for rooms on TLS relays (§1.8).
 * Not a secret (a certificate's fingerprint is public); kept beside the room list.
 */
export const TLS_PINS_KEY = 'smc.tlsPins';

export class ChatSession extends TypedEmitter<SessionEvents> {
  private client: ClientLike | undefined;
  private clientRelay = '';
  /** The pin the client's connection checks, undefined for plain TCP. */
  private clientPin: string | undefined;
  private unsubscribe: (() => void)[] = [];
  private readonly timelines = new Map<string, Timeline>();
  /** Per room: edits, deletes, reactions, files (docs/protocol.md §2.3.1-2.3.6). */
  private readonly featuresByRoom = new Map<string, RoomFeatures>();
  private readonly presenceByRoom = new Map<string, PresenceView>();
  /** The last presence of each room as the client reported it, to redraw after a verification. */
  private readonly lastPresence = new Map<string, PresenceUpdate>();
  private readonly dirty = new Set<string>();
  private loadingOlder = new Set<string>();
  private ownFingerprint: string | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly deps: SessionDeps) {
    super();
  }

  // ---- state for views --------------------------------------------------------------

  get connectionState(): ConnectionState {
    return this.client?.state ?? 'offline';
  }

  /** The relay the session talks to, or would connect to now. */
  get relay(): string {
    return this.client && this.client.state !== 'offline' ? this.clientRelay : this.targetRelay();
  }

  get currentRoom(): RoomEntry | undefined {
    const id = this.deps.state.get<string>(CURRENT_ROOM_KEY);
    const fromState = id ? this.deps.rooms.get(id) : undefined;
    return fromState ?? this.deps.rooms.all()[0];
  }

  get rooms(): RoomEntry[] {
    return this.deps.rooms.all();
  }

  /** The own fingerprint once the identity has been loaded (it is not read at activation). */
  get knownOwnFingerprint(): string | undefined {
    return this.ownFingerprint;
  }

  async ownIdentityFingerprint(): Promise<string> {
    const id = await this.deps.keys.identity();
    this.ownFingerprint = this.deps.fingerprint(id.publicKey);
    return this.ownFingerprint;
  }

  onlineCount(room?: string): number {
    const r = room ?? this.currentRoom?.room;
    return r ? (this.presenceByRoom.get(r)?.online ?? 0) : 0;
  }

  /** A private room's member count (it has no presence, §3), undefined for a link room or one not open here. */
  privateMemberCount(room?: string): number | undefined {
    const r = room ?? this.currentRoom?.room;
    return r === undefined ? undefined : this.privateBackend(r)?.memberCount();
  }

  unreadCount(): number {
    let n = 0;
    for (const e of this.deps.rooms.all()) n += this.timelines.get(e.room)?.countUnreadAfter(e.lastSeq) ?? 0;
    return n;
  }

  /** The unread count of each room that has unread messages, by room name. */
  unreadByRoom(): { name: string; count: number }[] {
    const out: { name: string; count: number }[] = [];
    for (const e of this.deps.rooms.all()) {
      const count = this.timelines.get(e.room)?.countUnreadAfter(e.lastSeq) ?? 0;
      if (count > 0) out.push({ name: e.name, count });
    }
    return out;
  }

  timeline(room: string): Timeline {
    let t = this.timelines.get(room);
    if (!t) {
      t = new Timeline();
      this.timelines.set(room, t);
    }
    return t;
  }

  /** The chat features of a room (effects, files, names). */
  features(room: string): RoomFeatures {
    let f = this.featuresByRoom.get(room);
    if (!f) {
      f = new RoomFeatures(() => this.ownFingerprint);
      this.featuresByRoom.set(room, f);
    }
    return f;
  }

  snapshot(selfName: string): PanelSnapshot {
    const entry = this.currentRoom;
    const base: PanelSnapshot = {
      connection: this.connectionState,
      relay: this.relay,
      items: [],
      hasOlder: false,
      presence: { online: 0, members: [] },
      lastReadSeq: 0,
      selfName,
    };
    if (this.ownFingerprint) base.selfShortFingerprint = shortOfFingerprint(this.ownFingerprint);
    if (!entry) return base;
    this.dirty.delete(entry.room);
    const tl = this.timeline(entry.room);
    // A screenful and some: the panel paints fast even on a 10 000-message room, and pages
    // the rest in as the user scrolls up.
    const items = tl.tail(WEBVIEW_LIMITS.snapshotSize);
    const first = items[0];
    const room: RoomView = { room: entry.room, name: entry.name, relay: entry.relay };
    return {
      ...base,
      room,
      items,
      hasOlder: first ? tl.countOlderThan(first.key) > 0 || tl.relayHasOlder : tl.relayHasOlder,
      presence: this.presenceByRoom.get(entry.room) ?? base.presence,
      lastReadSeq: entry.lastSeq,
      ...(this.isMuted(entry.room) ? { muted: true } : {}),
    };
  }

  /** Notifications of a room are muted (docs/extension.md "Notifications"). */
  isMuted(room: string): boolean {
    return (this.deps.state.get<string[]>(MUTED_ROOMS_KEY) ?? []).includes(room);
  }

  async setMuted(room: string, muted: boolean): Promise<void> {
    const rooms = new Set(this.deps.state.get<string[]>(MUTED_ROOMS_KEY) ?? []);
    if (muted) rooms.add(room);
    else rooms.delete(room);
    await this.deps.state.update(MUTED_ROOMS_KEY, [...rooms]);
  }

  // ---- connection -------------------------------------------------------------------

  /** The relay of the current room, else the configured one. */
  targetRelay(): string {
    const s = this.deps.settings();
    return this.currentRoom?.relay ?? formatHostPort(s.relayHost, s.relayPort);
  }

  /** The pinned TLS certificate of a room's relay, if that relay speaks TLS (§1.8). */
  tlsPin(room: string): string | undefined {
    const pins = this.deps.state.get<Record<string, string>>(TLS_PINS_KEY);
    return pins !== undefined && Object.hasOwn(pins, room) ? pins[room] : undefined;
  }

  /** The pin of the target relay: the current room's, else the configured one. */
  targetTls(): string | undefined {
    const room = this.currentRoom;
    return room ? this.tlsPin(room.room) : this.deps.settings().relayTlsFingerprint;
  }

  /** Whether the client talks to this relay with this pin (a TLS and a plain relay are never the same). */
  private clientIs(relay: string, pin: string | undefined): boolean {
    return this.client !== undefined && this.clientRelay === relay && this.clientPin === pin;
  }

  /** Connects (or switches) to the target relay and joins every room on it. */
  connect(): Promise<void> {
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const target = this.targetRelay();
    const pin = this.targetTls();
    if (this.client && this.clientIs(target, pin)) {
      if (this.client.state === 'offline') {
        await this.joinRoomsOn(target);
        this.client.connect();
      }
      return;
    }
    await this.dropClient();
    const addr = parseHostPort(target);
    if (!addr) throw new Error(`"${target}" is not a relay address (HOST:PORT). Check the setting smc.relay.host.`);
    const identity = await this.deps.keys.identity();
    this.ownFingerprint = this.deps.fingerprint(identity.publicKey);
    const settings = this.deps.settings();
    // The name goes into every presence tag and message: refuse it before connecting (§2.3).
    const problem = displayNameProblem(settings.displayName);
    if (problem !== undefined) throw new Error(`${problem} Change the setting smc.displayName.`);
    const client = this.deps.createClient({
      host: addr.host, port: addr.port, identity, displayName: settings.displayName,
      knownKeys: this.deps.knownKeys, log: this.deps.log, ...(pin !== undefined ? { tlsFingerprint: pin } : {}),
    });
    this.client = client;
    this.clientRelay = target;
    this.clientPin = pin;
    this.wire(client);
    await this.joinRoomsOn(target);
    client.connect();
  }

  async disconnect(): Promise<void> {
    const c = this.client;
    if (!c) return;
    await c.disconnect();
    this.emit('connection', 'offline', this.clientRelay);
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    if (!c) return;
    for (const off of this.unsubscribe.splice(0)) off();
    this.client = undefined;
    this.presenceByRoom.clear();
    this.lastPresence.clear();
    await c.disconnect();
  }

  private async joinRoomsOn(relay: string): Promise<void> {
    const c = this.client;
    if (!c) return;
    for (const e of this.deps.rooms.all()) {
      // A room whose invite pins another certificate (or none) is not on this connection.
      if (e.relay !== relay || this.tlsPin(e.room) !== this.clientPin) continue;
      if (this.deps.isPrivateRoom?.(e.room) === true) continue;
      const key = await this.deps.keys.roomKey(e.room);
      if (!key) {
        this.deps.log('room key missing', { room: e.room });
        continue;
      }
      // A fresh join loads the newest messages; lastSeq is the user's read marker here.
      c.join({ key, name: e.name });
    }
  }

  private wire(c: ClientLike): void {
    const on = <K extends keyof RelayClientEvents>(e: K, l: (...a: RelayClientEvents[K]) => void): void => {
      this.unsubscribe.push(c.on(e, l));
    };
    on('state', (state) => {
      if (state === 'offline') {
        this.presenceByRoom.clear();
        this.lastPresence.clear();
      }
      this.emit('connection', state, this.clientRelay);
    });
    on('message', (m) => this.onMessage(m));
    on('effects', (e) => this.applyFeatureChanges(e.room, this.features(e.room).onEffect(e)));
    on('file', (f) => this.applyFeatureChanges(f.room, this.features(f.room).onFile(f)));
    on('unverifiable', (m) => {
      const result = this.timeline(m.room).addUnverifiable(m, Date.now());
      const item = this.timeline(m.room).get(m.id);
      if (item) this.publish(m.room, item, result);
    });
    on('outgoing', (u) => {
      // The fail timer fires while the relay is unreachable: nothing is wrong with the message,
      // the client sends it again once connected (§1.5). Only a failure while connected (the
      // relay refused it, or did not ack) asks the user to act.
      const item = this.timeline(u.room).applyOutgoing(u, u.state === 'failed' && c.state !== 'connected');
      if (item) this.emit('item', u.room, item);
    });
    // Queued before the extension host stopped, never acked: in the timeline again, sending (§1.5).
    on('restored', (o) => void this.addOwn(o.room, o));
    on('presence', (p) => this.onPresence(p));
    on('typing', (t) => this.emit('typing', t.room, t.name, shortOfFingerprint(t.fingerprint), t.keyChanged || this.identityFlags(t.room, t.name, t.fingerprint).keyChanged));
    on('synced', (s) => {
      const tl = this.timeline(s.room);
      // The history found at the first join is not news: only what arrives later is unread.
      const entry = this.deps.rooms.get(s.room);
      if (entry && entry.lastSeq === 0 && s.lastSeq > 0) {
        this.deps.rooms.setLastSeq(s.room, s.lastSeq).catch(() => undefined);
        this.dirty.add(s.room);
      }
      // A panel that opened before the sync does not know yet that older history exists.
      if (tl.relayHasOlder !== s.more) this.dirty.add(s.room);
      tl.relayHasOlder = s.more;
      if (this.dirty.has(s.room)) {
        this.dirty.delete(s.room);
        this.emit('resync', s.room);
      }
      this.emit('unread', this.unreadCount());
    });
    on('error', (e) => this.emit('error', e));
  }

  private onMessage(m: ChatMessage): void {
    const features = this.features(m.room);
    const changes = features.onMessage(m);
    const tl = this.timeline(m.room);
    let item = itemFromMessage(m, m.own ? 'sent' : 'received');
    if (!m.own && !m.keyChanged && this.deps.knownKeys.isVerified(m.room, m.name, m.fingerprint)) item.identityVerified = true;
    if (CONTENT_TYPES.includes(m.type)) item = features.decorate(item, (k) => tl.get(k));
    const result = tl.add(item);
    const stored = tl.get(m.id) ?? item;
    this.publish(m.room, stored, result);
    this.applyFeatureChanges(m.room, changes, m.id);
    if (!m.own && !m.history && result === 'appended') {
      this.emit('incoming', m.room, stored);
      this.emit('unread', this.unreadCount());
    }
  }

  /** Redraws the items an effect, a chunk or an original changed; purges deleted ones (§2.3 "Order"). */
  private applyFeatureChanges(room: string, changes: FeatureChanges, except?: string): void {
    const tl = this.timeline(room);
    const features = this.features(room);
    const keys = new Set([...changes.deleted, ...changes.changed]);
    for (const key of keys) {
      if (key === except) continue;
      const item = tl.get(key);
      if (!item || item.kind !== 'message') continue;
      const next = features.decorate(item, (k) => tl.get(k));
      tl.replace(next);
      this.emit('item', room, tl.get(key) ?? next, true);
    }
  }

  private publish(room: string, item: ChatItem, result: string): void {
    if (result === 'appended' || result === 'updated') this.emit('item', room, item);
    else if (result === 'inserted' && !this.loadingOlder.has(room)) this.dirty.add(room);
  }

  private onPresence(p: PresenceUpdate): void {
    this.lastPresence.set(p.room, p);
    const view: PresenceView = {
      online: p.online,
      members: p.members.map((m) => {
        const v: PresenceView['members'][number] = { sid: m.sid, verified: m.verified };
        if (m.self) v.self = true;
        if (m.name !== undefined) v.name = m.name;
        if (m.fingerprint !== undefined) {
          v.fingerprint = m.fingerprint;
          v.shortFingerprint = shortOfFingerprint(m.fingerprint);
        }
        if (!m.self && m.verified && m.name !== undefined && m.fingerprint !== undefined) {
          const flags = this.identityFlags(p.room, m.name, m.fingerprint);
          // The core's flag (§2.4, its own TOFU record) or the session's (own name, look-alikes).
          if (flags.keyChanged || m.keyChanged) v.keyChanged = true;
          if (flags.identityVerified) v.identityVerified = true;
        }
        return v;
      }),
    };
    this.presenceByRoom.set(p.room, view);
    this.emit('presence', p.room, view);
  }

  /**
   * §2.4 as the user sees a sender now: another key under the own display name (or a look-alike
   * of it) is always a key change; else the known key of the name decides; verified when the user
   * verified this key for this name.
   */
  private identityFlags(room: string, name: string, fingerprint: string): { keyChanged: boolean; identityVerified: boolean } {
    if (fingerprint === this.ownFingerprint) return { keyChanged: false, identityVerified: false };
    if (namesLookAlike(name, this.deps.settings().displayName)) return { keyChanged: true, identityVerified: false };
    const known = this.deps.knownKeys.check(room, name, fingerprint);
    const identityVerified = known === 'same' && this.deps.knownKeys.isVerified(room, name, fingerprint);
    return { keyChanged: known === 'changed', identityVerified };
  }

  // ---- rooms ------------------------------------------------------------------------

  /** Adds a room (created or joined) with its key, makes it current and joins it. */
  async addRoom(key: Uint8Array, roomId: string, name: string, relay: string, tlsFingerprint?: string): Promise<RoomEntry> {
    await this.deps.keys.setRoomKey(roomId, key);
    await this.setTlsPin(roomId, tlsFingerprint);
    const existing = this.deps.rooms.get(roomId);
    const entry: RoomEntry = { room: roomId, name, relay, lastSeq: existing?.lastSeq ?? 0 };
    await this.deps.rooms.upsert(entry);
    await this.setCurrent(roomId);
    return entry;
  }

  /** Records (or, for a plain relay, forgets) the pin of a room's relay. */
  private async setTlsPin(room: string, pin: string | undefined): Promise<void> {
    const pins = { ...(this.deps.state.get<Record<string, string>>(TLS_PINS_KEY) ?? {}) };
    if (pin === undefined) {
      if (!Object.hasOwn(pins, room)) return;
      delete pins[room];
    } else {
      pins[room] = pin;
    }
    await this.deps.state.update(TLS_PINS_KEY, pins);
  }

  async setCurrent(room: string): Promise<void> {
    await this.deps.state.update(CURRENT_ROOM_KEY, room);
    const entry = this.deps.rooms.get(room);
    this.emit('room', entry);
    if (!entry || !this.client) return;
    if (this.clientIs(entry.relay, this.tlsPin(room))) {
      const key = await this.deps.keys.roomKey(room);
      if (key) this.client.join({ key, name: entry.name });
    } else if (this.client.state !== 'offline') {
      await this.connect();
    }
  }

  async leaveRoom(room: string): Promise<void> {
    await this.client?.leave(room);
    await this.deps.rooms.remove(room);
    await this.deps.keys.deleteRoomKey(room);
    await this.deps.outbox?.forget(room);
    await this.setTlsPin(room, undefined);
    this.timelines.delete(room);
    this.featuresByRoom.delete(room);
    this.presenceByRoom.delete(room);
    this.lastPresence.delete(room);
    if (this.deps.state.get<string>(CURRENT_ROOM_KEY) === room) await this.deps.state.update(CURRENT_ROOM_KEY, undefined);
    this.emit('room', this.currentRoom);
  }

  roomKey(room: string): Promise<Buffer | undefined> {
    return this.deps.keys.roomKey(room);
  }

  // ---- messages ---------------------------------------------------------------------

  private requireRoom(): RoomEntry {
    const r = this.currentRoom;
    if (!r) throw new Error('No room yet: run "SMC: Create Room" or "SMC: Join Room" first.');
    return r;
  }

  /** Queues a text message in the current room; it is sent once connected. */
  async sendText(text: string): Promise<ChatItem> {
    const room = this.requireRoom();
    if (this.isPrivate(room.room)) return this.addOwn(room.room, this.backendOf(room.room).sendText(text));
    await this.ensureClient();
    const out = this.requireClient().sendText(room.room, text);
    return this.addOwn(room.room, out);
  }

  async sendSnippet(snippet: Snippet, caption?: string): Promise<ChatItem> {
    const room = this.requireRoom();
    if (this.isPrivate(room.room)) return this.addOwn(room.room, this.backendOf(room.room).sendSnippet(snippet, caption));
    await this.ensureClient();
    const out = this.requireClient().sendSnippet(room.room, snippet, caption);
    return this.addOwn(room.room, out);
  }

  private addOwn(room: string, out: OutgoingMessage): ChatItem {
    const m = out.message;
    const features = this.features(room);
    const changes = features.onMessage(m);
    const tl = this.timeline(room);
    let item = itemFromMessage(out.message, out.state);
    if (CONTENT_TYPES.includes(m.type)) item = features.decorate(item, (k) => tl.get(k));
    tl.add(item);
    const stored = tl.get(item.key) ?? item;
    this.emit('item', room, stored);
    this.applyFeatureChanges(room, changes, item.key);
    return stored;
  }

  // ---- chat features (docs/protocol.md §2.3.1-2.3.6) ----------------------------------

  /** The members @names bind to (§2.3.2): keys seen in the room and online, with their names. */
  private mentionMembers(room: string): { name: string; fingerprint: string }[] {
    // A private room's members are its MLS group (§3.4), with the names they gave.
    if (this.isPrivate(room)) return this.privateBackend(room)?.members() ?? [];
    const online = (this.presenceByRoom.get(room)?.members ?? [])
      .filter((m) => m.name !== undefined && m.fingerprint !== undefined && !m.self)
      .map((m) => ({ name: m.name!, fingerprint: m.fingerprint! }));
    return this.features(room).members(online).filter((m) => m.fingerprint !== this.ownFingerprint);
  }

  /** Members whose name starts like `prefix` (compared as names look, §2.4), for @ completion. */
  mentionCandidates(prefix: string): MentionCandidate[] {
    const room = this.currentRoom;
    if (!room) return [];
    const want = nameKey(prefix);
    return this.mentionMembers(room.room)
      .filter((m) => want === '' || nameKey(m.name).startsWith(want))
      .slice(0, 20)
      .map((m) => ({ name: m.name, fingerprint: m.fingerprint, shortFingerprint: shortOfFingerprint(m.fingerprint) }));
  }

  /**
   * A text with a reply and mentions (§2.3.1, §2.3.2): the quote is made from the original as
   * this host holds it; mentions are what the text's @names bind to, plus the members picked by
   * completion (an ambiguous @name binds nobody unless picked).
   */
  async sendRich(text: string, opts: { replyTo?: string; mentions?: string[] }): Promise<ChatItem> {
    const room = this.requireRoom();
    const members = this.mentionMembers(room.room);
    const resolved = resolveMentions(text, members).mentions;
    const picked = (opts.mentions ?? []).filter((fp) => members.some((m) => m.fingerprint === fp));
    const mentions = [...new Set([...resolved, ...picked])].slice(0, MAX_MENTIONS);
    const payload: OutgoingContent = { type: 'text', text };
    if (opts.replyTo !== undefined) {
      const original = this.timeline(room.room).get(opts.replyTo);
      if (!original || original.kind !== 'message' || original.deleted) throw new Error('The message you reply to is no longer available.');
      payload.reply = { to: original.key, from: original.fingerprint, quote: makeQuote(RoomFeatures.searchableText(original)) };
    }
    if (mentions.length > 0) payload.mentions = mentions;
    if (payload.reply === undefined && payload.mentions === undefined) return this.sendText(text);
    return this.addOwn(room.room, await this.sendPayloadIn(room.room, payload));
  }

  /** A §2.3 payload in a room: its private room's backend, else the link-room client. */
  private async sendPayloadIn(room: string, content: OutgoingContent): Promise<OutgoingMessage> {
    if (this.isPrivate(room)) return this.backendOf(room).sendPayload(content);
    await this.ensureClient();
    return this.requireClient().sendPayload(room, content);
  }

  private ownContent(key: string): { room: RoomEntry; item: ChatItem } {
    const room = this.requireRoom();
    const item = this.timeline(room.room).get(key);
    if (!item || item.kind !== 'message' || !CONTENT_TYPES.includes(item.type) || item.deleted) throw new Error('This message is no longer available.');
    return { room, item };
  }

  /** Toggles the own reaction `emoji` on a message (§2.3.3: the same reaction again removes it). */
  async react(key: string, emoji: string): Promise<void> {
    const { room } = this.ownContent(key);
    // The core applies an effect at once and says so (`effects`); it is no item of its own.
    await this.sendPayloadIn(room.room, { type: 'reaction', target: key, emoji });
  }

  /** Edits an own message (§2.3.4): only the original sender's key can, so only own ones are offered. */
  async edit(key: string, text: string): Promise<void> {
    const { room, item } = this.ownContent(key);
    if (!item.own) throw new Error('Only your own messages can be edited.');
    if (item.type === 'text' && text.trim() === '') throw new Error('An edit cannot be empty; delete the message instead.');
    const mentions = resolveMentions(text, this.mentionMembers(room.room)).mentions;
    await this.sendPayloadIn(room.room, { type: 'edit', target: key, text, ...(mentions.length > 0 ? { mentions } : {}) });
  }

  /** Deletes an own message for everyone (§2.3.4); the relay keeps the ciphertext until retention (§1.6). */
  async deleteMessage(key: string): Promise<void> {
    const { room, item } = this.ownContent(key);
    if (!item.own) throw new Error('Only your own messages can be deleted.');
    await this.sendPayloadIn(room.room, { type: 'delete', target: key });
  }

  /** Sends a file (§2.3.5); its bytes stay here for the own preview and saving. */
  async sendFile(file: OutgoingFileContent): Promise<ChatItem> {
    const room = this.requireRoom();
    let out: OutgoingFile;
    if (this.isPrivate(room.room)) {
      out = this.backendOf(room.room).sendFile(file);
      this.watchUpload(room.room, out);
    } else {
      await this.ensureClient();
      out = this.requireClient().sendFile(room.room, file);
    }
    const info = out.message.file;
    if (info) this.features(room.room).ownFile(out.id, info, Buffer.from(file.bytes));
    return this.addOwn(room.room, out);
  }

  /** A private room's file whose message or a chunk the relay refused for good: its item says so. */
  private watchUpload(room: string, out: OutgoingFile): void {
    out.done.catch((err: unknown) => {
      this.applyFeatureChanges(room, this.features(room).onFile({
        room, file: out.id, state: 'failed', reason: 'evicted', error: err instanceof Error ? err.message : String(err),
      }));
    });
  }

  /** Shares a diff (§2.3.6). */
  async sendPatch(patch: PatchShare, caption?: string): Promise<ChatItem> {
    const room = this.requireRoom();
    return this.addOwn(room.room, await this.sendPayloadIn(room.room, { type: 'patch', patch, ...(caption ? { text: caption } : {}) }));
  }

  /** Search in the current room's history held here; never sent to the relay. */
  search(query: string): { hits: SearchHit[]; searched: number } {
    const room = this.currentRoom;
    if (!room) return { hits: [], searched: 0 };
    const tl = this.timeline(room.room);
    return { hits: searchItems(tl.all(), query, WEBVIEW_LIMITS.maxSearchHits), searched: tl.size };
  }

  /**
   * A window around `key` (a reply's original, a search result): from the host's copy, after
   * loading older pages from the relay while the key is not there yet (at most `maxPages`).
   */
  async loadAround(key: string, maxPages = 40): Promise<{ items: ChatItem[]; hasOlder: boolean; hasNewer: boolean; found: boolean }> {
    const room = this.currentRoom;
    if (!room) return { items: [], hasOlder: false, hasNewer: false, found: false };
    const tl = this.timeline(room.room);
    for (let page = 0; !tl.get(key) && tl.relayHasOlder && this.client?.state === 'connected' && page < maxPages; page++) {
      this.loadingOlder.add(room.room);
      try {
        const r = await this.client.loadOlder(room.room);
        tl.relayHasOlder = r.more;
      } finally {
        this.loadingOlder.delete(room.room);
      }
    }
    const around = tl.around(key, WEBVIEW_LIMITS.pageSize, WEBVIEW_LIMITS.pageSize);
    if (around) return { ...around, found: true };
    return { ...this.loadNewest(), hasNewer: false, found: false };
  }

  retry(key: string): void {
    const room = this.currentRoom;
    if (!room) return;
    if (!this.isPrivate(room.room)) {
      this.client?.retry(room.room, key);
      return;
    }
    // §3.3: a private room's refused message left its outbox; it is written again under a new id
    // (the same content), and its item follows it there. Only a failed own one (a forged request
    // for one in flight would send it twice).
    const tl = this.timeline(room.room);
    const failed = tl.get(key);
    if (failed === undefined || !failed.own || failed.state !== 'failed') throw new Error('Only a message that failed can be sent again.');
    const out = this.backendOf(room.room).resend(key);
    if (out === undefined) throw new Error('This message can no longer be sent again here; write it again.');
    this.renameOwn(room.room, key, out.id);
    // Sending again: the refusal's words go (replace, not a merge, which would keep them).
    const { error: _error, waiting: _waiting, ...rest } = tl.get(out.id) ?? failed;
    tl.replace({ ...rest, key: out.id, state: 'sending' });
    const item = tl.get(out.id);
    if (out.message.file !== undefined) {
      const bytes = this.features(room.room).fileBytes(out.id);
      if (bytes !== undefined) this.features(room.room).ownFile(out.id, out.message.file, bytes);
      if ('done' in out) this.watchUpload(room.room, out);
      this.applyFeatureChanges(room.room, { changed: [out.id], deleted: [] });
    }
    if (item) this.emit('item', room.room, item);
  }

  typing(): void {
    const room = this.currentRoom;
    if (room && this.client?.state === 'connected') this.client.setTyping(room.room);
  }

  /** A page of items older than `before` in the current room, from the relay if needed. */
  async loadOlder(before: string): Promise<{ items: ChatItem[]; hasOlder: boolean }> {
    const room = this.currentRoom;
    if (!room) return { items: [], hasOlder: false };
    const tl = this.timeline(room.room);
    const size = WEBVIEW_LIMITS.pageSize;
    let page = tl.olderThan(before, size);
    if (page.items.length < size && tl.relayHasOlder && this.client?.state === 'connected' && tl.countOlderThan(before) < size) {
      this.loadingOlder.add(room.room);
      try {
        const r = await this.client.loadOlder(room.room);
        tl.relayHasOlder = r.more;
      } finally {
        this.loadingOlder.delete(room.room);
      }
      page = tl.olderThan(before, size);
    }
    return page;
  }

  /** The newest items of the current room, as a snapshot holds them ("Jump to newest"). */
  loadNewest(): { items: ChatItem[]; hasOlder: boolean } {
    const room = this.currentRoom;
    if (!room) return { items: [], hasOlder: false };
    const tl = this.timeline(room.room);
    const items = tl.tail(WEBVIEW_LIMITS.snapshotSize);
    const first = items[0];
    return { items, hasOlder: first ? tl.countOlderThan(first.key) > 0 || tl.relayHasOlder : tl.relayHasOlder };
  }

  /** The panel's window again, fresh (a redraw while the reader is scrolled up). */
  loadRange(from: string, count: number): { items: ChatItem[]; hasOlder: boolean; hasNewer: boolean } {
    const room = this.currentRoom;
    if (!room) return { items: [], hasOlder: false, hasNewer: false };
    const range = this.timeline(room.room).range(from, Math.min(count, WEBVIEW_LIMITS.windowSize));
    return range ?? { ...this.loadNewest(), hasNewer: false };
  }

  loadNewer(after: string): { items: ChatItem[]; hasNewer: boolean } {
    const room = this.currentRoom;
    if (!room) return { items: [], hasNewer: false };
    return this.timeline(room.room).newerThan(after, WEBVIEW_LIMITS.pageSize);
  }

  /** Records what the user has read in the current room (the unread marker and count). */
  async markRead(seq: number): Promise<void> {
    const room = this.currentRoom;
    if (!room) return;
    const bounded = Math.min(seq, this.timeline(room.room).newestSeq());
    if (bounded <= room.lastSeq) return;
    await this.deps.rooms.setLastSeq(room.room, bounded);
    this.emit('unread', this.unreadCount());
  }

  /** Marks everything shown in the current room as read (the panel became visible). */
  async markAllRead(): Promise<void> {
    const room = this.currentRoom;
    if (room) await this.markRead(this.timeline(room.room).newestSeq());
  }

  /**
   * After the user compared fingerprints and chose "It Matches": this key is the verified key of
   * this name (§2.4). Messages already shown under the name (or a look-alike) are marked again:
   * this key's lose "key changed" and gain the badge, another key's are "key changed".
   */
  trustMember(name: string, fingerprint: string): void {
    const room = this.currentRoom;
    if (!room) return;
    // KnownKeys persists asynchronously; a failed write is logged, not thrown at the panel.
    this.deps.knownKeys.verify(room.room, name, fingerprint).catch((e: unknown) => {
      this.deps.log('trust failed', { error: e instanceof Error ? e.message : String(e) });
    });
    const changed = this.timeline(room.room).remark((item) => {
      if (item.kind !== 'message' || item.own || !namesLookAlike(item.name, name)) return undefined;
      return this.identityFlags(room.room, item.name, item.fingerprint);
    });
    if (changed > 0) this.emit('resync', room.room);
    const presence = this.lastPresence.get(room.room);
    if (presence) this.onPresence(presence);
  }

  /** A new display name from the settings; one the rule refuses is reported and not used. */
  setDisplayName(name: string): void {
    const problem = displayNameProblem(name);
    if (problem !== undefined) {
      this.emit('error', new ClientError('invalid_message', `${problem} Change the setting smc.displayName.`));
      return;
    }
    this.client?.setDisplayName(name);
  }

  private async ensureClient(): Promise<void> {
    if (!this.client || !this.clientIs(this.targetRelay(), this.targetTls())) await this.connect();
  }

  private requireClient(): ClientLike {
    if (!this.client) throw new Error('Not connected.');
    return this.client;
  }

  async dispose(): Promise<void> {
    await this.dropClient();
  }

  // ---- private rooms (src/vscode/privateSession.ts): their own connections, these timelines ----

  private readonly backends = new Map<string, RoomBackend>();

  setBackend(room: string, backend: RoomBackend | undefined): void {
    if (backend === undefined) this.backends.delete(room);
    else this.backends.set(room, backend);
  }

  private isPrivate(room: string): boolean {
    return this.deps.isPrivateRoom?.(room) === true;
  }

  /** The backend of a private room that is open here, else undefined. */
  private privateBackend(room: string): RoomBackend | undefined {
    return this.isPrivate(room) ? this.backends.get(room) : undefined;
  }

  private backendOf(room: string): RoomBackend {
    const b = this.backends.get(room);
    if (b === undefined) throw new Error('This private room is not connected yet: connect to its relay first (SMC: Connect to Relay).');
    return b;
  }

  /** A private room's message, shown as the client's are. */
  deliver(m: ChatMessage): void {
    this.onMessage(m);
  }

  deliverOutgoing(u: OutgoingUpdate): void {
    const item = this.timeline(u.room).applyOutgoing(u);
    if (item) this.emit('item', u.room, item);
  }

  /** A private room's reaction, edit or delete, as the client's `effects`. */
  deliverEffects(e: EffectEvent): void {
    this.applyFeatureChanges(e.room, this.features(e.room).onEffect(e));
  }

  /** A private room's file progress, as the client's `file`. */
  deliverFile(e: FileEvent): void {
    this.applyFeatureChanges(e.room, this.features(e.room).onFile(e));
  }

  /**
   * An own message that goes again under a new id (§3.3: stale in its epoch, or refused and
   * written again): its item and its feature state (view, file, replies to it) move from `from`
   * to `to`. The panel redraws the room (an item's key changed). False when `from` is not here.
   */
  renameOwn(room: string, from: string, to: string): boolean {
    const tl = this.timeline(room);
    const item = tl.get(from);
    if (item === undefined || !item.own || from === to || tl.get(to) !== undefined) return false;
    const changes = this.features(room).rekey(from, to);
    if (!tl.rekey(from, to)) return false;
    this.applyFeatureChanges(room, changes);
    this.emit('resync', room);
    return true;
  }

  /** An item the host made itself (a membership event, kind `membership`). */
  showItem(room: string, item: ChatItem): void {
    const result = this.timeline(room).add(item);
    this.publish(room, this.timeline(room).get(item.key) ?? item, result);
  }

  protected override listenerFailed(event: string, err: unknown): void {
    this.deps.log('listener failed', { event, error: err instanceof Error ? err.message : String(err) });
  }
}
