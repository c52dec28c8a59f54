// The relay's protocol layer (src/relay/protocol.ts) over scripted links: no socket, a real
// output budget, the in-memory store, real join proofs. Every frame a session writes is read
// back with the client's parser (parseRelayFrame), so the relay's output is checked against
// what a client accepts. The same behaviour over TCP: test/system/relay-conformance.test.ts.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveRoomAuthKey, makeJoinProof, roomIdForAuthKey, type RoomAuthKey } from '../../src/core/crypto/roomAuth';
import { parseRelayFrame, type ReceivedFrame } from '../../src/core/wire/relayFrames';
import { AdminToken } from '../../src/relay/adminToken';
import type { LogFields, RelayLogger } from '../../src/relay/log';
import { DEFAULT_RELAY_OPTIONS } from '../../src/relay/options';
import { OutputBudget } from '../../src/relay/outputBudget';
import { RelayProtocol, type Session, type SessionLink } from '../../src/relay/protocol';
import { MemoryStore } from '../helpers/memoryStore';

/** Room-auth keys of the rooms randomRoom() made (§2.2: the room id is bound to the key). */
const authKeys = new Map<string, RoomAuthKey>();

function randomRoom(): string {
  const auth = deriveRoomAuthKey(randomBytes(32));
  const room = roomIdForAuthKey(auth.publicKey);
  authKeys.set(room, auth);
  return room;
}

function roomAuthKeyOf(room: string): RoomAuthKey {
  const key = authKeys.get(room);
  if (key === undefined) throw new Error('not a room of randomRoom()');
  return key;
}

function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/** A connection that records what the session writes and how it closes it. */
class ScriptedLink implements SessionLink {
  private static nextId = 1;
  readonly id = ScriptedLink.nextId++;
  readonly address = '127.0.0.1:1';
  readonly remoteIp = '127.0.0.1';
  readonly outputLimit = DEFAULT_RELAY_OPTIONS.maxOutput;
  /** Every chunk written, as written (fan-out shares one Buffer between members). */
  readonly chunks: (string | Buffer)[] = [];
  closed = false;
  closedBy: string | undefined;
  readonly tracked: Promise<unknown>[] = [];

  write(data: string | Buffer): void {
    if (!this.closed) this.chunks.push(data);
  }

  end(reason: string): void {
    this.close(`end:${reason}`);
  }

  abort(reason: string): void {
    this.close(`abort:${reason}`);
  }

  whenOutputBelow(): Promise<void> {
    return Promise.resolve();
  }

  track(work: Promise<unknown>): void {
    this.tracked.push(work);
  }

  /** The frames written, parsed as a client parses them (each must parse). */
  frames(): ReceivedFrame[] {
    return this.chunks.flatMap((c) => String(c).split('\n').filter((l) => l !== '')).map((line) => {
      const r = parseRelayFrame(line);
      if (!r.ok) throw new Error(`the relay wrote a frame a client rejects: ${r.message} (${line.slice(0, 80)})`);
      return r.frame;
    });
  }

  types(): string[] {
    return this.frames().map((f) => f.t);
  }

  take(): ReceivedFrame[] {
    const f = this.frames();
    this.chunks.length = 0;
    return f;
  }

  private close(how: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedBy = how;
  }
}

interface Logged { level: string; event: string; fields: LogFields | undefined }

describe('relay protocol: sessions over scripted links', () => {
  let dir: string;
  let store: MemoryStore;
  let logged: Logged[];
  let shutdowns: string[];

  const log: RelayLogger = {
    info: (event, fields) => logged.push({ level: 'info', event, fields }),
    warn: (event, fields) => logged.push({ level: 'warn', event, fields }),
    error: (event, fields) => logged.push({ level: 'error', event, fields }),
  };

  async function protocol(overrides: Partial<typeof DEFAULT_RELAY_OPTIONS> = {}): Promise<RelayProtocol> {
    return new RelayProtocol({ ...DEFAULT_RELAY_OPTIONS, ...overrides }, {
      store, log, adminToken: await AdminToken.load(dir), agent: 'smc-relay/test',
      budget: new OutputBudget(64 * 1024 * 1024, 2_000), shutdown: (reason) => shutdowns.push(reason),
    });
  }

  function line(frame: Record<string, unknown>): string {
    return JSON.stringify(frame);
  }

  /** A session past hello, and the challenge its welcome gave. */
  function helloed(p: RelayProtocol): { link: ScriptedLink; session: Session; challenge: string } {
    const link = new ScriptedLink();
    const session = p.open(link, Date.now());
    assert.equal(session.onLine(line({ t: 'hello', v: 2 })), undefined);
    const [welcome] = link.take();
    assert.ok(welcome?.t === 'welcome');
    return { link, session, challenge: welcome.challenge };
  }

  function joinFrame(room: string, challenge: string, extra: Record<string, unknown> = {}): string {
    return line({ t: 'join', ...extra, room, ...makeJoinProof(roomAuthKeyOf(room), challenge, room) });
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smc-session-'));
    store = new MemoryStore();
    logged = [];
    shutdowns = [];
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('before hello only hello: anything else is hello_required and a close; hello gets welcome', async () => {
    const p = await protocol();
    const link = new ScriptedLink();
    const session = p.open(link, Date.now());
    session.onLine(line({ t: 'ping', rid: 3 }));
    assert.deepEqual(link.frames(), [{ t: 'error', rid: 3, code: 'hello_required', message: 'the first frame must be hello' }]);
    assert.equal(link.closedBy, 'end:hello_required');
    assert.equal(session.helloed, false);

    const { link: l2, session: s2 } = helloed(p);
    assert.equal(s2.helloed, true);
    s2.onLine(line({ t: 'hello', v: 2, rid: 1 }));
    s2.onLine(line({ t: 'ping', rid: 2 }));
    assert.deepEqual(l2.frames(), [
      { t: 'error', rid: 1, code: 'bad_request', message: 'hello was already received' },
      { t: 'pong', rid: 2 },
    ]);
    assert.equal(l2.closed, false);
  });

  it('hello with a version the relay does not speak: unsupported_version and a close', async () => {
    const p = await protocol();
    const link = new ScriptedLink();
    const session = p.open(link, Date.now());
    session.onLine(line({ t: 'hello', v: 3, rid: 1 }));
    const [f] = link.frames();
    assert.ok(f?.t === 'error' && f.code === 'unsupported_version' && f.rid === 1);
    assert.equal(link.closedBy, 'end:unsupported_version');
    assert.equal(session.helloed, false);
  });

  it('a join proof for another connection\'s challenge is auth_failed; the room stays closed to it', async () => {
    const p = await protocol();
    const room = randomRoom();
    const a = helloed(p);
    const b = helloed(p);
    a.session.onLine(joinFrame(room, b.challenge, { rid: 1 }));
    const [f] = a.link.frames();
    assert.ok(f?.t === 'error' && f.code === 'auth_failed' && f.rid === 1);
    assert.equal(a.session.roomCount, 0);
    a.link.take();
    a.session.onLine(line({ t: 'send', rid: 2, room, id: randomId(), body: 'Ym9keQ' }));
    assert.deepEqual(a.link.frames(), [{ t: 'error', rid: 2, code: 'not_joined', message: 'join the room before sending' }]);
  });

  it('send: an ack once stored, the msg to the other members as one shared Buffer, none to the sender', async () => {
    const p = await protocol();
    const room = randomRoom();
    const a = await joinedIn(p, room);
    const b = await joinedIn(p, room);
    const c = await joinedIn(p, room);
    const id = randomId();
    assert.equal(a.session.onLine(line({ t: 'send', rid: 7, room, id, body: 'Ym9keQ' })), undefined);
    assert.equal(a.link.tracked.length, 1, 'the send is tracked for a half-closed peer');
    assert.equal(p.inflight, 1);
    await Promise.all(a.link.tracked);
    await p.settled();
    const [ack] = a.link.frames();
    assert.ok(ack?.t === 'ack' && ack.seq === 1 && ack.rid === 7 && ack.id === id);
    assert.deepEqual(b.link.frames(), [{ t: 'msg', room, seq: 1, ts: ack.ts, id, body: 'Ym9keQ' }]);
    assert.ok(Buffer.isBuffer(b.link.chunks[0]));
    assert.equal(b.link.chunks[0], c.link.chunks[0], 'encoded once, the same bytes for every member');
    assert.deepEqual(a.link.frames().filter((f) => f.t === 'msg'), []);

    // The same id again: the first copy's seq, nothing forwarded (§1.5).
    a.link.take();
    b.link.take();
    a.session.onLine(line({ t: 'send', rid: 8, room, id, body: 'b3RoZXI' }));
    await Promise.all(a.link.tracked);
    assert.deepEqual(a.link.frames(), [{ t: 'ack', rid: 8, room, id, seq: 1, ts: ack.ts }]);
    assert.deepEqual(b.link.frames(), []);
  });

  it('join: catch-up, then synced, then the live messages that came meanwhile, none twice', async () => {
    const p = await protocol();
    const room = randomRoom();
    for (let i = 0; i < 5; i++) await store.append(room, randomId(), 'Ym9keQ');
    const s = helloed(p);
    const joining = s.session.onLine(joinFrame(room, s.challenge, { rid: 1, since: 2 }));
    assert.ok(joining instanceof Promise, 'a join with a catch-up holds the later frames');
    // While the catch-up is read: seq 5 (covered by it) and seq 6 (live) are published.
    p.publish(room, 5, 1, randomId(), 'Ym9keQ', undefined);
    p.publish(room, 6, 1, randomId(), 'Ym9keQ', undefined);
    await joining;
    const frames = s.link.frames();
    assert.deepEqual(frames.map((f) => (f.t === 'msg' && f.eph !== true ? `msg${f.seq}` : f.t)), ['joined', 'msg3', 'msg4', 'msg5', 'synced', 'msg6']);
    assert.deepEqual(frames[4], { t: 'synced', rid: 1, room, head: 5, from: 3 });
  });

  it('history: the page after its messages, live frames after the page', async () => {
    const p = await protocol();
    const room = randomRoom();
    const s = await joinedIn(p, room);
    for (let i = 0; i < 4; i++) await store.append(room, randomId(), 'Ym9keQ');
    const paging = s.session.onLine(line({ t: 'history', rid: 9, room, before: 4, limit: 2 }));
    p.publishEphemeral(room, randomId(), 'dHlwaW5n', new ScriptedLink());
    await paging;
    const frames = s.link.frames();
    assert.deepEqual(frames.map((f) => (f.t === 'msg' ? (f.eph === true ? 'eph' : `msg${f.seq}`) : f.t)), ['msg2', 'msg3', 'page', 'eph']);
    assert.deepEqual(frames[2], { t: 'page', rid: 9, room, from: 2, to: 3, more: true });
  });

  it('bye: later frames get shutting_down and a close, and are not processed', async () => {
    const p = await protocol();
    const room = randomRoom();
    const s = await joinedIn(p, room);
    s.session.bye();
    s.session.onLine(line({ t: 'send', rid: 4, room, id: randomId(), body: 'Ym9keQ' }));
    assert.deepEqual(s.link.frames(), [
      { t: 'bye', reason: 'shutdown' },
      { t: 'error', rid: 4, code: 'shutting_down', message: 'the relay is stopping' },
    ]);
    assert.equal(s.link.closedBy, 'end:shutting_down');
    assert.equal(s.link.tracked.length, 0);
    assert.equal(store.head(room), 0);
  });

  it('close: the session leaves its rooms, and gets nothing of them afterwards', async () => {
    const p = await protocol();
    const room = randomRoom();
    const a = await joinedIn(p, room);
    const b = await joinedIn(p, room);
    assert.equal(a.session.close(), 1);
    assert.equal(a.session.roomCount, 0);
    b.session.onLine(line({ t: 'send', room, id: randomId(), body: 'Ym9keQ' }));
    await Promise.all(b.link.tracked);
    assert.deepEqual(a.link.frames(), []);
  });

  it('rate: over the burst a send is rate_limited, not stored, and logged once', async () => {
    const p = await protocol({ rate: 1, burst: 2 });
    const room = randomRoom();
    const s = await joinedIn(p, room);
    for (let i = 0; i < 4; i++) s.session.onLine(line({ t: 'send', rid: i, room, id: randomId(), body: 'Ym9keQ' }));
    await Promise.all(s.link.tracked);
    // Refusals are written at once; the acks once the store has the two messages.
    assert.deepEqual(s.link.frames().map((f) => (f.t === 'error' ? `${f.code}${f.rid}` : f.t === 'ack' ? `ack${f.rid}` : f.t)), ['rate_limited2', 'rate_limited3', 'ack0', 'ack1']);
    assert.equal(s.session.rateLimited, 2);
    assert.equal(logged.filter((l) => l.event === 'limit' && l.fields?.limit === 'rate').length, 1);
    assert.equal(store.head(room), 2);
  });

  it('a store that cannot write: internal for the send, no ack, no msg', async () => {
    const p = await protocol();
    const room = randomRoom();
    const a = await joinedIn(p, room);
    const b = await joinedIn(p, room);
    store.failAppends = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
    a.session.onLine(line({ t: 'send', rid: 5, room, id: randomId(), body: 'Ym9keQ' }));
    await Promise.all(a.link.tracked);
    assert.deepEqual(a.link.frames(), [{ t: 'error', rid: 5, code: 'internal', message: 'the relay could not store the message; send it again later' }]);
    assert.deepEqual(b.link.frames(), []);
    assert.ok(logged.some((l) => l.event === 'append_failed' && l.fields?.error === 'ENOSPC: disk full'));
  });

  it('admin: a wrong token is bad_request; the right one asks the relay to stop', async () => {
    const p = await protocol();
    const s = helloed(p);
    s.session.onLine(line({ t: 'admin', rid: 1, op: 'shutdown', token: 'nope' }));
    assert.deepEqual(s.link.frames(), [{ t: 'error', rid: 1, code: 'bad_request', message: 'wrong or missing admin token' }]);
    assert.deepEqual(shutdowns, []);
    const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
    s.session.onLine(line({ t: 'admin', op: 'shutdown', token }));
    assert.deepEqual(shutdowns, ['admin']);
  });

  it('a framing error: its error, then a close', async () => {
    const p = await protocol();
    const s = helloed(p);
    s.session.onDecodeError('frame_too_large');
    assert.deepEqual(s.link.frames(), [{ t: 'error', code: 'frame_too_large', message: `line longer than maxFrame (${DEFAULT_RELAY_OPTIONS.maxFrame} bytes)` }]);
    assert.equal(s.link.closedBy, 'end:frame_too_large');
  });

  /** A session past hello that joined `room` with a real proof (its joined/synced taken). */
  async function joinedIn(p: RelayProtocol, room: string): Promise<{ link: ScriptedLink; session: Session }> {
    const s = helloed(p);
    await s.session.onLine(joinFrame(room, s.challenge));
    assert.deepEqual(s.link.types(), ['joined', 'synced']);
    s.link.take();
    return s;
  }
});
