// The extension's chat state (src/vscode/chatSession.ts) over a fake RelayClient: rooms and
// keys go to the right stores, messages reach the views in order, history paging, unread
// counts, and no key ever appears in anything the session emits.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { TypedEmitter } from '../../src/core/client/emitter';
import type {
  ChatMessage, ConnectionState, JoinOptions, OutgoingContent, OutgoingFile, OutgoingFileContent, OutgoingMessage, RelayClientEvents, RoomHandle, Snippet,
} from '../../src/core/client/types';
import { deriveRoomId, encodeB64u, fingerprint, generateIdentity } from '../../src/core/crypto';
import { KeyStore, KnownKeys, MemorySecretStore, MemoryStateStore, RoomList } from '../../src/core/keys';
import { WEBVIEW_LIMITS } from '../../src/shared/messages';
import { formatHostPort as formatRelay, parseHostPort as parseRelay } from '../../src/core/hostPort';
import { ChatSession, type ClientLike, type ClientParams, type SessionSettings } from '../../src/vscode/chatSession';

class FakeClient extends TypedEmitter<RelayClientEvents> implements ClientLike {
  state: ConnectionState = 'offline';
  joined: JoinOptions[] = [];
  sent: { room: string; text?: string; snippet?: Snippet }[] = [];
  olderPages: ChatMessage[][] = [];
  constructor(readonly params: ClientParams) {
    super();
  }
  fire<K extends keyof RelayClientEvents>(e: K, ...args: RelayClientEvents[K]): void {
    this.emit(e, ...args);
  }
  connect(): void {
    this.state = 'connecting';
    this.emit('state', 'connecting');
  }
  async disconnect(): Promise<void> {
    this.state = 'offline';
    this.emit('state', 'offline');
  }
  join(opts: JoinOptions): RoomHandle {
    this.joined.push(opts);
    return { room: deriveRoomId(opts.key), name: opts.name };
  }
  async leave(): Promise<void> {}
  private out(room: string, content: Partial<ChatMessage>): OutgoingMessage {
    const id = encodeB64u(randomBytes(16));
    const message: ChatMessage = {
      room, ts: Date.now(), id, name: this.params.displayName, fingerprint: fingerprint(this.params.identity.publicKey),
      shortFingerprint: 'XXXX XXXX', type: 'text', verified: true, keyChanged: false, own: true, history: false, ...content,
    };
    return { room, id, state: 'sending', message };
  }
  sendText(room: string, text: string): OutgoingMessage {
    this.sent.push({ room, text });
    return this.out(room, { type: 'text', text });
  }
  sendSnippet(room: string, snippet: Snippet): OutgoingMessage {
    this.sent.push({ room, snippet });
    return this.out(room, { type: 'snippet', snippet });
  }
  payloads: OutgoingContent[] = [];
  sendPayload(room: string, content: OutgoingContent): OutgoingMessage {
    this.payloads.push(content);
    return this.out(room, content);
  }
  sendFile(room: string, file: OutgoingFileContent): OutgoingFile {
    return { ...this.out(room, { type: 'file', text: file.text }), chunks: 0, done: Promise.resolve() };
  }
  retry(): void {}
  setTyping(): void {}
  async loadOlder(room: string): Promise<{ more: boolean }> {
    const page = this.olderPages.shift() ?? [];
    for (const m of page) this.emit('message', { ...m, room, history: true });
    return { more: this.olderPages.length > 0 };
  }
  renamedTo: string[] = [];
  setDisplayName(name: string): void {
    this.renamedTo.push(name);
  }
}

const FP_B = 'BBBB BBBB BBBB BBBB BBBB BBBB BBBB BBBB';
function incoming(room: string, seq: number, over: Partial<ChatMessage> = {}): ChatMessage {
  return {
    room, seq, ts: 1_000 + seq, id: `m${seq}`.padEnd(22, 'x'), name: 'bob', fingerprint: FP_B, shortFingerprint: 'BBBB BBBB',
    type: 'text', text: `hello ${seq}`, verified: true, keyChanged: false, own: false, history: false, ...over,
  };
}

function setup(settings: SessionSettings = { relayHost: '127.0.0.1', relayPort: 7878, displayName: 'alice' }) {
  const secrets = new MemorySecretStore();
  const state = new MemoryStateStore();
  const clients: FakeClient[] = [];
  const logged: string[] = [];
  const knownKeys = new KnownKeys(state);
  const session = new ChatSession({
    keys: new KeyStore(secrets),
    rooms: new RoomList(state),
    knownKeys,
    state,
    settings: () => settings,
    createClient: (p) => {
      const c = new FakeClient(p);
      clients.push(c);
      return c;
    },
    fingerprint,
    log: (e, f) => logged.push(`${e} ${JSON.stringify(f ?? {})}`),
  });
  const emitted: string[] = [];
  for (const e of ['connection', 'room', 'item', 'resync', 'presence', 'typing', 'incoming', 'unread', 'error'] as const) {
    session.on(e, (...args: unknown[]) => emitted.push(`${e} ${JSON.stringify(args)}`));
  }
  return { session, secrets, state, clients, emitted, logged, knownKeys };
}

describe('chat session', () => {
  it('marks an incoming message that lists the own fingerprint as a mention (issue 12), and only that one', async () => {
    const { session, clients } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    const c = clients[0]!;
    const own = fingerprint(c.params.identity.publicKey);
    const got: { text?: string; mentionsMe?: boolean }[] = [];
    session.on('incoming', (_r, item) => got.push({ text: item.text, mentionsMe: item.mentionsMe }));
    c.fire('message', incoming(room, 1, { text: '@alice look', mentions: [own] }));
    c.fire('message', incoming(room, 2, { text: '@alice fake' }));
    assert.deepEqual(got, [{ text: '@alice look', mentionsMe: true }, { text: '@alice fake', mentionsMe: undefined }]);
  });

  it('parses and formats relay addresses, IPv6 included', () => {
    assert.deepEqual(parseRelay('127.0.0.1:7878'), { host: '127.0.0.1', port: 7878 });
    assert.deepEqual(parseRelay('[::1]:7878'), { host: '::1', port: 7878 });
    assert.equal(formatRelay('::1', 1), '[::1]:1');
    for (const bad of ['x', 'h:0', 'h:70000', '::1:7878', 'h:']) assert.equal(parseRelay(bad), undefined, bad);
  });

  it('connects to the configured relay with no room, and joins rooms of that relay with their keys', async () => {
    const { session, clients } = setup();
    await session.connect();
    assert.equal(clients.length, 1);
    assert.equal(clients[0]?.params.host, '127.0.0.1');
    assert.equal(clients[0]?.params.port, 7878);
    assert.equal(clients[0]?.params.displayName, 'alice');
    assert.equal(session.connectionState, 'connecting');
    const key = randomBytes(32);
    const entry = await session.addRoom(key, deriveRoomId(key), 'Team', '127.0.0.1:7878');
    assert.equal(session.currentRoom?.room, entry.room);
    assert.equal(clients[0]?.joined.length, 1);
    assert.deepEqual(Buffer.from(clients[0]?.joined[0]?.key ?? []), key);
  });

  it('keeps the room key in the secret store and nowhere in state, events or logs', async () => {
    const { session, secrets, state, clients, emitted, logged } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    const c = clients[0];
    assert.ok(c);
    c.fire('message', incoming(room, 1));
    await session.sendText('hi');
    const b64 = encodeB64u(key);
    assert.ok((await secrets.get(`smc.room.${room}`))?.includes(b64), 'the key is in the secret store');
    const stateDump = JSON.stringify(['smc.rooms', 'smc.currentRoom', 'smc.knownKeys'].map((k) => state.get(k)));
    assert.ok(!stateDump.includes(b64), 'no key in globalState');
    assert.ok(!emitted.join('\n').includes(b64), 'no key in any event');
    assert.ok(!logged.join('\n').includes(b64), 'no key in the log');
    assert.ok(!JSON.stringify(session.snapshot('alice')).includes(b64), 'no key in the panel snapshot');
  });

  it('shows live messages at the end, own messages through their states, and counts unread', async () => {
    const { session, clients, emitted } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    const c = clients[0];
    assert.ok(c);
    c.fire('message', incoming(room, 1));
    c.fire('message', incoming(room, 2));
    assert.equal(session.unreadCount(), 2);
    assert.ok(emitted.some((e) => e.startsWith('incoming')));
    const own = await session.sendText('hi there');
    assert.equal(own.state, 'sending');
    assert.deepEqual(c.sent, [{ room, text: 'hi there' }]);
    c.fire('outgoing', { room, id: own.key, state: 'sent', seq: 3 });
    const snap = session.snapshot('alice');
    assert.deepEqual(snap.items.map((x) => `${x.seq}:${x.state}`), ['1:received', '2:received', '3:sent']);
    await session.markRead(2);
    assert.equal(session.unreadCount(), 0);
    assert.equal(session.snapshot('alice').lastReadSeq, 2);
    await session.markRead(99);
    assert.equal(session.currentRoom?.lastSeq, 3, 'read marks are bounded by what was shown');
  });

  it('re-keys an own message that goes again under a new id (§3.3): its item, its file bytes, the replies that quote it', async () => {
    const { session, clients, emitted } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    const c = clients[0]!;
    c.fire('message', incoming(room, 1));
    const own = await session.sendText('the original words');
    const bytes = randomBytes(1000);
    session.features(room).ownFile(own.key, { name: 'a.bin', size: bytes.length, mime: 'application/octet-stream', sha256: 'a'.repeat(64), chunks: 1 }, bytes);
    // Bob replies to it before it was renamed (his reply names the old id).
    c.fire('message', incoming(room, 2, { id: 'r'.repeat(22), text: 'a reply', reply: { to: own.key, from: fingerprint(c.params.identity.publicKey), quote: 'the original words' } }));
    const to = 'N'.repeat(22);
    emitted.length = 0;
    assert.equal(session.renameOwn(room, own.key, to), true);
    const tl = session.timeline(room);
    assert.equal(tl.get(own.key), undefined);
    assert.equal(tl.get(to)?.text, 'the original words');
    assert.equal(tl.get(to)?.own, true);
    // In its place (an own message not yet acked stays last among them), the others unchanged.
    assert.deepEqual(tl.all().map((i) => i.key), [incoming(room, 1).id, 'r'.repeat(22), to]);
    assert.ok(session.features(room).fileBytes(to)?.equals(bytes), 'the bytes did not follow');
    assert.equal(session.features(room).fileBytes(own.key), undefined);
    assert.equal(tl.get('r'.repeat(22))?.reply?.to, to, 'the reply still names the old id');
    assert.equal(tl.get('r'.repeat(22))?.reply?.quote, 'the original words');
    assert.ok(emitted.some((e) => e.startsWith('resync')), 'the panel is not asked to redraw');
    // Its ack under the new id reaches it.
    c.fire('outgoing', { room, id: to, state: 'sent', seq: 3 });
    assert.equal(tl.get(to)?.state, 'sent');
    // Not another's, not an unknown one, not onto a key already there.
    assert.equal(session.renameOwn(room, 'r'.repeat(22), 'M'.repeat(22)), false);
    assert.equal(session.renameOwn(room, 'Q'.repeat(22), 'M'.repeat(22)), false);
    assert.equal(session.renameOwn(room, to, incoming(room, 1).id), false);
    assert.equal(tl.size, 3);
  });

  it('a private room\'s Retry writes a refused message again under a new id; one in flight or another\'s is refused', async () => {
    const secrets = new MemorySecretStore();
    const state = new MemoryStateStore();
    const rooms = new RoomList(state);
    const session = new ChatSession({
      keys: new KeyStore(secrets), rooms, knownKeys: new KnownKeys(state), state,
      settings: () => ({ relayHost: '127.0.0.1', relayPort: 7878, displayName: 'alice' }),
      createClient: (p) => new FakeClient(p), fingerprint, log: () => undefined,
      isPrivateRoom: (r) => r === room,
    });
    const room = 'P'.repeat(22);
    await rooms.upsert({ room, name: 'private', relay: '127.0.0.1:7878', lastSeq: 0 });
    await session.setCurrent(room);
    const own = await session.ownIdentityFingerprint();
    const sent: string[] = [];
    let n = 0;
    const out = (text: string): OutgoingMessage => {
      const id = `id${n++}`.padEnd(22, 'x');
      sent.push(text);
      return { room, id, state: 'sending', message: { room, ts: 1, id, name: 'alice', fingerprint: own, shortFingerprint: 'X', type: 'text', text, verified: true, keyChanged: false, own: true, history: false } };
    };
    const held = new Map<string, string>();
    session.setBackend(room, {
      sendText: (t) => {
        const o = out(t);
        held.set(o.id, t);
        return o;
      },
      sendSnippet: () => { throw new Error('unused'); },
      sendPayload: () => { throw new Error('unused'); },
      sendFile: () => { throw new Error('unused'); },
      resend: (id) => {
        const t = held.get(id);
        return t === undefined ? undefined : out(t);
      },
      members: () => [],
      memberCount: () => 1,
    });
    const first = await session.sendText('refused once');
    // In flight: Retry (a forged panel request) would send it twice.
    assert.throws(() => session.retry(first.key), /Only a message that failed/);
    session.deliverOutgoing({ room, id: first.key, state: 'failed', error: 'refused' });
    session.retry(first.key);
    assert.deepEqual(sent, ['refused once', 'refused once']);
    const tl = session.timeline(room);
    assert.equal(tl.get(first.key), undefined);
    const again = tl.get('id1'.padEnd(22, 'x'));
    assert.equal(again?.text, 'refused once');
    assert.equal(again?.state, 'sending');
    assert.equal(again?.error, undefined);
    assert.equal(tl.size, 1);
    // Another member's message, and one whose content is no longer held here.
    session.deliver({ room, seq: 4, ts: 2, id: 'b'.repeat(22), name: 'bob', fingerprint: FP_B, shortFingerprint: 'B', type: 'text', text: 'hi', verified: true, keyChanged: false, own: false, history: false });
    assert.throws(() => session.retry('b'.repeat(22)), /Only a message that failed/);
    held.clear();
    session.deliverOutgoing({ room, id: again!.key, state: 'failed', error: 'refused' });
    assert.throws(() => session.retry(again!.key), /write it again/);
    assert.equal(session.privateMemberCount(), 1);
  });

  it('asks views to redraw when history lands in the middle, and pages older from the relay', async () => {
    const { session, clients, emitted } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    const c = clients[0];
    assert.ok(c);
    for (let s = 300; s <= 310; s++) c.fire('message', incoming(room, s, { history: true }));
    c.fire('message', incoming(room, 250, { history: true }));
    c.fire('synced', { room, head: 310, lastSeq: 310, more: true });
    assert.ok(emitted.some((e) => e.startsWith('resync')), 'a gap fill redraws the panel');
    const first = session.snapshot('alice').items[0];
    assert.equal(first?.seq, 250);
    assert.equal(session.snapshot('alice').hasOlder, true);
    c.state = 'connected';
    c.olderPages = [Array.from({ length: 100 }, (_, i) => incoming(room, 150 + i))];
    const before = emitted.length;
    const page = await session.loadOlder(first?.key ?? '');
    assert.equal(page.items.length, WEBVIEW_LIMITS.pageSize);
    assert.equal(page.items[0]?.seq, 250 - WEBVIEW_LIMITS.pageSize, 'the page ends just before the oldest shown');
    assert.equal(page.hasOlder, true, 'the rest of the relay page is older still');
    const last = await session.loadOlder(page.items[0]?.key ?? '');
    assert.equal(last.items[0]?.seq, 150);
    assert.equal(last.hasOlder, false, 'the relay said no more (its `more`, not seq > 1, decides: retention may have dropped older ones)');
    assert.ok(!emitted.slice(before).some((e) => e.startsWith('resync')), 'a page the panel asked for is not also a redraw');
  });

  it('tells a panel opened before the sync that older history exists', async () => {
    const { session, clients, emitted } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Big', '127.0.0.1:7878');
    await session.connect();
    assert.equal(session.snapshot('alice').hasOlder, false, 'nothing known yet');
    const c = clients[0];
    assert.ok(c);
    for (let s = 9801; s <= 10_000; s++) c.fire('message', incoming(room, s, { history: true }));
    assert.ok(!emitted.some((e) => e.startsWith('resync')), 'appended history needs no redraw');
    c.fire('synced', { room, head: 10_000, lastSeq: 10_000, more: true });
    assert.ok(emitted.some((e) => e.startsWith('resync')), 'the panel is redrawn with hasOlder');
    assert.equal(session.snapshot('alice').hasOlder, true);
    assert.equal(session.unreadCount(), 0, 'history found at the first join is not unread');
    c.fire('message', incoming(room, 10_001));
    assert.equal(session.unreadCount(), 1);
  });

  it('maps presence to views with short fingerprints and counts who is online', async () => {
    const { session, clients } = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await session.connect();
    clients[0]?.fire('presence', { room, online: 2, members: [
      { sid: 's1', name: 'bob', fingerprint: FP_B, verified: true, self: false },
      { sid: 's2', verified: false, self: false },
    ] });
    assert.equal(session.onlineCount(), 2);
    const p = session.snapshot('alice').presence;
    assert.equal(p.members[0]?.shortFingerprint, 'BBBB BBBB');
    assert.equal(p.members[1]?.name, undefined);
  });

  it('switching to a room on another relay moves the connection there', async () => {
    const { session, clients } = setup();
    const k1 = randomBytes(32);
    await session.addRoom(k1, deriveRoomId(k1), 'A', '127.0.0.1:7878');
    await session.connect();
    const k2 = randomBytes(32);
    await session.addRoom(k2, deriveRoomId(k2), 'B', '127.0.0.1:9999');
    assert.equal(clients.length, 2);
    assert.equal(clients[1]?.params.port, 9999);
    assert.equal(clients[0]?.state, 'offline', 'the old connection is closed');
    assert.equal(clients[1]?.joined.length, 1, 'only the rooms of that relay are joined');
  });

  it('connects a room from an smcs:// invite with TLS pinned to its certificate, and never mixes pins on one connection', async () => {
    const { session, clients, state } = setup();
    const pinA = 'a'.repeat(64);
    const pinB = 'b'.repeat(64);
    const k1 = randomBytes(32);
    await session.addRoom(k1, deriveRoomId(k1), 'tls-a', '127.0.0.1:7443', pinA);
    await session.connect();
    assert.equal(clients[0]?.params.tlsFingerprint, pinA, 'the client does not pin the invite\'s certificate');
    assert.equal(session.tlsPin(deriveRoomId(k1)), pinA);
    assert.deepEqual(state.get('smc.tlsPins'), { [deriveRoomId(k1)]: pinA }, 'the pin is not kept beside the room list');
    // Same address, another pin (another invite, or an attacker's): its own connection, and
    // the first room is not joined over it.
    const k2 = randomBytes(32);
    await session.addRoom(k2, deriveRoomId(k2), 'tls-b', '127.0.0.1:7443', pinB);
    assert.equal(clients.length, 2);
    assert.equal(clients[1]?.params.tlsFingerprint, pinB);
    assert.deepEqual(clients[1]?.joined.map((j) => j.name), ['tls-b'], 'a room pinned to another certificate was joined over this connection');
    // Same address, no pin: plain TCP, its own connection too.
    const k3 = randomBytes(32);
    await session.addRoom(k3, deriveRoomId(k3), 'plain', '127.0.0.1:7443');
    assert.equal(clients[2]?.params.tlsFingerprint, undefined);
    assert.deepEqual(clients[2]?.joined.map((j) => j.name), ['plain']);
    // Leaving forgets the pin.
    await session.leaveRoom(deriveRoomId(k1));
    assert.equal(session.tlsPin(deriveRoomId(k1)), undefined);
  });

  it('uses smc.relay.tlsFingerprint for the configured relay when no room names one', async () => {
    // No room yet: the target is the configured relay, with its pin (the settings say TLS).
    const { session, clients } = setup({ relayHost: '127.0.0.1', relayPort: 7443, displayName: 'alice', relayTlsFingerprint: 'c'.repeat(64) });
    assert.equal(session.targetTls(), 'c'.repeat(64));
    const k = randomBytes(32);
    await session.addRoom(k, deriveRoomId(k), 'plain', '127.0.0.1:7443');
    await session.connect();
    assert.equal(clients[0]?.params.tlsFingerprint, undefined, 'a room without a pin must not inherit the setting\'s');
  });

  it('refuses to send without a room, with the next step in the message', async () => {
    const { session } = setup();
    await assert.rejects(session.sendText('x'), /Create Room/);
  });

  it('loads the identity only when needed, and reports its fingerprint', async () => {
    const { session, secrets } = setup();
    assert.equal(session.knownOwnFingerprint, undefined);
    assert.equal(await secrets.get('smc.identity'), undefined, 'nothing created before use');
    const fp = await session.ownIdentityFingerprint();
    assert.match(fp, /^[0-9A-F]{4}( [0-9A-F]{4}){7}$/);
    assert.equal(session.knownOwnFingerprint, fp);
    assert.notEqual(fp, fingerprint(generateIdentity().publicKey));
  });
});

describe('chat session: identity signals (issue 7 item 2.6)', () => {
  const FP_M = 'DDDD DDDD DDDD DDDD DDDD DDDD DDDD DDDD';

  async function joined() {
    const s = setup();
    const key = randomBytes(32);
    const room = deriveRoomId(key);
    await s.session.addRoom(key, room, 'Team', '127.0.0.1:7878');
    await s.session.connect();
    const c = s.clients[0]!;
    return { ...s, room, c };
  }

  it('marks members unverified until the user verifies one; then the badge shows and their earlier "key changed" clears', async () => {
    const { session, room, c, knownKeys } = await joined();
    // Mallory took the name "bob" first (TOFU, as RelayClient records it); the real Bob is then
    // the one marked key changed.
    await knownKeys.trust(room, 'bob', FP_M);
    c.fire('message', incoming(room, 1, { fingerprint: FP_M, shortFingerprint: 'DDDD DDDD', text: 'fake bob' }));
    c.fire('message', incoming(room, 2, { keyChanged: true, text: 'real bob' }));
    c.fire('presence', { room, online: 2, members: [
      { sid: 's1', name: 'bob', fingerprint: FP_B, verified: true, self: false },
      { sid: 's2', name: 'alice', fingerprint: fingerprint(generateIdentity().publicKey), verified: true, self: true },
    ] });
    const tl = session.timeline(room);
    assert.equal(tl.get(incoming(room, 2).id)?.keyChanged, true);
    assert.equal(tl.get(incoming(room, 2).id)?.identityVerified, undefined);
    const before = session.snapshot('alice').presence.members.find((m) => m.sid === 's1');
    assert.equal(before?.identityVerified, undefined, 'an unverified member is shown as verified');
    assert.equal(before?.keyChanged, true);

    session.trustMember('bob', FP_B);
    const real = tl.get(incoming(room, 2).id);
    assert.equal(real?.keyChanged, false, 'verifying did not clear "key changed" on the earlier message');
    assert.equal(real?.identityVerified, true);
    const fake = tl.get(incoming(room, 1).id);
    assert.equal(fake?.keyChanged, true, 'the other key under the verified name is not marked');
    assert.equal(fake?.identityVerified, undefined);
    const after = session.snapshot('alice').presence.members.find((m) => m.sid === 's1');
    assert.equal(after?.identityVerified, true);
    assert.equal(after?.keyChanged, undefined);
    // Later messages of the verified key carry the badge too.
    c.fire('message', incoming(room, 3, { text: 'bob again' }));
    assert.equal(tl.get(incoming(room, 3).id)?.identityVerified, true);
  });

  it('marks another key under the own name, or a look-alike of it, in the presence list', async () => {
    const { session, room, c } = await joined();
    c.fire('presence', { room, online: 2, members: [
      { sid: 's1', name: '\u0430lice', fingerprint: FP_M, verified: true, self: false },
    ] });
    assert.equal(session.snapshot('alice').presence.members[0]?.keyChanged, true);
  });

  it('shows the client core\'s "key changed" in presence and typing (issue 11)', async () => {
    const { session, room, c, emitted } = await joined();
    // The core flags bob (its TOFU record knows "bob" under another key); the session's own
    // record has never seen bob: the core's flag alone must reach the panel.
    c.fire('presence', { room, online: 2, members: [
      { sid: 's1', name: 'bob', fingerprint: FP_M, verified: true, self: false, keyChanged: true },
      { sid: 's2', name: 'carol', fingerprint: FP_B, verified: true, self: false, keyChanged: false },
    ] });
    const members = session.snapshot('alice').presence.members;
    assert.equal(members.find((m) => m.sid === 's1')?.keyChanged, true, 'the core flagged bob: the presence view must say so');
    assert.equal(members.find((m) => m.sid === 's2')?.keyChanged, undefined);
    emitted.length = 0;
    c.fire('typing', { room, name: 'bob', fingerprint: FP_M, keyChanged: true });
    c.fire('typing', { room, name: 'carol', fingerprint: FP_B, keyChanged: false });
    // A typist under a look-alike of the own name is flagged by the session itself.
    c.fire('typing', { room, name: '\u0430lice', fingerprint: FP_M, keyChanged: false });
    const typing = emitted.filter((e) => e.startsWith('typing ')).map((e) => JSON.parse(e.slice('typing '.length)) as unknown[]);
    assert.deepEqual(typing.map((t) => [t[1], t[3]]), [['bob', true], ['carol', false], ['\u0430lice', true]]);
  });

  it('refuses a display name with a bidi control: no client is made, and a rename is reported and not used', async () => {
    const state = new MemoryStateStore();
    let name = '\u202Eecila';
    const made: FakeClient[] = [];
    const session = new ChatSession({
      keys: new KeyStore(new MemorySecretStore()), rooms: new RoomList(state), knownKeys: new KnownKeys(state), state,
      settings: () => ({ relayHost: '127.0.0.1', relayPort: 7878, displayName: name }),
      createClient: (p) => {
        const c = new FakeClient(p);
        made.push(c);
        return c;
      },
      fingerprint, log: () => undefined,
    });
    await assert.rejects(session.connect(), /bidi control[\s\S]*smc\.displayName/);
    assert.equal(made.length, 0);
    name = 'alice';
    await session.connect();
    const errors: string[] = [];
    session.on('error', (e) => errors.push(e.message));
    session.setDisplayName('alice\u200B');
    assert.deepEqual(made[0]!.renamedTo, []);
    assert.match(errors[0] ?? '', /invisible/);
  });
});
