// The extension's private rooms (src/vscode/privateSession.ts) without VS Code but through a
// real relay process: two PrivateRooms managers (an admin's and a joiner's) with the stores the
// extension gives them: the invite, the automatic add by the admin's lobby desk, messages, the
// role checks a forged panel request meets, the removal, a restart, Leave, and a joiner told
// that no admin is online.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage, EffectEvent, FileEvent, OutgoingUpdate, TransportFactory } from '../../src/core/client/types';
import { fingerprint, generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { MemoryHistoryLog, decodeSaved, type HistoryLog } from '../../src/core/private';
import { createTcpTransport } from '../../src/node/tcpTransport';
import type { ChatItem } from '../../src/shared/messages';
import type { MementoLike, RoomEntry, RoomListLike } from '../../src/vscode/chatSession';
import { PrivateRooms, mlsSecret, type RoomBackend, type TimelineSink } from '../../src/vscode/privateSession';
import { RelayClient } from '../../src/core/client/relayClient';
import { KeyStore, KnownKeys, MemorySecretStore, MemoryStateStore, RoomList } from '../../src/core/keys';
import { ChatSession } from '../../src/vscode/chatSession';
import { MEMBERSHIP_TYPE } from '../../src/vscode/privateText';
import type { Timeline } from '../../src/vscode/timeline';
import { RelayProcess } from '../helpers/relayProcess';
import { untilTrue } from '../helpers/until';

/** Waits until `cond` holds, 60 s at most (test/helpers/until.ts). */
const until = (cond: () => boolean, what: string, ms = 60_000): Promise<void> => untilTrue(cond, what, ms);

class MapSecrets {
  readonly map = new Map<string, string>();
  get(k: string): Promise<string | undefined> { return Promise.resolve(this.map.get(k)); }
  store(k: string, v: string): Promise<void> { this.map.set(k, v); return Promise.resolve(); }
  delete(k: string): Promise<void> { this.map.delete(k); return Promise.resolve(); }
}

class MapState implements MementoLike {
  readonly map = new Map<string, unknown>();
  get<T>(k: string): T | undefined { return this.map.get(k) as T | undefined; }
  update(k: string, v: unknown): Promise<void> { this.map.set(k, v); return Promise.resolve(); }
}

class Rooms implements RoomListLike {
  readonly list: RoomEntry[] = [];
  all(): RoomEntry[] { return [...this.list]; }
  get(room: string): RoomEntry | undefined { return this.list.find((r) => r.room === room); }
  upsert(e: RoomEntry): Promise<void> {
    const i = this.list.findIndex((r) => r.room === e.room);
    if (i >= 0) this.list[i] = e;
    else this.list.push(e);
    return Promise.resolve();
  }
  remove(room: string): Promise<void> {
    const i = this.list.findIndex((r) => r.room === room);
    if (i >= 0) this.list.splice(i, 1);
    return Promise.resolve();
  }
  setLastSeq(): Promise<void> { return Promise.resolve(); }
}

/** What ChatSession would show: messages, outgoing updates, host-made items, and the backends. */
class Sink implements TimelineSink {
  readonly messages: ChatMessage[] = [];
  readonly outgoing: OutgoingUpdate[] = [];
  readonly items: ChatItem[] = [];
  readonly effects: EffectEvent[] = [];
  readonly files: FileEvent[] = [];
  readonly backends = new Map<string, RoomBackend>();
  readonly renamed: { from: string; to: string }[] = [];
  deliver(m: ChatMessage): void { this.messages.push(m); }
  deliverOutgoing(u: OutgoingUpdate): void { this.outgoing.push(u); }
  deliverEffects(e: EffectEvent): void { this.effects.push(e); }
  deliverFile(e: FileEvent): void { this.files.push(e); }
  showItem(_room: string, item: ChatItem): void { this.items.push(item); }
  renameOwn(_room: string, from: string, to: string): boolean {
    this.renamed.push({ from, to });
    return true;
  }
  setBackend(room: string, b: RoomBackend | undefined): void {
    if (b === undefined) this.backends.delete(room);
    else this.backends.set(room, b);
  }
}

interface Person {
  name: string;
  identity: Identity;
  secrets: MapSecrets;
  state: MapState;
  rooms: Rooms;
  sink: Sink;
  logs: Map<string, HistoryLog>;
  private: PrivateRooms;
  logged: string[];
}

function person(name: string): Person {
  const identity = generateIdentity();
  const secrets = new MapSecrets();
  const state = new MapState();
  const rooms = new Rooms();
  const sink = new Sink();
  const logs = new Map<string, HistoryLog>();
  const logged: string[] = [];
  const p = new PrivateRooms({
    secrets, state, rooms, identity: () => Promise.resolve(identity), displayName: () => name,
    historyLog: (room) => {
      let l = logs.get(room);
      if (l === undefined) logs.set(room, (l = new MemoryHistoryLog()));
      return l;
    },
    transport: createTcpTransport, agent: 'smc-vscode-test', sink,
    log: (event, fields) => logged.push(`${event} ${JSON.stringify(fields ?? {})}`),
  });
  return { name, identity, secrets, state, rooms, sink, logs, private: p, logged };
}

describe('extension private rooms through a real relay (PrivateRooms)', function () {
  this.timeout(120_000);
  let relay: RelayProcess;
  let dir: string;
  const people: Person[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-vscode-private-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
  });

  afterEach(async () => {
    for (const p of people.splice(0)) await p.private.stopAll();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const relayAddr = (): string => `127.0.0.1:${relay.port}`;

  it('an admin creates and invites; the joiner is added by the admin\'s lobby desk; messages flow; a forged remove or promote by a member is refused; the admin removes the member', async () => {
    const alice = person('alice');
    const bob = person('bob');
    people.push(alice, bob);
    const entry = await alice.private.create('team', relayAddr());
    assert.equal(alice.private.isPrivate(entry.room), true);
    assert.deepEqual(alice.private.view('L'.repeat(22)), { room: 'L'.repeat(22), kind: 'link' });
    // The state is a secret (SecretStorage), never in globalState.
    assert.ok(alice.secrets.map.has(mlsSecret(entry.room)));
    assert.ok(![...alice.state.map.values()].some((v) => JSON.stringify(v).includes('ownerSeed')));
    // Not open yet: no invite, no remove (what a panel request meets before connecting).
    await assert.rejects(() => alice.private.invite(entry.room), /not open here/);
    await alice.private.start(entry.room);
    await until(() => alice.private.view(entry.room).admin === true, 'alice admin');
    await until(() => alice.private.liveRoom(entry.room)?.state === 'connected', 'alice connected');
    // The first invite needs the room synced; retry until the core accepts it.
    const { link } = await alice.private.invite(entry.room);
    assert.match(link, /\?join=1&by=[0-9a-f]{32}#[A-Za-z0-9_-]{43}$/);

    const statuses: string[] = [];
    const joined = await bob.private.join(link, (s) => statuses.push(s), 60_000);
    assert.equal(joined.room, entry.room);
    assert.equal(bob.private.isPrivate(entry.room), true);
    await bob.private.start(entry.room);
    // Alice's name reaches bob with her member_added message (§3.4 step 3), after the Welcome.
    await until(() => (bob.private.view(entry.room).members ?? []).filter((m) => m.name !== undefined).length === 2, 'bob sees two named members');
    await until(() => alice.sink.items.some((i) => i.kind === 'membership' && i.text === 'alice added bob'), 'alice sees "alice added bob"');
    const bobView = bob.private.view(entry.room);
    assert.equal(bobView.admin, false);
    assert.deepEqual(bobView.members?.map((m) => [m.name, m.role, m.self]).sort(), [['alice', 'admin', false], ['bob', 'member', true]]);

    // Messages both ways, through the backends ChatSession sends with.
    await until(() => bob.sink.backends.has(entry.room), 'bob backend');
    await until(() => bob.private.liveRoom(entry.room)?.state === 'connected', 'bob connected');
    alice.sink.backends.get(entry.room)!.sendText('hello bob');
    await until(() => bob.sink.messages.some((m) => m.text === 'hello bob'), 'bob reads alice');
    bob.sink.backends.get(entry.room)!.sendText('hi alice');
    await until(() => alice.sink.messages.some((m) => m.text === 'hi alice' && m.name === 'bob'), 'alice reads bob');

    // Bob's panel forging requests: the host refuses before asking anything, and the core agrees.
    const aliceFp = fingerprint(alice.identity.publicKey);
    const bobFp = fingerprint(bob.identity.publicKey);
    assert.throws(() => bob.private.remove(entry.room, aliceFp), /Only an admin/);
    assert.throws(() => bob.private.promote(entry.room, bobFp), /Only an admin/);
    await assert.rejects(() => bob.private.invite(entry.room), /Only an admin/);
    assert.throws(() => alice.private.remove(entry.room, 'AAAA '.repeat(7) + 'AAAA'), /No such member/);
    assert.throws(() => alice.private.remove(entry.room, aliceFp), /To leave/);
    assert.throws(() => alice.private.promote(entry.room, aliceFp), /already an admin/);

    // Promote: bob becomes an admin (every member applies the commit), and may then invite.
    alice.private.promote(entry.room, bobFp);
    await until(() => bob.private.view(entry.room).admin === true, 'bob promoted');
    assert.equal(alice.private.view(entry.room).members?.find((m) => m.fingerprint === bobFp)?.role, 'admin');
    assert.match((await bob.private.invite(entry.room)).link, /\?join=1&by=[0-9a-f]{32}#/);
    assert.throws(() => alice.private.promote(entry.room, bobFp), /already an admin/);

    alice.private.remove(entry.room, bobFp);
    await until(() => bob.private.view(entry.room).removedBy === 'alice', 'bob removed');
    assert.ok(bob.sink.items.some((i) => i.kind === 'membership' && i.text === 'alice removed you from this room'));
    await until(() => alice.sink.items.some((i) => i.kind === 'membership' && i.text === 'alice removed bob'), 'alice sees the removal');
    assert.equal(bob.sink.backends.has(entry.room), false, 'a removed member can still send');
    const after = alice.sink.backends.get(entry.room)!.sendText('after bob');
    await until(() => alice.sink.outgoing.some((u) => u.id === after.id && u.state === 'sent'), 'alice sends on');
    assert.ok(!bob.sink.messages.some((m) => m.text === 'after bob'));

    // A restart of bob's extension: still removed, nothing opened.
    const bob2 = new PrivateRooms({
      secrets: bob.secrets, state: bob.state, rooms: bob.rooms, identity: () => Promise.resolve(bob.identity), displayName: () => 'bob',
      historyLog: (room) => bob.logs.get(room) ?? new MemoryHistoryLog(), transport: createTcpTransport, agent: 't', sink: new Sink(), log: () => undefined,
    });
    await bob2.start(entry.room);
    assert.equal(bob2.view(entry.room).removedBy, 'alice');
    assert.equal(bob2.liveRoom(entry.room), undefined);
    // Leave forgets the room: its state and history key are gone.
    await bob2.forget(entry.room);
    assert.deepEqual([...bob.secrets.map.keys()].filter((k) => k.includes(entry.room)), []);
    assert.equal(bob2.isPrivate(entry.room), false);

    // Alice's history (restart): her messages, bob's, and the membership events, in order.
    const alice2Sink = new Sink();
    await alice.private.stopAll();
    const alice2 = new PrivateRooms({
      secrets: alice.secrets, state: alice.state, rooms: alice.rooms, identity: () => Promise.resolve(alice.identity), displayName: () => 'alice',
      historyLog: (room) => alice.logs.get(room)!, transport: createTcpTransport, agent: 't', sink: alice2Sink, log: () => undefined,
    });
    people.push({ ...alice, private: alice2 });
    await alice2.start(entry.room);
    assert.deepEqual(alice2Sink.messages.map((m) => m.text), ['hello bob', 'hi alice', 'after bob']);
    assert.deepEqual(alice2Sink.items.map((i) => i.text), ['alice added bob', 'alice removed bob']);
    assert.ok(statuses.every((s) => !s.includes('#')), 'a status carried a secret');
    // No secret in what the extension logs (its Output channel): the invite's secret, the owner
    // seed, the history key, the MLS state.
    const secrets = [link.split('#')[1]!, ...[...alice.secrets.map.values(), ...bob.secrets.map.values()]];
    const saved = decodeSaved(alice.secrets.map.get(mlsSecret(entry.room))!);
    secrets.push(saved.meta.ownerSeed!, ...Object.values(saved.meta.invites).map((i) => i.secret));
    for (const line of [...alice.logged, ...bob.logged]) {
      for (const secret of secrets) assert.ok(!line.includes(secret.slice(0, 24)), `a secret in the log: ${line.slice(0, 80)}`);
    }
    assert.ok(alice.logged.length > 0 && bob.logged.length > 0);
  });

  it('a damaged saved state is said once as an error, and opens nothing', async () => {
    const alice = person('alice');
    people.push(alice);
    const entry = await alice.private.create('team', relayAddr());
    await alice.secrets.store(mlsSecret(entry.room), '{"v":1,"state":"AAAA","meta":{"applied":0,"names":{},"invites":{}}}');
    const errors: string[] = [];
    alice.private.on('error', (e) => errors.push(e.message));
    await alice.private.start(entry.room);
    assert.equal(errors.length, 1, errors.join(' | '));
    assert.match(errors[0]!, /Private room "team" could not be opened here/);
    assert.equal(alice.private.liveRoom(entry.room), undefined);
  });

  it('a joiner is told when no admin is online, and times out', async () => {
    const alice = person('alice');
    const bob = person('bob');
    people.push(alice, bob);
    const entry = await alice.private.create('team', relayAddr());
    await alice.private.start(entry.room);
    await until(() => alice.private.liveRoom(entry.room)?.state === 'connected', 'alice connected');
    const { link } = await alice.private.invite(entry.room);
    await until(() => (alice.private.liveRoom(entry.room)?.invites !== undefined && Object.keys(alice.private.liveRoom(entry.room)!.invites).length === 1), 'the invite recorded');
    await alice.private.stopAll();
    const statuses: string[] = [];
    await assert.rejects(() => bob.private.join(link, (s) => statuses.push(s), 3_000), /no admin/);
    assert.ok(statuses.some((s) => /no admin of the room is online/.test(s)), statuses.join(' | '));
    assert.equal(bob.private.isPrivate(entry.room), false);
  });

  it('through ChatSession (what the panel draws): a private room\'s snapshot holds its messages and membership events, and its sends go to the room, not the link client', async () => {
    const secrets = new MemorySecretStore();
    const state = new MemoryStateStore();
    const rooms = new RoomList(state);
    const keys = new KeyStore(secrets);
    const linkJoins: string[] = [];
    const later: { rooms?: PrivateRooms } = {};
    const session = new ChatSession({
      keys, rooms, knownKeys: new KnownKeys(state), state,
      settings: () => ({ relayHost: '127.0.0.1', relayPort: relay.port, displayName: 'alice' }),
      fingerprint, log: () => undefined,
      isPrivateRoom: (room) => later.rooms?.isPrivate(room) === true,
      createClient: (p) => {
        const c = new RelayClient({ ...p, agent: 'smc-vscode-test', transport: createTcpTransport });
        const join = c.join.bind(c);
        c.join = (o) => {
          const h = join(o);
          linkJoins.push(h.room);
          return h;
        };
        return c;
      },
    });
    const privateRooms = new PrivateRooms({
      secrets, state, rooms, identity: () => keys.identity(), displayName: () => 'alice',
      historyLog: () => new MemoryHistoryLog(), transport: createTcpTransport, agent: 'smc-vscode-test', log: () => undefined, sink: session,
    });
    later.rooms = privateRooms;
    const bob = person('bob');
    people.push(bob, { ...bob, private: privateRooms });
    try {
      const entry = await privateRooms.create('team', relayAddr());
      await session.setCurrent(entry.room);
      // Not connected yet: a send says so, and nothing goes to the link client.
      await assert.rejects(() => session.sendText('too early'), /not connected yet/);
      await session.connect();
      await privateRooms.startAll();
      await until(() => privateRooms.liveRoom(entry.room)?.state === 'connected', 'alice connected');
      const { link } = await privateRooms.invite(entry.room);
      await bob.private.join(link, () => undefined, 60_000);
      await bob.private.start(entry.room);
      await until(() => bob.sink.backends.has(entry.room) && bob.private.liveRoom(entry.room)?.state === 'connected', 'bob in');
      const sent = await session.sendText('hello from the panel');
      await until(() => bob.sink.messages.some((m) => m.text === 'hello from the panel'), 'bob reads the panel');
      bob.sink.backends.get(entry.room)!.sendText('hello panel');
      const snap = (): ChatItem[] => session.snapshot('alice').items;
      await until(() => snap().some((i) => i.text === 'hello panel'), 'the panel gets bob');
      await until(() => session.timeline(entry.room).get(sent.key)?.state === 'sent', 'own message acked');
      const items = snap();
      assert.deepEqual(items.map((i) => [i.kind, i.text]), [['membership', 'alice added bob'], ['message', 'hello from the panel'], ['message', 'hello panel']]);
      assert.equal(items[2]!.name, 'bob');
      assert.deepEqual(linkJoins, [], 'the link client joined a private room');
      // A selection goes to the private room too (it was "not supported yet" before issue 12).
      const snip = await session.sendSnippet({ lang: 'ts', path: 'a.ts', start: 1, end: 1, code: 'x' });
      await until(() => bob.sink.messages.some((m) => m.id === snip.key && m.snippet?.code === 'x'), 'bob gets the snippet');

      // A malicious member (its own client, not ours) sends a message of the membership type,
      // claiming an event: it stays a message (kind "message", shown as a type this version
      // cannot show), never a host-made membership event.
      const bobRoom = bob.private.liveRoom(entry.room)!;
      const enqueue: unknown = Reflect.get(bobRoom, 'enqueue');
      assert.equal(typeof enqueue, 'function');
      Reflect.apply(enqueue as (c: { type: string; text: string }) => unknown, bobRoom, [{ type: MEMBERSHIP_TYPE, text: 'alice removed carol' }]);
      await until(() => snap().some((i) => i.text === 'alice removed carol'), 'the forged event arrives');
      const forged = snap().find((i) => i.text === 'alice removed carol')!;
      assert.equal(forged.kind, 'message');
      assert.equal(forged.name, 'bob');
      assert.equal(snap().filter((i) => i.kind === 'membership').length, 1);
    } finally {
      await session.dispose();
    }
  });
});

/** A person's extension without VS Code: ChatSession with its PrivateRooms, over stores a restart keeps. */
interface Panel {
  name: string;
  secrets: MemorySecretStore;
  state: MemoryStateStore;
  logs: Map<string, HistoryLog>;
  session: ChatSession;
  rooms: PrivateRooms;
  incoming: ChatItem[];
}

/** A way to the relay that can lose what is written (a link that dropped without a word). */
class LossyTransport {
  losing = false;
  readonly factory: TransportFactory = (host, port) => {
    const t = createTcpTransport(host, port);
    return {
      write: (line) => {
        if (!this.losing) t.write(line);
      },
      close: () => t.close(),
      on: (event, listener) => t.on(event, listener),
    };
  };
}

function panel(name: string, relayPort: () => number, from?: Panel, opts: { transport?: TransportFactory } = {}): Panel {
  const secrets = from?.secrets ?? new MemorySecretStore();
  const state = from?.state ?? new MemoryStateStore();
  const logs = from?.logs ?? new Map<string, HistoryLog>();
  const roomList = new RoomList(state);
  const keys = new KeyStore(secrets);
  const later: { rooms?: PrivateRooms } = {};
  const session = new ChatSession({
    keys, rooms: roomList, knownKeys: new KnownKeys(state), state,
    settings: () => ({ relayHost: '127.0.0.1', relayPort: relayPort(), displayName: name }),
    fingerprint, log: () => undefined,
    isPrivateRoom: (room) => later.rooms?.isPrivate(room) === true,
    createClient: (p) => new RelayClient({ ...p, agent: 'smc-vscode-test', transport: createTcpTransport }),
  });
  const rooms = new PrivateRooms({
    secrets, state, rooms: roomList, identity: () => keys.identity(), displayName: () => name,
    historyLog: (room) => {
      let l = logs.get(room);
      if (l === undefined) logs.set(room, (l = new MemoryHistoryLog()));
      return l;
    },
    transport: opts.transport ?? createTcpTransport, agent: 'smc-vscode-test', log: () => undefined, sink: session,
  });
  later.rooms = rooms;
  const incoming: ChatItem[] = [];
  session.on('incoming', (_room, item) => incoming.push(item));
  return { name, secrets, state, logs, session, rooms, incoming };
}

/** Alice's new private room on the relay at `port`, bob added by her desk; both connected, it current for both. */
async function roomOfTwo(alice: Panel, bob: Panel, port: number): Promise<RoomEntry> {
  const entry = await alice.rooms.create('team', `127.0.0.1:${port}`);
  await alice.session.setCurrent(entry.room);
  await alice.session.connect();
  await alice.rooms.startAll();
  await until(() => alice.rooms.liveRoom(entry.room)?.state === 'connected', 'alice connected');
  const { link } = await alice.rooms.invite(entry.room);
  await bob.rooms.join(link, () => undefined, 60_000);
  await bob.session.setCurrent(entry.room);
  await bob.session.connect();
  await bob.rooms.start(entry.room);
  await until(() => bob.rooms.liveRoom(entry.room)?.state === 'connected', 'bob connected');
  return entry;
}

describe('extension private rooms: the chat features through ChatSession and a real relay', function () {
  this.timeout(180_000);
  let relay: RelayProcess;
  let dir: string;
  const panels: Panel[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-vscode-private-features-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
  });

  afterEach(async () => {
    for (const p of panels.splice(0)) {
      await p.rooms.stopAll();
      await p.session.dispose();
    }
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an own message gone stale (written before a restart, bob\'s update came meanwhile, §3.3) goes again under a new id: alice\'s item follows it, and what she does next names it', async () => {
    const port = (): number => relay.port;
    const wire = new LossyTransport();
    const alice = panel('alice', port, undefined, { transport: wire.factory });
    const bob = panel('bob', port);
    panels.push(alice, bob);
    const entry = await roomOfTwo(alice, bob, relay.port);
    const tl = (p: Panel): Timeline => p.session.timeline(entry.room);
    const warm = await alice.session.sendText('before the race');
    await until(() => tl(bob).get(warm.key)?.text === 'before the race', 'bob reads alice');
    const bobRoom = bob.rooms.liveRoom(entry.room)!;
    await until(() => alice.rooms.liveRoom(entry.room)!.epoch === bobRoom.epoch, 'both in one epoch');

    // Alice writes into a link that lost it, and her VS Code stops: the message waits in her
    // history (the outbox, §3.8) under the epoch it was written in. Bob's update ends that epoch.
    wire.losing = true;
    const stale = await alice.session.sendText('written in the old epoch');
    await until(() => alice.logs.get(entry.room) !== undefined, 'alice has a history');
    await alice.rooms.stopAll();
    await alice.session.dispose();
    panels.splice(panels.indexOf(alice), 1);
    const epoch = bobRoom.epoch;
    bobRoom.update();
    await until(() => bobRoom.epoch > epoch, 'bob applied his update');

    // Alice starts again: the message goes under a new id in the new epoch, and her item follows it.
    const again = panel('alice', port, alice);
    panels.push(again);
    await again.session.setCurrent(entry.room);
    await again.session.connect();
    await again.rooms.startAll();
    const shown = (p: Panel): ChatItem[] => tl(p).all().filter((i) => i.text === 'written in the old epoch');
    await until(() => shown(bob).length === 1, 'bob reads it, renewed');
    const renewed = shown(bob)[0]!.key;
    assert.notEqual(renewed, stale.key, 'the renewed message goes by a new id');
    await until(() => shown(again)[0]?.key === renewed, 'alice\'s item follows the new id');
    assert.equal(tl(again).get(stale.key), undefined, 'no item is left under the dead id');
    assert.equal(shown(again).length, 1, 'shown once');
    await until(() => tl(again).get(renewed)?.state === 'sent', 'alice\'s item is sent under the new id');

    // What alice does next names the new id: bob sees her edit and her reaction.
    await again.session.edit(renewed, 'written again, edited');
    await again.session.react(renewed, '🎉');
    await until(() => tl(bob).get(renewed)?.text === 'written again, edited' && tl(bob).get(renewed)?.reactions?.[0]?.emoji === '🎉', 'bob sees the edit and the reaction');
  });

  it('reply, mention, reaction toggle, edit (another\'s refused), delete, a file byte-identical, a patch, a snippet, search; a restart replays them from history', async () => {
    const port = (): number => relay.port;
    const alice = panel('alice', port);
    const bob = panel('bob', port);
    panels.push(alice, bob);
    const entry = await roomOfTwo(alice, bob, relay.port);
    await until(() => alice.session.mentionCandidates('b').length === 1, 'alice can @mention bob (an MLS member)');
    const tl = (p: Panel): Timeline => p.session.timeline(entry.room);
    const find = (p: Panel, pred: (i: ChatItem) => boolean): ChatItem | undefined => tl(p).all().find(pred);

    // The MLS members with their names are who @ binds to (not presence: a private room has none).
    assert.deepEqual(alice.session.mentionCandidates('b').map((c) => c.name), ['bob']);
    assert.equal(alice.session.privateMemberCount(entry.room), 2, 'a private room counts its members');

    const first = await alice.session.sendText('first words');
    await until(() => tl(bob).get(first.key)?.text === 'first words', 'bob reads the first');

    // Reply (§2.3.1) with an @mention (§2.3.2): alice hears it as a mention, the quote is the original's.
    const reply = await bob.session.sendRich('@alice agreed', { replyTo: first.key });
    await until(() => tl(alice).get(reply.key) !== undefined, 'alice gets the reply');
    const got = tl(alice).get(reply.key)!;
    assert.equal(got.reply?.to, first.key);
    assert.equal(got.reply?.quote, 'first words');
    assert.equal(got.mentionsMe, true);
    assert.ok(alice.incoming.some((i) => i.key === reply.key && i.mentionsMe === true), 'the mention notifies');

    // Reactions toggle (§2.3.3): bob's thumbs up shows at alice, the same again removes it.
    await bob.session.react(first.key, '👍');
    await until(() => tl(alice).get(first.key)?.reactions?.[0]?.count === 1, 'alice sees the reaction');
    assert.deepEqual(tl(alice).get(first.key)!.reactions![0]!.names, ['bob']);
    await until(() => tl(bob).get(first.key)?.reactions?.[0]?.mine === true, 'bob sees his own reaction');
    await bob.session.react(first.key, '👍');
    await until(() => tl(alice).get(first.key)?.reactions === undefined, 'the reaction is removed');

    // Edit (§2.3.4): alice's own; bob's edit of it is refused by his host and by her client.
    await alice.session.edit(first.key, 'first words, edited');
    await until(() => tl(bob).get(first.key)?.edited === true, 'bob sees the edit');
    assert.equal(tl(bob).get(first.key)!.text, 'first words, edited');
    await until(() => tl(alice).get(reply.key)?.reply?.quote === 'first words, edited', 'the quote follows the edit');
    await assert.rejects(() => bob.session.edit(first.key, 'forged'), /Only your own/);
    await assert.rejects(() => bob.session.deleteMessage(first.key), /Only your own/);
    // Bob's client bypassing his host's check: every receiver refuses it (only the sender's key may).
    bob.rooms.liveRoom(entry.room)!.sendPayload({ type: 'edit', target: first.key, text: 'forged by bob' });
    const marker = await bob.session.sendText('after the forgery');
    await until(() => tl(alice).get(marker.key) !== undefined, 'alice gets what follows the forgery');
    assert.equal(tl(alice).get(first.key)!.text, 'first words, edited');

    // Delete (§2.3.4): gone from bob's view.
    const doomed = await alice.session.sendText('soon gone');
    await until(() => tl(bob).get(doomed.key)?.text === 'soon gone', 'bob reads the doomed one');
    await alice.session.deleteMessage(doomed.key);
    await until(() => tl(bob).get(doomed.key)?.deleted === true, 'bob sees the delete');
    assert.equal(tl(bob).get(doomed.key)!.text, undefined);

    // A file (§2.3.5) of several chunks, byte-identical on the other side.
    const bytes = randomBytes(300_000);
    const file = await alice.session.sendFile({ name: 'data.bin', mime: 'application/octet-stream', bytes });
    await until(() => tl(bob).get(file.key)?.file?.state === 'complete', 'bob has the whole file');
    assert.ok(bob.session.features(entry.room).fileBytes(file.key)!.equals(bytes), 'the file differs');
    await until(() => tl(alice).get(file.key)?.file?.state === 'complete', 'alice sees her upload done');

    // A patch (§2.3.6) and a snippet.
    const diff = 'diff --git a/a.ts b/a.ts\n--- a/a.ts\n+++ b/a.ts\n@@ -1 +1 @@\n-x\n+y\n';
    const patch = await alice.session.sendPatch({ root: '', paths: ['a.ts'], diff }, 'a fix');
    await until(() => tl(bob).get(patch.key)?.patch?.diff === diff, 'bob gets the patch');
    const snippet = await bob.session.sendSnippet({ lang: 'ts', path: 'src/a.ts', start: 3, end: 4, code: 'const a = 1;\n' }, 'look');
    await until(() => tl(alice).get(snippet.key)?.snippet?.code === 'const a = 1;\n', 'alice gets the snippet');
    assert.equal(tl(alice).get(snippet.key)!.text, 'look');

    // Search over the private room's timeline.
    assert.deepEqual(alice.session.search('edited').hits.map((h) => h.key), [first.key]);
    const around = await alice.session.loadAround(first.key);
    assert.equal(around.found, true);

    await until(() => bob.rooms.liveRoom(entry.room)!.pendingCount === 0, 'bob acked');
    await until(() => tl(bob).get(snippet.key)?.state === 'sent', 'bob\'s snippet acked');

    // A restart of bob's extension: the history replays through the features.
    const shownBefore = tl(bob).all().filter((i) => i.kind !== 'membership').map((i) => i.key);
    const membershipBefore = tl(bob).all().filter((i) => i.kind === 'membership').map((i) => i.text);
    await bob.rooms.stopAll();
    await bob.session.dispose();
    const bob2 = panel('bob', port, bob);
    panels.splice(panels.indexOf(bob), 1, bob2);
    await bob2.session.setCurrent(entry.room);
    await bob2.rooms.start(entry.room);
    const again = tl(bob2);
    assert.equal(again.get(first.key)?.text, 'first words, edited');
    assert.equal(again.get(first.key)?.edited, true);
    assert.equal(again.get(first.key)?.reactions, undefined, 'the removed reaction is back');
    assert.equal(again.get(reply.key)?.reply?.to, first.key);
    assert.equal(again.get(reply.key)?.reply?.quote, 'first words, edited');
    assert.equal(again.get(doomed.key)?.deleted, true);
    assert.equal(again.get(doomed.key)?.text, undefined);
    assert.equal(again.get(file.key)?.file?.state, 'complete');
    assert.ok(bob2.session.features(entry.room).fileBytes(file.key)?.equals(bytes), 'the file after a restart differs');
    assert.equal(again.get(patch.key)?.patch?.diff, diff);
    assert.equal(again.get(snippet.key)?.snippet?.path, 'src/a.ts');
    assert.equal(again.get(snippet.key)?.own, true);
    assert.deepEqual(again.all().filter((i) => i.kind !== 'membership').map((i) => i.key), shownBefore, 'other items after the restart');
    assert.deepEqual(again.all().filter((i) => i.kind === 'membership').map((i) => i.text), membershipBefore);
    assert.ok(!again.all().some((i) => i.type === 'reaction' || i.type === 'edit' || i.type === 'delete' || i.type === 'file-chunk'), 'an effect shows as an item');
    assert.equal(find(bob2, (i) => i.text === 'forged by bob'), undefined);
    // And it goes on: a reaction after the restart reaches alice.
    await until(() => bob2.rooms.liveRoom(entry.room)?.state === 'connected', 'bob connected again');
    await bob2.session.react(first.key, '🎉');
    await until(() => tl(alice).get(first.key)?.reactions?.[0]?.emoji === '🎉', 'alice sees the reaction after bob\'s restart');
  });
});
