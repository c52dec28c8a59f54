// The client's promises against a lying relay (issue 7 §2.1, §2.6; docs/protocol.md §1.4, §1.6,
// §1.5, §2.4, §2.8), each an attack script of a1 turned into a test: a scripted relay (a real TCP
// server on 127.0.0.1 that speaks the protocol by hand, with envelopes sealed with the room key
// as a relay that stored them would hold) against a real RelayClient over real sockets.
//  1. a catch-up that never ends (msg frames after `joined`, never `synced`), or a catch-up msg
//     outside (since, head], or a history page over its `limit`, is a protocol violation: the
//     client drops it and reconnects, so its memory is bounded by limit × maxFrame;
//  2. a page that makes no progress ends the paging (no request storm);
//  3. replays: a seq already shown under another id is dropped; a message shown in an earlier
//     run that legitimately comes again as history is marked `shownBefore`; a dropped replay
//     never advances lastSeq;
//  4. presence and typing are checked against the keys known from messages (§2.4).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateIdentity, generateMessageId, generateRoomKey, RoomCipher } from '../../src/core/crypto/index';
import type { Identity } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage, ClientError, PresenceUpdate, RelayClientOptions, ShownIdsStore, TypingEvent } from '../../src/core/client/index';
import { ShownWindow } from '../../src/core/client/shownWindow';
import { KnownKeys } from '../../src/core/keys/knownKeys';
import { MemoryStateStore } from '../../src/core/keys/stores';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { fingerprint } from '../../src/core/crypto/index';
import { CLI_PATH } from '../helpers/relayProcess';
import { ScriptedRelay } from '../helpers/scriptedRelay';
import { until } from '../helpers/until';

type Frame = Record<string, unknown> & { t: string };

/** A stored message as the relay holds it: sealed by its sender with the room key. */
interface Stored { id: string; body: string }
function seal(cipher: RoomCipher, sender: Identity, name: string, text: string, id = generateMessageId()): Stored {
  return { id, body: cipher.seal({ id, ts: Date.now(), name, type: 'text', text }, sender) };
}
function msg(room: string, seq: number, m: Stored): Frame {
  return { t: 'msg', room, seq, ts: Date.now(), id: m.id, body: m.body };
}

/** A shown-ids store in memory (the ShownIdsStore of a client; a restart reuses it). */
function memoryShown(): ShownIdsStore & { records: Map<string, unknown> } {
  const records = new Map<string, unknown>();
  return { records, load: (room) => records.get(room), save: (room, r) => void records.set(room, JSON.parse(JSON.stringify(r))) };
}

interface Run {
  c: RelayClient;
  errors: ClientError[];
  messages: ChatMessage[];
  presence: PresenceUpdate[];
  typing: TypingEvent[];
  logs: { event: string; fields?: Record<string, unknown> }[];
  synced: number;
}

describe('RelayClient against a lying relay (issue 7 §2.1, §2.6)', function () {
  this.timeout(60_000);
  let relay: ScriptedRelay;
  const clients: RelayClient[] = [];
  const key = generateRoomKey();
  const cipher = new RoomCipher(key);
  const room = cipher.room;
  const alice = generateIdentity();

  const make = (extra: Partial<RelayClientOptions> = {}, lastSeq?: number): Run => {
    const logs: Run['logs'] = [];
    const c = new RelayClient({
      host: '127.0.0.1', port: relay.port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'bob',
      transport: createTcpTransport, log: (event, fields) => logs.push(fields === undefined ? { event } : { event, fields }),
      ...extra, tuning: { reconnectBaseMs: 50, reconnectMaxMs: 200, lastSeqFlushMs: 20, ...extra.tuning },
    });
    clients.push(c);
    const r: Run = { c, errors: [], messages: [], presence: [], typing: [], logs, synced: 0 };
    c.on('error', (e) => r.errors.push(e));
    c.on('message', (m) => r.messages.push(m));
    c.on('presence', (p) => r.presence.push(p));
    c.on('typing', (t) => r.typing.push(t));
    c.on('synced', () => r.synced++);
    c.connect();
    c.join(lastSeq === undefined ? { key, name: 'team' } : { key, name: 'team', lastSeq });
    return r;
  };
  const protocolErrors = (r: Run): number => r.errors.filter((e) => e.code === 'protocol_error').length;

  beforeEach(async () => {
    relay = await ScriptedRelay.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await relay.close();
  });

  describe('1. catch-up bounds (§1.4, §1.6)', () => {
    it('a catch-up that never ends (head 2^53-2, msg frames, never synced) is refused after `limit` messages and the client reconnects', async () => {
      const one = seal(cipher, alice, 'alice', 'x'.repeat(16_000));
      const flood = 5_000;
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: Number.MAX_SAFE_INTEGER - 1, sid: 's1' });
        // The a1 script sends forever; 5 000 frames (25× the fresh join's limit of 200) is enough.
        for (let seq = 1; seq <= flood && c.index === 0; seq++) c.send(msg(room, seq, one));
      };
      const r = make();
      await until('a protocol error', () => protocolErrors(r) > 0);
      await until('a reconnect', () => relay.conns.length >= 2);
      const join = relay.sent('join')[0]!;
      assert.equal(join.limit, 200);
      assert.equal(r.messages.length, 0, 'nothing of the refused catch-up is shown');
      assert.ok(r.logs.some((l) => l.event === 'protocol_error' && /limit/.test(String(l.fields?.what))), JSON.stringify(r.logs.filter((l) => l.event === 'protocol_error')));
    });

    it('a catch-up msg at or below `since` (a restart with since 5 gets m1..m5 again) is refused, nothing is shown twice', async () => {
      const stored = [1, 2, 3, 4, 5].map((i) => seal(cipher, alice, 'alice', `m${i}`));
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 5, sid: 's1' });
        if (c.index === 0) stored.forEach((m, i) => c.send(msg(room, i + 1, m)));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 5, from: c.index === 0 ? 1 : 6 });
      };
      const r = make({}, 5);
      await until('a protocol error', () => protocolErrors(r) > 0);
      await until('synced after the reconnect', () => r.synced > 0);
      assert.equal(relay.sent('join')[0]!.since, 5);
      assert.equal(r.messages.length, 0);
      assert.equal(r.c.lastSeq(room), 5);
    });

    it('a catch-up msg above `head` is refused', async () => {
      const m = seal(cipher, alice, 'alice', 'from the future');
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 3, sid: 's1' });
        if (c.index === 0) c.send(msg(room, 9, m));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 3, from: 4 });
      };
      const r = make();
      await until('a protocol error', () => protocolErrors(r) > 0);
      assert.equal(r.messages.length, 0);
    });

    it('a history page with more messages than its `limit`, or at or above `before`, is refused', async () => {
      const stored = Array.from({ length: 20 }, (_, i) => seal(cipher, alice, 'alice', `m${i + 1}`));
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f)) return;
        if (f.t === 'join') {
          c.send({ t: 'joined', rid: f.rid, room: f.room, head: 20, sid: 's1' });
          c.send(msg(room, 20, stored[19]!));
          c.send({ t: 'synced', rid: f.rid, room: f.room, head: 20, from: 20 });
        } else if (f.t === 'history') {
          // Asked for `limit` below `before`: sends everything from 1 (and, on the second
          // connection, one message at `before` itself).
          const before = Number(f.before);
          const from = c.index === 0 ? 1 : before;
          for (let s = from; s < before || (c.index > 0 && s === before); s++) c.send(msg(room, s, stored[s - 1]!));
          c.send({ t: 'page', rid: f.rid, room: f.room, from, to: before - 1, more: false });
        }
      };
      const r = make({ tuning: { initialHistory: 5 } });
      await until('two protocol errors', () => protocolErrors(r) >= 2);
      const h = relay.sent('history');
      assert.ok(Number(h[0]!.limit) <= 4, `asked for at most 4, got ${String(h[0]!.limit)}`);
      assert.equal(r.messages.length, 0);
    });
  });

  describe('1b. a resuming catch-up is bounded too', () => {
    it('a relay far ahead (head 10^6, since 5) answering every page in full: the catch-up stops at the replay window, `more` says older remain', async () => {
      const one = seal(cipher, alice, 'alice', 'again');
      const head = 1_000_000;
      let syncedMore: boolean | undefined;
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f)) return;
        if (f.t === 'join') {
          c.send({ t: 'joined', rid: f.rid, room: f.room, head, sid: 's1' });
          const n = Number(f.limit);
          for (let s = head - n + 1; s <= head; s++) c.send(msg(room, s, one));
          c.send({ t: 'synced', rid: f.rid, room: f.room, head, from: head - n + 1 });
        } else if (f.t === 'history') {
          const before = Number(f.before);
          const n = Number(f.limit);
          for (let s = before - n; s < before; s++) c.send(msg(room, s, one));
          c.send({ t: 'page', rid: f.rid, room: f.room, from: before - n, to: before - 1, more: true });
        }
      };
      const r = make({ tuning: { shownIds: 50, joinLimit: 10, historyLimit: 10 } }, 5);
      r.c.on('synced', (e) => (syncedMore = e.more));
      await until('synced (or a paging storm)', () => r.synced > 0 || relay.sent('history').length > 200);
      assert.equal(r.synced, 1);
      assert.equal(syncedMore, true);
      const asked = relay.sent('history').length;
      assert.ok(asked <= 5, `${asked} history requests`);
      assert.equal(protocolErrors(r), 0);
      assert.equal(r.c.lastSeq(room), head);
    });
  });

  describe('2. paging must progress (§1.6)', () => {
    it('a page {from: before, more: true} with no messages stops the paging: one request, not a storm', async () => {
      const top = seal(cipher, alice, 'alice', 'newest');
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f)) return;
        if (f.t === 'join') {
          c.send({ t: 'joined', rid: f.rid, room: f.room, head: 1000, sid: 's1' });
          c.send(msg(room, 1000, top));
          c.send({ t: 'synced', rid: f.rid, room: f.room, head: 1000, from: 1000 });
        } else if (f.t === 'history') {
          c.send({ t: 'page', rid: f.rid, room: f.room, from: f.before, to: 0, more: true });
        }
      };
      const r = make();
      // The catch-up ends with what came (a relay with a damaged store may send such a page
      // honestly, so it is no reason to reconnect); on main it asked again and again, forever.
      await until('synced', () => r.synced > 0 || relay.sent('history').length > 50);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(relay.sent('history').length, 1);
      assert.equal(r.synced, 1);
      assert.deepEqual(r.messages.map((m) => m.text), ['newest']);
      assert.ok(r.logs.some((l) => l.event === 'protocol_violation'));
      assert.equal(relay.conns.length, 1, 'no reconnect');
    });
  });

  describe('3. replays (§1.5, §2.8)', () => {
    it('a new message under a seq already shown (another id) is dropped as a replay, and later shown once under its real seq', async () => {
      const m1 = seal(cipher, alice, 'alice', 'm1');
      const m2 = seal(cipher, alice, 'alice', 'm2');
      const shown = memoryShown();
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 1, sid: 's1' });
        c.send(msg(room, 1, m1));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 1, from: 1 });
        c.send(msg(room, 1, m2)); // m2 under m1's seq
        c.send(msg(room, 2, m2)); // m2 under its real seq
      };
      const r = make({ shownIds: shown });
      await until('m1 and m2', () => r.messages.length >= 2 && r.c.lastSeq(room) === 2);
      assert.deepEqual(r.messages.map((m) => [m.seq, m.text]), [[1, 'm1'], [2, 'm2']]);
      assert.ok(r.logs.some((l) => l.event === 'replay' && l.fields?.seq === 1), 'logged as a replay');
      await r.c.disconnect();
      const w = ShownWindow.fromRecord(100, shown.records.get(room)).window;
      assert.equal(w.seqOf(m2.id), 2);
    });

    it('a fresh join (since 0) that gets back messages shown in an earlier run marks them shownBefore', async () => {
      const stored = [1, 2, 3].map((i) => seal(cipher, alice, 'alice', `m${i}`));
      const shown = memoryShown();
      const w = new ShownWindow(100);
      w.record(stored[0]!.id, 1);
      w.record(stored[1]!.id, 2);
      shown.records.set(room, w.toRecord());
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 3, sid: 's1' });
        stored.forEach((m, i) => c.send(msg(room, i + 1, m)));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 3, from: 1 });
      };
      const r = make({ shownIds: shown });
      await until('synced', () => r.synced > 0);
      assert.deepEqual(r.messages.map((m) => [m.seq, m.shownBefore === true]), [[1, true], [2, true], [3, false]]);
    });

    it('a replay that is dropped does not advance lastSeq (so a restart does not re-sync from 0)', async () => {
      const m1 = seal(cipher, alice, 'alice', 'm1');
      const m2 = seal(cipher, alice, 'alice', 'm2');
      const saved: number[] = [];
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 1, sid: 's1' });
        c.send(msg(room, 1, m1));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 1, from: 1 });
        c.send(msg(room, 2, m1)); // m1 replayed live under a new seq
        c.send(msg(room, 3, m1));
        c.send(msg(room, 2, m2)); // then the real seq 2
      };
      const r = make({ saveLastSeq: (_room, seq) => saved.push(seq) });
      await until('m2', () => r.messages.some((m) => m.text === 'm2'));
      await until('lastSeq 2', () => r.c.lastSeq(room) === 2);
      assert.deepEqual(r.messages.map((m) => m.seq), [1, 2]);
      // The replays were not counted: seq 3 was never accepted.
      await r.c.disconnect();
      assert.equal(Math.max(...saved), 2);
    });
  });

  describe('4. presence and typing under a known name (§2.4)', () => {
    it('a presence tag or typing under a name known with another key, or like the own name, is marked keyChanged', async () => {
      const mallory = generateIdentity();
      const hello = seal(cipher, alice, 'alice', 'hello');
      const tags = {
        realAlice: cipher.sealPresence('alice', alice),
        fakeAlice: cipher.sealPresence('alice', mallory),
        fakeBob: cipher.sealPresence('b\u043Eb', mallory),
        carol: cipher.sealPresence('carol', mallory),
      };
      relay.onFrame = (c, f) => {
        if (relay.welcome(c, f) || f.t !== 'join') return;
        c.send({ t: 'joined', rid: f.rid, room: f.room, head: 1, sid: 's1' });
        c.send(msg(room, 1, hello));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head: 1, from: 1 });
        c.send({ t: 'presence', room: f.room, online: 5, members: [
          { sid: 's1', tag: f.tag }, { sid: 's2', tag: tags.realAlice }, { sid: 's3', tag: tags.fakeAlice },
          { sid: 's4', tag: tags.fakeBob }, { sid: 's5', tag: tags.carol },
        ] });
        const tid = generateMessageId();
        c.send({ t: 'msg', room: f.room, id: tid, eph: true, body: cipher.seal({ id: tid, ts: Date.now(), name: 'alice', type: 'typing' }, mallory) });
        const rid2 = generateMessageId();
        c.send({ t: 'msg', room: f.room, id: rid2, eph: true, body: cipher.seal({ id: rid2, ts: Date.now(), name: 'alice', type: 'typing' }, alice) });
      };
      const r = make({ knownKeys: new KnownKeys(new MemoryStateStore()) });
      await until('presence', () => r.presence.some((p) => p.members.length === 5));
      await until('two typing events', () => r.typing.length === 2);
      const p = r.presence.find((x) => x.members.length === 5)!;
      const bySid = new Map(p.members.map((m) => [m.sid, m]));
      assert.equal(bySid.get('s1')!.keyChanged, false, 'own entry');
      assert.equal(bySid.get('s2')!.keyChanged, false, 'the real alice');
      assert.equal(bySid.get('s3')!.keyChanged, true, "alice's name under Mallory's key");
      assert.equal(bySid.get('s4')!.keyChanged, true, 'a look-alike of the own name');
      assert.equal(bySid.get('s5')!.keyChanged, false, 'a name never seen in a message');
      assert.deepEqual(r.typing.map((t) => t.keyChanged), [true, false]);
    });
  });
});

/** `smc chat` (interactive on a pipe, or --json) on a home of its own, stdout read line by line. */
class Chat {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;
  constructor(home: string, invite: string, args: string[]) {
    this.child = spawn(process.execPath, [CLI_PATH, 'chat', ...args, '--name', 'bob', invite], { env: { ...process.env, SMC_HOME: home, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.lines.push(l));
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
    this.exit = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }
  type(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }
}

describe('smc chat against a lying relay (issue 7 §2.1, §2.6)', function () {
  this.timeout(60_000);
  let relay: ScriptedRelay;
  let dir: string;
  const chats: Chat[] = [];
  const key = generateRoomKey();
  const cipher = new RoomCipher(key);
  const room = cipher.room;
  const alice = generateIdentity();

  beforeEach(async () => {
    relay = await ScriptedRelay.start();
    dir = mkdtempSync(join(tmpdir(), 'smc-attack-cli-'));
  });
  afterEach(async () => {
    for (const c of chats.splice(0)) c.child.kill('SIGKILL');
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const invite = (): string => `smc://127.0.0.1:${relay.port}/team#${key.toString('base64url')}`;

  it('--json: a re-sync from 0 (the relay is behind) does not print again what an earlier run printed', async () => {
    const stored = [1, 2, 3].map((i) => seal(cipher, alice, 'alice', `m${i}`));
    let head = 3;
    relay.onFrame = (c, f) => {
      if (relay.welcome(c, f)) return;
      if (f.t === 'join') {
        c.send({ t: 'joined', rid: f.rid, room: f.room, head, sid: `s${c.index}` });
        const since = Number(f.since);
        for (let s = since + 1; s <= head; s++) c.send(msg(room, s, stored[s - 1]!));
        c.send({ t: 'synced', rid: f.rid, room: f.room, head, from: since < head ? since + 1 : head + 1 });
      } else if (f.t === 'history') {
        const before = Number(f.before);
        for (let s = Math.max(1, before - Number(f.limit)); s < before; s++) c.send(msg(room, s, stored[s - 1]!));
        c.send({ t: 'page', rid: f.rid, room: f.room, from: before > 1 ? Math.max(1, before - Number(f.limit)) : 0, to: before - 1, more: false });
      }
    };
    const home = join(dir, 'bob');
    const first = new Chat(home, invite(), ['--json']);
    chats.push(first);
    first.child.stdin!.end();
    assert.equal(await first.exit, 0, first.stderr.join('\n'));
    assert.deepEqual(first.lines.map((l) => (JSON.parse(l) as { text: string }).text), ['m1', 'm2', 'm3']);
    // The relay lost m3 (head 2 < since 3): the client syncs again from 0 (§1.4) and gets m1, m2
    // under the seqs they were printed under.
    head = 2;
    const second = new Chat(home, invite(), ['--json']);
    chats.push(second);
    second.child.stdin!.end();
    assert.equal(await second.exit, 0, second.stderr.join('\n'));
    assert.ok(relay.sent('history').some((h) => Number(h.before) === 3), 'the re-sync paged back');
    assert.deepEqual(second.lines, [], 'nothing printed again');
  });

  it('interactive: presence and typing under a known name with another key, or like the own name, are marked; /verify lists every key', async () => {
    const mallory = generateIdentity();
    const hello = seal(cipher, alice, 'alice', 'hi, I am alice');
    relay.onFrame = (c, f) => {
      if (relay.welcome(c, f)) return;
      if (f.t === 'leave') return c.send({ t: 'left', rid: f.rid, room: f.room });
      if (f.t !== 'join') return;
      c.send({ t: 'joined', rid: f.rid, room: f.room, head: 1, sid: 's1' });
      c.send(msg(room, 1, hello));
      c.send({ t: 'synced', rid: f.rid, room: f.room, head: 1, from: 1 });
      c.send({ t: 'presence', room: f.room, online: 3, members: [
        { sid: 's1', tag: f.tag }, { sid: 's3', tag: cipher.sealPresence('alice', mallory) }, { sid: 's4', tag: cipher.sealPresence('b\u043Eb', mallory) },
      ] });
      const tid = generateMessageId();
      c.send({ t: 'msg', room: f.room, id: tid, eph: true, body: cipher.seal({ id: tid, ts: Date.now(), name: 'alice', type: 'typing' }, mallory) });
    };
    const chat = new Chat(join(dir, 'bob'), invite(), []);
    chats.push(chat);
    const detail = (): string => chat.lines.join('\n');
    await until('presence shown', () => chat.has(/alice \(KEY CHANGED\) is here/) && chat.has(/b\u043Eb \(KEY CHANGED\) is here/)).catch((e: Error) => {
      throw new Error(`${e.message}\n${detail()}`);
    });
    // The prompt shows who types: Mallory typing as alice is marked.
    chat.type('/help');
    await until('typing marked', () => chat.has(/\(alice \(KEY CHANGED\) typing\)/)).catch((e: Error) => {
      throw new Error(`${e.message}\n${detail()}`);
    });
    chat.type('/who');
    await until('/who', () => chat.has(/alice \(\w{4} \w{4}\) \[KEY CHANGED/)).catch((e: Error) => {
      throw new Error(`${e.message}\n${detail()}`);
    });
    chat.type('/verify alice');
    await until('/verify lists both keys', () => chat.has(/2 different keys claim the name alice/)).catch((e: Error) => {
      throw new Error(`${e.message}\n${detail()}`);
    });
    const realFp = fingerprint(alice.publicKey);
    const fakeFp = fingerprint(mallory.publicKey);
    const realLine = chat.lines.find((l) => l.includes(realFp));
    const fakeLine = chat.lines.find((l) => l.includes(fakeFp) && /another key/.test(l));
    assert.ok(realLine !== undefined && /known under/.test(realLine), detail());
    assert.ok(fakeLine !== undefined && /presence/.test(fakeLine), detail());
    assert.match(realLine, /^\s+1\./);
    chat.type('');
    await until('nothing trusted', () => chat.has(/Not trusted: nothing changed for alice/));
    // A look-alike of the own name is never another key's to trust.
    chat.type('/verify b\u043Eb');
    await until('own name refused', () => chat.has(/looks like\) your own name/));
    chat.type('/stop');
    assert.equal(await chat.exit, 0);
  });
});
