// Conformance of the real relay process, over real TCP, to PROTOCOL.md §1: one test per rule.
// The relay is `node dist/cli.js relay` (npm test builds it first). Tests that need special
// options start their own relay; the others share one per describe block, each in fresh rooms.
// The whole suite runs twice: on the embedded store, and on PostgreSQL (`--postgres`, issue 9;
// test/helpers/relayStores.ts), where the protocol must hold just the same.
import { strict as assert } from 'node:assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { LIMITS } from '../../src/core/wire/frames';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { LineClient, RelayProcess, REPO_ROOT, randomId, randomRoom, type Frame } from '../helpers/relayProcess';
import { RELAY_STORES } from '../helpers/relayStores';

/** A valid b64u body of exactly `n` chars (n not of the form 4k+1). */
function body(n: number, fill = 'A'): string {
  return fill.repeat(n);
}

for (const store of RELAY_STORES) describe(`relay conformance (PROTOCOL.md §1)${store.suffix}`, function () {
  this.timeout(30_000);
  const clients: LineClient[] = [];
  const relays: RelayProcess[] = [];

  before(() => store.setUp());

  async function startRelay(args: string[] = [], env: Record<string, string> = {}, dataDir?: string): Promise<RelayProcess> {
    const relay = await RelayProcess.start({ args: [...store.args(), ...args], env, ...(dataDir ? { dataDir } : {}) });
    relays.push(relay);
    return relay;
  }

  async function raw(relay: RelayProcess): Promise<LineClient> {
    const c = await relay.connect();
    clients.push(c);
    return c;
  }

  async function client(relay: RelayProcess): Promise<LineClient> {
    const c = await raw(relay);
    const w = await c.hello();
    assert.equal(w.t, 'welcome');
    return c;
  }

  async function join(c: LineClient, room: string, extra: Record<string, unknown> = {}): Promise<{ joined: Frame; msgs: Frame[]; synced: Frame }> {
    const joined = await c.request({ t: 'join', room, ...extra });
    assert.equal(joined.t, 'joined', JSON.stringify(joined));
    const msgs: Frame[] = [];
    for (;;) {
      const f = await c.next((x) => (x.t === 'msg' && x.room === room) || (x.t === 'synced' && x.room === room));
      if (f.t === 'synced') return { joined, msgs, synced: f };
      msgs.push(f);
    }
  }

  async function send(c: LineClient, room: string, b = body(8), id = randomId()): Promise<Frame> {
    const ack = await c.request({ t: 'send', room, id, body: b });
    assert.equal(ack.t, 'ack', JSON.stringify(ack));
    return ack;
  }

  /** Sends many messages pipelined and waits for all acks. */
  async function sendMany(c: LineClient, room: string, n: number, b = body(8)): Promise<Frame[]> {
    const ids = Array.from({ length: n }, () => randomId());
    c.sendRaw(ids.map((id) => JSON.stringify({ t: 'send', room, id, body: b }) + '\n').join(''));
    const acks: Frame[] = [];
    for (const id of ids) acks.push(await c.next((f) => (f.t === 'ack' && f.id === id) || f.t === 'error', 20_000));
    for (const a of acks) assert.equal(a.t, 'ack', JSON.stringify(a));
    return acks;
  }

  /** Asserts the connection stays open: a ping still gets its pong. */
  async function assertOpen(c: LineClient): Promise<void> {
    const pong = await c.request({ t: 'ping' });
    assert.equal(pong.t, 'pong');
  }

  async function assertClosedAfterError(c: LineClient, code: string, rid?: number): Promise<void> {
    const e = await c.next();
    assert.equal(e.t, 'error', JSON.stringify(e));
    assert.equal(e.code, code);
    assert.equal(typeof e.message, 'string');
    assert.equal(e.rid, rid);
    await c.waitClosed();
  }

  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });

  after(async () => {
    for (const r of relays.splice(0)) await r.cleanup();
  });
  after(() => store.tearDown());

  describe('with default options', () => {
    let relay: RelayProcess;
    before(async () => {
      relay = await startRelay();
    });

    // ---- §1.1 framing -----------------------------------------------------------------

    it('§1.1 a line of exactly maxFrame bytes (with \\n) passes; one byte more is frame_too_large and closes', async () => {
      const c = await client(relay);
      const pad = (n: number): string => {
        const base = '{"t":"ping","rid":1,"pad":""}\n';
        return `{"t":"ping","rid":1,"pad":"${'x'.repeat(n - base.length)}"}\n`;
      };
      assert.equal(Buffer.byteLength(pad(LIMITS.maxFrame)), LIMITS.maxFrame);
      c.sendRaw(pad(LIMITS.maxFrame));
      assert.deepEqual(await c.next(), { t: 'pong', rid: 1 });
      c.sendRaw(pad(LIMITS.maxFrame + 1));
      await assertClosedAfterError(c, 'frame_too_large');
    });

    it('§1.1 \\r\\n counts toward maxFrame', async () => {
      const c = await client(relay);
      const line = (n: number): string => `{"t":"ping","rid":2,"pad":"${'x'.repeat(n - 31)}"}\r\n`;
      assert.equal(Buffer.byteLength(line(LIMITS.maxFrame)), LIMITS.maxFrame);
      c.sendRaw(line(LIMITS.maxFrame));
      assert.deepEqual(await c.next(), { t: 'pong', rid: 2 });
      c.sendRaw(line(LIMITS.maxFrame + 1));
      await assertClosedAfterError(c, 'frame_too_large');
    });

    it('§1.1 an endless line is frame_too_large before any newline arrives', async () => {
      const c = await client(relay);
      c.sendRaw('{"t":"ping","pad":"' + 'x'.repeat(LIMITS.maxFrame + 10));
      await assertClosedAfterError(c, 'frame_too_large');
    });

    it('§1.1 empty lines are ignored and \\r\\n is tolerated', async () => {
      const c = await raw(relay);
      c.sendRaw('\n\r\n{"t":"hello","v":1}\r\n\n{"t":"ping","rid":3}\r\n');
      assert.equal((await c.next()).t, 'welcome');
      assert.deepEqual(await c.next(), { t: 'pong', rid: 3 });
    });

    it('§1.1 invalid UTF-8 is bad_frame and closes, also before hello', async () => {
      const c = await raw(relay);
      c.sendRaw(Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a]));
      await assertClosedAfterError(c, 'bad_frame');
      const d = await client(relay);
      d.sendRaw(Buffer.from([0xc0, 0xaf, 0x0a]));
      await assertClosedAfterError(d, 'bad_frame');
    });

    it('§1.1 lines before a fatal framing error in the same packet are still answered; none after it', async () => {
      const c = await client(relay);
      c.sendRaw(Buffer.concat([
        Buffer.from('{"t":"ping","rid":1}\n{"t":"ping","rid":2}\n'), Buffer.from([0xff, 0x0a]), Buffer.from('{"t":"ping","rid":3}\n'),
      ]));
      assert.deepEqual(await c.next(), { t: 'pong', rid: 1 });
      assert.deepEqual(await c.next(), { t: 'pong', rid: 2 });
      await assertClosedAfterError(c, 'bad_frame');
      assert.equal(c.received.length, 4);
    });

    it('§1.1 a line that is not a JSON object with a string t is bad_frame and closes', async () => {
      for (const line of ['not json', '[1,2]', '{"v":1}', '{"t":5}', 'null']) {
        const c = await client(relay);
        c.sendRaw(line + '\n');
        await assertClosedAfterError(c, 'bad_frame');
      }
      const before = await raw(relay);
      before.sendRaw('{"t":7}\n');
      await assertClosedAfterError(before, 'bad_frame');
    });

    it('§1.1 an unknown t is unknown_type, echoes rid, and the connection stays open; unknown fields are ignored', async () => {
      const c = await client(relay);
      c.send({ t: 'dance', rid: 11 });
      const e = await c.next();
      assert.deepEqual([e.t, e.code, e.rid], ['error', 'unknown_type', 11]);
      c.send({ t: 'ping', rid: 12, extra: { deep: [1, 2] } });
      assert.deepEqual(await c.next(), { t: 'pong', rid: 12 });
    });

    it('§1.1 a malformed rid is bad_request without rid; the connection stays open', async () => {
      const c = await client(relay);
      for (const rid of [-1, 1.5, '3', null, 2 ** 53]) {
        c.send({ t: 'ping', rid });
        const e = await c.next();
        assert.deepEqual([e.t, e.code, 'rid' in e], ['error', 'bad_request', false], JSON.stringify(rid));
      }
      await assertOpen(c);
    });

    // ---- §1.2 identifiers ---------------------------------------------------------------

    it('§1.2 a malformed room, id, body or tag is bad_request; the connection stays open', async () => {
      const c = await client(relay);
      const room = randomRoom();
      await join(c, room);
      const cases: Record<string, unknown>[] = [
        { t: 'join', room: 'short' },
        { t: 'join', room: room + 'A' },
        { t: 'join', room: room.slice(0, 21) + '=' },
        { t: 'join', room: room.slice(0, 21) + '+' },
        { t: 'join', room, tag: '' },
        { t: 'join', room, tag: 'abcde' },
        { t: 'join', room, tag: 'ab/c' },
        { t: 'join', room, tag: body(2050) },
        { t: 'send', room, id: 'x', body: 'AAAA' },
        { t: 'send', room, id: randomId(), body: '' },
        { t: 'send', room, id: randomId(), body: 'AAAAA' },
        { t: 'send', room, id: randomId(), body: 'AA==' },
        { t: 'send', room, id: randomId() },
        { t: 'send', room: 5, id: randomId(), body: 'AAAA' },
        { t: 'history', room, before: -1 },
        { t: 'history', room, limit: 'all' },
        { t: 'join', room, since: 1.5 },
      ];
      for (const frame of cases) {
        const e = await c.request(frame);
        assert.deepEqual([e.t, e.code], ['error', 'bad_request'], JSON.stringify(frame).slice(0, 100));
      }
      await assertOpen(c);
      const h = await c.request({ t: 'history', room });
      assert.deepEqual([h.t, h.from, h.to], ['page', 0, 0], 'nothing malformed was stored');
    });

    it('§1.2 body: maxFrame - 512 chars pass (and fan out within maxFrame)', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room);
      await join(b, room);
      const big = body(LIMITS.maxFrame - LIMITS.bodyOverhead, 'z');
      await send(a, room, big);
      const m = await b.nextOfType('msg');
      assert.equal(m.body, big);
      assert.ok(Buffer.byteLength(JSON.stringify(m)) + 1 <= LIMITS.maxFrame);
    });

    it('§1.2 tag: 2048 chars pass', async () => {
      const c = await client(relay);
      const room = randomRoom();
      await join(c, room, { tag: body(2048, 't') });
      const p = await c.nextOfType('presence');
      assert.equal(((p.members as Frame[])[0] as Frame).tag, body(2048, 't'));
    });

    // ---- §1.3 session -------------------------------------------------------------------

    it('§1.3 hello gets welcome: the client\'s v (1 or 2), agent, maxFrame, time, a challenge', async () => {
      for (const v of [2, 1]) {
        const c = await raw(relay);
        const before = Date.now();
        const w = await c.hello('smc-test/0', v);
        assert.equal(w.t, 'welcome');
        assert.equal(w.v, v);
        assert.match(w.agent as string, /^smc-relay\/\d+\.\d+\.\d+/);
        assert.equal(w.maxFrame, LIMITS.maxFrame);
        assert.ok((w.time as number) >= before - 2000 && (w.time as number) <= Date.now() + 2000);
        assert.match(w.challenge as string, /^[A-Za-z0-9_-]{43}$/);
      }
    });

    it('§1.3 a first frame other than hello is hello_required and closes', async () => {
      for (const frame of [{ t: 'ping', rid: 1 }, { t: 'join', room: randomRoom() }, { t: 'dance' }]) {
        const c = await raw(relay);
        c.send(frame);
        await assertClosedAfterError(c, 'hello_required', (frame as { rid?: number }).rid);
      }
    });

    it('§1.3 a missing or unknown v is unsupported_version and closes', async () => {
      for (const hello of [{ t: 'hello' }, { t: 'hello', v: 3 }, { t: 'hello', v: 0 }, { t: 'hello', v: '1' }]) {
        const c = await raw(relay);
        c.send(hello);
        await assertClosedAfterError(c, 'unsupported_version');
      }
    });

    it('§1.3 a second hello is bad_request and the connection stays open', async () => {
      const c = await client(relay);
      c.send({ t: 'hello', v: 1, rid: 4 });
      const e = await c.next();
      assert.deepEqual([e.t, e.code, e.rid], ['error', 'bad_request', 4]);
      await assertOpen(c);
    });

    it('§1.3 ping gets pong echoing rid (and without rid, none)', async () => {
      const c = await client(relay);
      c.send({ t: 'ping', rid: 7 });
      assert.deepEqual(await c.next(), { t: 'pong', rid: 7 });
      c.send({ t: 'ping' });
      assert.deepEqual(await c.next(), { t: 'pong' });
    });

    // ---- §1.4 rooms ---------------------------------------------------------------------

    it('§1.4 join: joined (rid, room, head 0, sid), synced (head, from head+1), presence with the tag', async () => {
      const c = await client(relay);
      const room = randomRoom();
      const { joined, msgs, synced } = await join(c, room, { tag: 'dGFn' });
      assert.equal(joined.room, room);
      assert.equal(joined.head, 0);
      assert.match(joined.sid as string, /^[A-Za-z0-9_-]{8,}$/);
      assert.deepEqual(msgs, []);
      assert.deepEqual({ ...synced, rid: undefined }, { t: 'synced', rid: undefined, room, head: 0, from: 1 });
      assert.equal(synced.rid, joined.rid);
      const p = await c.nextOfType('presence');
      assert.deepEqual(p, { t: 'presence', room, online: 1, members: [{ sid: joined.sid, tag: 'dGFn' }] });
    });

    it('§1.4 catch-up: stored messages with seq > since, oldest first, at most limit (the newest); from shows a gap', async () => {
      const a = await client(relay);
      const room = randomRoom();
      await join(a, room);
      const acks = await sendMany(a, room, 5);
      assert.deepEqual(acks.map((x) => x.seq), [1, 2, 3, 4, 5]);
      const b = await client(relay);
      const all = await join(b, room);
      assert.equal(all.joined.head, 5);
      assert.deepEqual(all.msgs.map((m) => m.seq), [1, 2, 3, 4, 5]);
      assert.deepEqual(all.msgs.map((m) => m.id), acks.map((x) => x.id));
      assert.equal(all.synced.from, 1);
      const since = await join(b, room, { since: 3 });
      assert.deepEqual(since.msgs.map((m) => m.seq), [4, 5]);
      assert.equal(since.synced.from, 4);
      const limited = await join(b, room, { since: 0, limit: 2 });
      assert.deepEqual(limited.msgs.map((m) => m.seq), [4, 5]);
      assert.equal(limited.synced.from, 4, 'from > since + 1: the client knows of a gap');
      const none = await join(b, room, { since: 1, limit: 0 });
      assert.deepEqual(none.msgs, []);
      assert.equal(none.synced.from, 6);
    });

    it('§1.4 since > head: joined with the head, nothing sent, synced from head + 1', async () => {
      const c = await client(relay);
      const room = randomRoom();
      await join(c, room);
      await sendMany(c, room, 2);
      const r = await join(c, room, { since: 50 });
      assert.equal(r.joined.head, 2);
      assert.deepEqual(r.msgs, []);
      assert.equal(r.synced.from, 3);
    });

    it('§1.4 a join again syncs again, replaces the tag, keeps one presence entry', async () => {
      const c = await client(relay);
      const room = randomRoom();
      const first = await join(c, room, { tag: 'b25l' });
      await c.nextOfType('presence');
      const again = await join(c, room, { tag: 'dHdv' });
      assert.equal(again.joined.sid, first.joined.sid);
      const p = await c.nextOfType('presence');
      assert.deepEqual(p.members, [{ sid: first.joined.sid, tag: 'dHdv' }]);
      assert.equal(p.online, 1);
    });

    it('§1.4 sids are unique per connection and per room', async () => {
      const a = await client(relay);
      const b = await client(relay);
      const r1 = randomRoom();
      const r2 = randomRoom();
      const sids = [
        (await join(a, r1)).joined.sid, (await join(a, r2)).joined.sid,
        (await join(b, r1)).joined.sid, (await join(b, r2)).joined.sid,
      ];
      assert.equal(new Set(sids).size, 4);
    });

    it('§1.4 presence goes to every member after a join, a leave and a disconnect', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const aj = await join(a, room, { tag: 'YWFh' });
      await a.nextOfType('presence', (p) => p.online === 1);
      const b = await client(relay);
      const bj = await join(b, room, { tag: 'YmJi' });
      const pa = await a.nextOfType('presence');
      const pb = await b.nextOfType('presence');
      const expected = [{ sid: aj.joined.sid, tag: 'YWFh' }, { sid: bj.joined.sid, tag: 'YmJi' }];
      assert.deepEqual([pa.online, pa.members], [2, expected]);
      assert.deepEqual([pb.online, pb.members], [2, expected]);
      const left = await b.request({ t: 'leave', room });
      assert.deepEqual(left, { t: 'left', rid: left.rid, room });
      assert.deepEqual((await a.nextOfType('presence')).members, [{ sid: aj.joined.sid, tag: 'YWFh' }]);
      const c = await client(relay);
      await join(c, room);
      await a.nextOfType('presence', (p) => p.online === 2);
      c.destroy();
      const after = await a.nextOfType('presence');
      assert.deepEqual([after.online, after.members], [1, [{ sid: aj.joined.sid, tag: 'YWFh' }]]);
    });

    it('§1.4 presence changes are coalesced: changes made together give one frame with the final state', async () => {
      const room = randomRoom();
      const a = await client(relay);
      await join(a, room);
      await a.nextOfType('presence');
      const b = await client(relay);
      // Join, leave, join again with a new tag, all in one write.
      b.sendRaw([
        { t: 'join', room, tag: 'Zmlyc3Q' }, { t: 'leave', room }, { t: 'join', room, tag: 'bGFzdA' },
      ].map((f) => JSON.stringify(b.withProof(f)) + '\n').join(''));
      const p = await a.nextOfType('presence');
      assert.equal(p.online, 2);
      assert.equal(((p.members as Frame[])[1] as Frame).tag, 'bGFzdA', 'the first presence frame already shows the final state');
    });

    it('§1.4 presence members are cut where the frame would exceed maxFrame; online counts everyone', async () => {
      const room = randomRoom();
      const tag = body(2048, 'q');
      const members: LineClient[] = [];
      for (let i = 0; i < 40; i++) {
        const c = await client(relay);
        c.send({ t: 'join', room, tag });
        members.push(c);
      }
      const last = members[members.length - 1] as LineClient;
      await last.nextOfType('synced');
      const p = await last.nextOfType('presence', (f) => f.online === 40, 10_000);
      const line = JSON.stringify(p) + '\n';
      assert.ok(Buffer.byteLength(line) <= LIMITS.maxFrame, `presence line is ${Buffer.byteLength(line)} bytes`);
      const listed = (p.members as Frame[]).length;
      assert.ok(listed < 40 && listed >= 25, `listed ${listed}`);
      assert.ok(Buffer.byteLength(line) + 2070 > LIMITS.maxFrame, 'cut no earlier than needed');
    });

    it('§1.4 leave gets left; leave, send and history in a room not joined are not_joined (open)', async () => {
      const c = await client(relay);
      const room = randomRoom();
      for (const frame of [{ t: 'leave', room }, { t: 'send', room, id: randomId(), body: 'AAAA' }, { t: 'history', room }]) {
        const e = await c.request(frame);
        assert.deepEqual([e.t, e.code], ['error', 'not_joined'], frame.t);
      }
      await join(c, room);
      const left = await c.request({ t: 'leave', room });
      assert.equal(left.t, 'left');
      const e = await c.request({ t: 'send', room, id: randomId(), body: 'AAAA' });
      assert.deepEqual([e.t, e.code], ['error', 'not_joined']);
      await assertOpen(c);
    });

    it('§1.4 at most 32 rooms per connection: the 33rd is too_many_rooms (open); a join again does not count', async () => {
      const c = await client(relay);
      const rooms = Array.from({ length: 32 }, () => randomRoom());
      for (const room of rooms) await join(c, room);
      const e = await c.request({ t: 'join', room: randomRoom() });
      assert.deepEqual([e.t, e.code], ['error', 'too_many_rooms']);
      await join(c, rooms[0] as string);
      await c.request({ t: 'leave', room: rooms[1] });
      await join(c, randomRoom());
      await assertOpen(c);
    });

    it('§1.4 between joined and synced only seq ≤ head; later messages follow synced, in order, each once', async () => {
      const room = randomRoom();
      const a = await client(relay);
      await join(a, room);
      const b = await client(relay);
      let joining: Promise<{ joined: Frame; msgs: Frame[]; synced: Frame }> | undefined;
      // Sends in batches, paced by their acks, so that b's join lands in the middle of the stream.
      for (let i = 0; i < 150; i += 10) {
        a.sendRaw(Array.from({ length: 10 }, () => JSON.stringify({ t: 'send', room, id: randomId(), body: 'QUFB' }) + '\n').join(''));
        if (i === 30) joining = join(b, room, { limit: 1000 });
        await a.nextOfType('ack', (f) => f.seq === i + 10, 10_000);
      }
      const r = await (joining as Promise<{ joined: Frame; msgs: Frame[]; synced: Frame }>);
      const head = r.joined.head as number;
      assert.ok(head >= 30 && head < 150, `head ${head}`);
      assert.equal(r.synced.head, head);
      assert.deepEqual(r.msgs.map((m) => m.seq), Array.from({ length: head }, (_, i) => i + 1));
      const later: number[] = [];
      while (later.length < 150 - head) later.push((await b.nextOfType('msg')).seq as number);
      assert.deepEqual(later, Array.from({ length: 150 - head }, (_, i) => head + 1 + i));
    });

    // ---- §1.5 messages ------------------------------------------------------------------

    it('§1.5 send gets ack (rid, room, id, seq, ts); the others get msg; the sender never gets msg', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room);
      await join(b, room);
      const id = randomId();
      const t0 = Date.now();
      const ack = await a.request({ t: 'send', room, id, body: 'aGVsbG8' });
      assert.deepEqual(Object.keys(ack).sort(), ['id', 'rid', 'room', 'seq', 't', 'ts']);
      assert.deepEqual([ack.t, ack.room, ack.id, ack.seq], ['ack', room, id, 1]);
      assert.ok(Math.abs((ack.ts as number) - t0) < 5_000);
      const m = await b.nextOfType('msg');
      assert.deepEqual(m, { t: 'msg', room, seq: 1, ts: ack.ts, id, body: 'aGVsbG8' });
      await assertOpen(a);
      assert.ok(!a.received.some((f) => f.t === 'msg'), 'the sender got no msg');
    });

    it('§1.5 seq starts at 1 and grows by 1 per stored message, across senders, delivered in order', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      const c = await client(relay);
      for (const x of [a, b, c]) await join(x, room);
      await Promise.all([sendMany(a, room, 30), sendMany(b, room, 30)]);
      const seen: number[] = [];
      while (seen.length < 60) seen.push((await c.nextOfType('msg')).seq as number);
      assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => i + 1));
    });

    it('§1.5 a resend of an acked id is acked with the original seq and ts, whatever the body, and not forwarded', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room);
      await join(b, room);
      const id = randomId();
      const first = await send(a, room, 'Zmlyc3Q', id);
      await b.nextOfType('msg');
      const again = await send(a, room, 'b3RoZXI', id);
      assert.deepEqual([again.seq, again.ts], [first.seq, first.ts]);
      const other = await send(a, room);
      const next = await b.nextOfType('msg');
      assert.equal(next.id, other.id, 'the duplicate was not forwarded');
      assert.equal(next.seq, 2);
    });

    it('§1.5 a resend that arrives before the first copy is acked is stored once, acked twice with one seq', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room);
      await join(b, room);
      const id = randomId();
      a.sendRaw(`{"t":"send","rid":1,"room":"${room}","id":"${id}","body":"b25l"}\n{"t":"send","rid":2,"room":"${room}","id":"${id}","body":"dHdv"}\n`);
      const ack1 = await a.next((f) => f.rid === 1);
      const ack2 = await a.next((f) => f.rid === 2);
      assert.deepEqual([ack1.t, ack2.t], ['ack', 'ack']);
      assert.equal(ack1.seq, ack2.seq);
      assert.equal(ack1.ts, ack2.ts);
      const marker = await send(a, room);
      const msgs = [await b.nextOfType('msg'), await b.nextOfType('msg')];
      assert.deepEqual(msgs.map((m) => m.id), [id, marker.id]);
      assert.equal(msgs[0]?.body, 'b25l');
      const h = await a.request({ t: 'history', room });
      assert.deepEqual([h.from, h.to], [1, 2]);
    });

    it('§1.5 ephemeral: ack without seq, forwarded with eph and no seq/ts, not stored, not deduplicated', async () => {
      const room = randomRoom();
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room);
      await join(b, room);
      const id = randomId();
      for (let i = 0; i < 2; i++) {
        const ack = await a.request({ t: 'send', room, id, body: 'dHlw', eph: true });
        assert.deepEqual(ack, { t: 'ack', rid: ack.rid, room, id });
        assert.deepEqual(await b.nextOfType('msg'), { t: 'msg', room, id, body: 'dHlw', eph: true });
      }
      const h = await a.request({ t: 'history', room });
      assert.deepEqual([h.from, h.to, h.more], [0, 0, false]);
      const c = await client(relay);
      assert.equal((await join(c, room)).joined.head, 0);
    });

    // ---- §1.6 history -------------------------------------------------------------------

    it('§1.6 history: newest `limit` before `before`, oldest first, then page with from/to/more', async () => {
      const room = randomRoom();
      const c = await client(relay);
      await join(c, room);
      await sendMany(c, room, 10);
      let historyRid = 1000;
      const collect = async (frame: Record<string, unknown>): Promise<{ seqs: number[]; page: Frame }> => {
        const rid = ++historyRid;
        c.send({ ...frame, rid });
        const seqs: number[] = [];
        for (;;) {
          const f = await c.next((x) => (x.t === 'msg' && x.room === room) || x.rid === rid);
          if (f.t !== 'msg') return { seqs, page: f };
          seqs.push(f.seq as number);
        }
      };
      const p1 = await collect({ t: 'history', room, before: 8, limit: 3 });
      assert.deepEqual(p1.seqs, [5, 6, 7]);
      assert.deepEqual([p1.page.t, p1.page.room, p1.page.from, p1.page.to, p1.page.more], ['page', room, 5, 7, true]);
      const p2 = await collect({ t: 'history', room, before: 5, limit: 100 });
      assert.deepEqual(p2.seqs, [1, 2, 3, 4]);
      assert.deepEqual([p2.page.from, p2.page.to, p2.page.more], [1, 4, false]);
      const p3 = await collect({ t: 'history', room });
      assert.deepEqual(p3.seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'before defaults to head + 1');
      const p4 = await collect({ t: 'history', room, before: 1 });
      assert.deepEqual([p4.seqs, p4.page.from, p4.page.to, p4.page.more], [[], 0, 0, false]);
      const p5 = await collect({ t: 'history', room, before: 4, limit: 0 });
      assert.deepEqual([p5.seqs, p5.page.from, p5.page.to, p5.page.more], [[], 0, 0, true]);
    });

    it('logs connections with address and counts, and never a body or a tag', async () => {
      const room = randomRoom();
      const secretBody = 'U2VjcmV0Qm9keU5ldmVyTG9nZ2Vk';
      const secretTag = 'U2VjcmV0VGFnTmV2ZXJMb2dnZWQ';
      const a = await client(relay);
      const b = await client(relay);
      await join(a, room, { tag: secretTag });
      await join(b, room);
      await send(a, room, secretBody);
      await b.nextOfType('msg');
      a.send({ t: 'send', room, id: 'bad', body: secretBody });
      await a.nextOfType('error');
      a.destroy();
      const close = await relay.waitForLog((r) => r.event === 'conn_close' && r.reason === 'peer_closed');
      assert.equal(typeof close.addr, 'string');
      assert.equal(typeof close.conns, 'number');
      const open = relay.logs.find((r) => r.event === 'conn_open');
      assert.match(String(open?.addr), /^127\.0\.0\.1:\d+$/);
      const all = JSON.stringify(relay.logs) + relay.otherOutput.join('');
      assert.ok(!all.includes(secretBody) && !all.includes(secretTag));
    });

    // ---- §1.7 admin ---------------------------------------------------------------------

    it('§1.7 the admin token file is created at first start with mode 0600 and a random value', () => {
      const path = pathJoin(relay.dataDir, 'admin-token');
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.match(readFileSync(path, 'utf8'), /^[A-Za-z0-9_-]{32,}\n$/);
    });

    it('§1.7 admin with a wrong or missing token is bad_request and the connection stays open', async () => {
      const c = await client(relay);
      for (const frame of [{ t: 'admin', op: 'shutdown', token: 'wrong' }, { t: 'admin', op: 'shutdown' }]) {
        const e = await c.request(frame);
        assert.deepEqual([e.t, e.code], ['error', 'bad_request']);
      }
      await assertOpen(c);
      await relay.waitForLog((r) => r.event === 'admin_denied');
      assert.ok(!relay.logs.some((r) => JSON.stringify(r).includes('wrong')), 'the token is not logged');
    });
  });

  // ---- relays with their own options ------------------------------------------------------

  it('§1.4 presence members are cut at 256 entries', async () => {
    // 260 connections from 127.0.0.1, on their own relay: above the default of 64 per address,
    // and 520 connection events, which would fold the log (--log-per-addr) for later tests.
    const relay = await startRelay(['--max-conns-per-ip', '300', '--log-per-addr', '0']);
    const room = randomRoom();
    const conns: LineClient[] = [];
    for (let i = 0; i < 260; i++) {
      const c = await client(relay);
      c.send({ t: 'join', room });
      conns.push(c);
    }
    const last = conns[conns.length - 1] as LineClient;
    const p = await last.nextOfType('presence', (f) => f.online === 260, 15_000);
    assert.equal((p.members as Frame[]).length, LIMITS.maxPresenceMembers);
    for (const c of conns) c.destroy();
    await relay.cleanup();
  });

  it('§1.2 with --max-frame 4098: a body of maxFrame - 512 chars passes, one more is bad_request', async () => {
    const relay = await startRelay(['--max-frame', '4098']);
    const c = await client(relay);
    const room = randomRoom();
    await join(c, room);
    await send(c, room, body(3586));
    const e = await c.request({ t: 'send', room, id: randomId(), body: body(3587) });
    assert.deepEqual([e.t, e.code], ['error', 'bad_request']);
    await relay.cleanup();
  });

  it('§1.3 a connection without a complete hello is closed without a frame (hello timeout)', async () => {
    const relay = await startRelay([], { SMC_RELAY_HELLO_TIMEOUT_MS: '1000' });
    const silent = await raw(relay);
    const partial = await raw(relay);
    partial.sendRaw('{"t":"hello",');
    const ok = await client(relay);
    await silent.waitClosed();
    await partial.waitClosed();
    assert.deepEqual(silent.received, []);
    assert.deepEqual(partial.received, []);
    await assertOpen(ok);
    await relay.cleanup();
  });

  it('§1.3 a connection silent for the idle timeout is closed without a frame; one that pings stays', async () => {
    const relay = await startRelay([], { SMC_RELAY_IDLE_TIMEOUT_MS: '1500' });
    const idle = await client(relay);
    const busy = await client(relay);
    const pinger = setInterval(() => busy.send({ t: 'ping' }), 100);
    try {
      await idle.waitClosed();
      assert.deepEqual(idle.received.map((f) => f.t), ['welcome']);
      assert.ok(busy.isOpen);
      await assertOpen(busy);
    } finally {
      clearInterval(pinger);
    }
    await relay.cleanup();
  });

  it('§1.7 rate limit: over --burst at --rate, send is rate_limited (open) and not processed; eph counts', async () => {
    const relay = await startRelay(['--rate', '1', '--burst', '10']);
    const c = await client(relay);
    const room = randomRoom();
    await join(c, room);
    const frames = Array.from({ length: 12 }, (_, i) => ({ t: 'send', rid: 100 + i, room, id: randomId(), body: 'QUFB', ...(i === 0 ? { eph: true } : {}) }));
    c.sendRaw(frames.map((f) => JSON.stringify(f) + '\n').join(''));
    const replies = [];
    for (const f of frames) replies.push(await c.next((x) => x.rid === f.rid));
    assert.deepEqual(replies.map((r) => r.t), [...Array(10).fill('ack'), 'error', 'error']);
    assert.deepEqual(replies.slice(10).map((r) => r.code), ['rate_limited', 'rate_limited']);
    const h = await c.request({ t: 'history', room });
    assert.equal(h.to, 9, 'the refused sends were not stored');
    await assertOpen(c);
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'rate');
    await relay.cleanup();
  });

  it('§1.7 --rate 0 lifts the rate limit', async () => {
    const relay = await startRelay(['--rate', '0', '--burst', '1']);
    const c = await client(relay);
    const room = randomRoom();
    await join(c, room);
    const acks = await sendMany(c, room, 300);
    assert.equal(acks[299]?.seq, 300);
    await relay.cleanup();
  });

  it('§1.4/§1.6 a limit over 1 000 counts as 1 000, for join and for history', async () => {
    const relay = await startRelay(['--rate', '0']);
    const c = await client(relay);
    const room = randomRoom();
    await join(c, room);
    for (let i = 0; i < 3; i++) await sendMany(c, room, 335);
    const r = await join(c, room, { since: 0, limit: 5000 });
    assert.equal(r.joined.head, 1005);
    assert.equal(r.msgs.length, 1000);
    assert.deepEqual([r.msgs[0]?.seq, r.msgs[999]?.seq, r.synced.from], [6, 1005, 6]);
    c.send({ t: 'history', rid: 77, room, limit: 100_000 });
    let n = 0;
    for (;;) {
      const f = await c.next((x) => x.t === 'msg' || x.rid === 77);
      if (f.t === 'page') {
        assert.deepEqual([f.from, f.to, f.more], [6, 1005, true]);
        break;
      }
      n++;
    }
    assert.equal(n, 1000);
    await relay.cleanup();
  });

  it('§1.6 a history reply streams over many turns; live messages of the room wait until after page', async () => {
    const relay = await startRelay(['--rate', '0']);
    const room = randomRoom();
    const reader = await client(relay);
    const sender = await client(relay);
    await join(reader, room);
    await join(sender, room);
    await sendMany(sender, room, 300, body(30_000, 'h'));
    for (let i = 0; i < 300; i++) await reader.nextOfType('msg');
    // The reader stops reading, so its 9 MB history stalls on the socket after a few chunks.
    reader.socket.pause();
    reader.send({ t: 'history', rid: 70, room, limit: 1000 });
    const live = await send(sender, room, body(12, 'L'));
    reader.socket.resume();
    const order: string[] = [];
    for (;;) {
      const f = await reader.next((x) => x.t === 'msg' || x.rid === 70, 30_000);
      if (f.t === 'page') order.push('page');
      else order.push(f.seq === live.seq ? 'live' : 'history');
      if (f.t === 'msg' && f.seq === live.seq) break;
    }
    assert.deepEqual(order.slice(-2), ['page', 'live'], 'the live message follows page');
    assert.equal(order.filter((o) => o === 'history').length, 300);
    await relay.cleanup();
  });

  it('§1.4/§1.6 a reply larger than the output bound streams whole as the client reads, the newest limit oldest first', async () => {
    // Issue 7 §1.2: replies stream from disk as the socket drains, so a reply needs no cut to
    // stay within --max-output: 12 × 30 KB is above the 256 KiB bound, and all of it arrives.
    const relay = await startRelay(['--rate', '0', '--max-output', '262144']);
    const c = await client(relay);
    const room = randomRoom();
    await join(c, room);
    await sendMany(c, room, 12, body(30_000, 'm'));
    const r = await join(c, room, { since: 0, limit: 10 });
    assert.deepEqual(r.msgs.map((m) => m.seq), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(r.synced.from, 3, 'from > since + 1 tells the client to page back');
    c.send({ t: 'history', rid: 50, room, before: 3, limit: 1000 });
    const older: Frame[] = [];
    let page: Frame | undefined;
    while (!page) {
      const f = await c.next((x) => x.t === 'msg' || x.rid === 50);
      if (f.t === 'msg') older.push(f);
      else page = f;
    }
    assert.deepEqual(older.map((m) => m.seq), [1, 2]);
    assert.deepEqual([page.t, page.from, page.to, page.more], ['page', 1, 2, false]);
    const all = await join(c, room, { since: 0 });
    assert.equal(all.msgs.length, 12);
    assert.ok(c.isOpen);
    await relay.cleanup();
  });

  it('§1.8 with --tls-cert/--tls-key the relay speaks TLS and logs the fingerprint that invites pin', async () => {
    const tlsDir = pathJoin(REPO_ROOT, 'test', 'helpers', 'tls');
    const relay = await startRelay(['--tls-cert', pathJoin(tlsDir, 'relay-test.crt'), '--tls-key', pathJoin(tlsDir, 'relay-test.key')]);
    const listening = await relay.waitForLog((r) => r.event === 'listening');
    assert.equal(listening.tls, true);
    assert.match(String(listening.fingerprint), /^[0-9a-f]{64}$/);
    const socket = tlsConnect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    assert.equal(socket.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase(), listening.fingerprint);
    socket.setEncoding('utf8');
    socket.write('{"t":"hello","v":1}\n{"t":"ping","rid":5}\n');
    let text = '';
    while (!text.includes('"pong"')) text += (await once(socket, 'data'))[0] as string;
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Frame);
    assert.deepEqual(lines.map((f) => f.t), ['welcome', 'pong']);
    socket.destroy();
    // Clear text to a TLS relay gets no frame: the handshake fails and the relay logs it.
    const plain = await raw(relay);
    plain.send({ t: 'hello', v: 1 });
    await plain.waitClosed();
    assert.ok(!plain.received.some((f) => f.t === 'welcome'));
    await relay.waitForLog((r) => r.event === 'tls_error');
    await relay.cleanup();
  });

  it('§1.7 over --max-conns: server_busy, then close; a slot frees when a client leaves', async () => {
    const relay = await startRelay(['--max-conns', '3']);
    const held = [await client(relay), await client(relay), await client(relay)];
    const extra = await raw(relay);
    await assertClosedAfterError(extra, 'server_busy');
    held[0]?.destroy();
    await relay.waitForLog((r) => r.event === 'conn_close' && r.conns === 2);
    await assertOpen(await client(relay));
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'max_conns');
    await relay.cleanup();
  });

  it('§1.7 over --max-conns-per-ip: server_busy, then close', async () => {
    const relay = await startRelay(['--max-conns-per-ip', '2']);
    await client(relay);
    await client(relay);
    const extra = await raw(relay);
    await assertClosedAfterError(extra, 'server_busy');
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'max_conns_per_ip');
    await relay.cleanup();
  });

  it('§1.7 a slow reader over the output bound is closed without a frame; the others go on', async () => {
    const relay = await startRelay(['--rate', '0', '--max-output', '262144']);
    const room = randomRoom();
    const sender = await client(relay);
    const reader = await client(relay);
    const slow = await client(relay);
    await join(sender, room);
    await join(reader, room);
    await join(slow, room);
    slow.socket.pause();
    const big = body(60_000, 's');
    let sent = 0;
    const closed = relay.waitForLog((r) => r.event === 'conn_close' && r.reason === 'slow_reader', 60_000);
    let done = false;
    void closed.then(() => (done = true), () => {});
    while (!done && sent < 1200) {
      await sendMany(sender, room, 20, big);
      sent += 20;
      for (let i = 0; i < 20; i++) await reader.nextOfType('msg');
    }
    await closed;
    slow.socket.resume();
    await slow.waitClosed();
    assert.ok(!slow.received.some((f) => f.t === 'error'), 'closed without a frame');
    await send(sender, room);
    await reader.nextOfType('msg');
    await relay.cleanup();
  });

  it('§1.7 SIGTERM: bye to every client, acked messages survive, exit 0', async () => {
    const relay = await startRelay(['--rate', '0']);
    const room = randomRoom();
    const a = await client(relay);
    const b = await client(relay);
    await join(a, room);
    await join(b, room);
    const ids = Array.from({ length: 50 }, () => randomRoom());
    a.sendRaw(ids.map((id) => JSON.stringify({ t: 'send', room, id, body: 'QUFB' }) + '\n').join(''));
    await a.nextOfType('ack');
    const exit = relay.stop('SIGTERM');
    assert.deepEqual(await b.nextOfType('bye'), { t: 'bye', reason: 'shutdown' });
    await a.nextOfType('bye');
    await a.waitClosed();
    await b.waitClosed();
    assert.deepEqual(await exit, { code: 0, signal: null });
    const acked = a.received.filter((f) => f.t === 'ack').map((f) => f.id);
    const again = await startRelay([], {}, relay.dataDir);
    const c = await client(again);
    const r = await join(c, room, { limit: 1000 });
    const stored = r.msgs.map((m) => m.id);
    for (const id of acked) assert.ok(stored.includes(id), 'every acked message is stored');
    assert.deepEqual(r.msgs.map((m) => m.seq), Array.from({ length: r.msgs.length }, (_, i) => i + 1));
    assert.ok(relay.logs.some((l) => l.event === 'shutdown' && l.reason === 'SIGTERM'));
    assert.ok(relay.logs.some((l) => l.event === 'stopped'));
    await again.cleanup();
    await relay.cleanup();
  });

  it('§1.7 admin shutdown with the right token: bye, exit 0', async () => {
    const relay = await startRelay();
    const token = readFileSync(pathJoin(relay.dataDir, 'admin-token'), 'utf8').trim();
    const c = await client(relay);
    const other = await client(relay);
    c.send({ t: 'admin', rid: 9, op: 'shutdown', token });
    assert.deepEqual(await c.next(), { t: 'bye', reason: 'shutdown' });
    assert.deepEqual(await other.next(), { t: 'bye', reason: 'shutdown' });
    assert.deepEqual(await relay.exited, { code: 0, signal: null });
    await relay.cleanup();
  });

  it('§1.7 an empty admin-token file disables admin', async () => {
    const first = await startRelay();
    await first.stop();
    writeFileSync(pathJoin(first.dataDir, 'admin-token'), '');
    const relay = await startRelay([], {}, first.dataDir);
    const c = await client(relay);
    for (const token of ['', undefined]) {
      const e = await c.request({ t: 'admin', op: 'shutdown', ...(token === undefined ? {} : { token }) });
      assert.deepEqual([e.t, e.code], ['error', 'bad_request']);
    }
    await assertOpen(c);
    await relay.cleanup();
    await first.cleanup();
  });
});
