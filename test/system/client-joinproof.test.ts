// The client side of the join proof (issue 7 §1.3, docs/protocol.md §1.3, §1.9): RelayClient
// says hello v 2, keeps each connection's challenge, and every join (the first, a re-join after
// a reconnect, a re-join for a new name) carries `auth` and a `proof` of that connection's
// challenge. auth_required / auth_failed mark the room with a plain error and are never
// retried; a relay too old to send a challenge (protocol v1) is a plain error, not a reconnect
// loop. Against a scripted relay (a real TCP server on 127.0.0.1 that speaks the protocol by
// hand) and against the real relay process behind a recording proxy.
import { strict as assert } from 'node:assert';
import { generateIdentity, generateRoomKey, RoomCipher, verifyJoinProof } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ClientError, ConnectionState, RelayClientOptions } from '../../src/core/client/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { RelayProcess } from '../helpers/relayProcess';
import { ReplayProxy } from '../helpers/replayProxy';
import { ScriptedRelay } from '../helpers/scriptedRelay';
import { until } from '../helpers/until';


/** A RelayClient and what it emitted. */
function client(port: number, extra: Partial<RelayClientOptions> = {}): { c: RelayClient; errors: ClientError[]; states: ConnectionState[]; synced: string[] } {
  const c = new RelayClient({
    host: '127.0.0.1', port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'bob', transport: createTcpTransport,
    tuning: { reconnectBaseMs: 20, reconnectMaxMs: 100 }, ...extra,
  });
  const errors: ClientError[] = [];
  const states: ConnectionState[] = [];
  const synced: string[] = [];
  c.on('error', (e) => errors.push(e));
  c.on('state', (s) => states.push(s));
  c.on('synced', (s) => synced.push(s.room));
  return { c, errors, states, synced };
}

describe('RelayClient join proof (issue 7 §1.3, §1.9)', function () {
  this.timeout(30_000);
  let relay: ScriptedRelay;
  const clients: RelayClient[] = [];
  const make = (...args: Parameters<typeof client>): ReturnType<typeof client> => {
    const r = client(...args);
    clients.push(r.c);
    return r;
  };

  beforeEach(async () => {
    relay = await ScriptedRelay.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await relay.close();
  });

  it('says hello v 2 and proves membership in every join, for the challenge of that connection', async () => {
    relay.onFrame = (c, f) => {
      if (relay.welcome(c, f)) return;
      if (f.t === 'join') relay.joined(c, f);
    };
    const key = generateRoomKey();
    const { c, synced } = make(relay.port);
    c.connect();
    const { room } = c.join({ key, name: 'r' });
    assert.equal(room, new RoomCipher(key).room);
    await until('first sync', () => synced.length === 1);
    assert.deepEqual(relay.conns[0]!.frames[0], { t: 'hello', v: 2, agent: 'smc-test/0' });
    // A name change joins again on the same connection (§1.4): a proof again.
    c.setDisplayName('robert');
    await until('second join', () => relay.joins().length === 2);
    // The relay drops the connection: the re-join on the new connection signs the new challenge.
    relay.conns[0]!.socket.destroy();
    await until('re-join after reconnect', () => relay.joins().length === 3);
    const joins = relay.joins();
    assert.deepEqual(joins.map((j) => j.conn), [0, 0, 1]);
    for (const { conn, frame } of joins) {
      assert.equal(frame.room, room);
      assert.equal(typeof frame.auth, 'string');
      assert.equal(typeof frame.proof, 'string');
      assert.ok(verifyJoinProof(room, relay.challenges[conn]!, String(frame.auth), String(frame.proof)), `join on connection ${conn} proves for its own challenge`);
    }
    assert.notEqual(relay.challenges[0], relay.challenges[1]);
    assert.ok(!verifyJoinProof(room, relay.challenges[0]!, String(joins[2]!.frame.auth), String(joins[2]!.frame.proof)), 'a proof is bound to its connection');
  });

  for (const code of ['auth_failed', 'auth_required'] as const) {
    it(`${code}: the room gets one plain error, its messages fail, and it is never joined again (no loop)`, async () => {
      const refusedKey = generateRoomKey();
      const target = new RoomCipher(refusedKey).room;
      relay.onFrame = (cc, f) => {
        if (relay.welcome(cc, f)) return;
        if (f.t === 'join' && f.room === target) cc.send({ t: 'error', rid: f.rid, code, message: 'no' });
        else if (f.t === 'join') relay.joined(cc, f);
      };
      const { c, errors, synced } = make(relay.port);
      const failed: string[] = [];
      c.on('outgoing', (o) => {
        if (o.state === 'failed' && o.error !== undefined) failed.push(o.error);
      });
      c.connect();
      // Another room on the same connection is not affected.
      const other = c.join({ key: generateRoomKey(), name: 'fine' });
      await until('other room synced', () => synced.includes(other.room));
      const { room } = c.join({ key: refusedKey, name: 'closed' });
      c.sendText(room, 'hello?');
      await until('the room error', () => errors.find((e) => e.room === room));
      const err = errors.find((e) => e.room === room)!;
      assert.equal(err.code, 'room_refused');
      assert.equal(err.relayCode, code);
      assert.match(err.message, /"closed"/);
      assert.match(err.message, /not retry/i);
      await until('the queued message fails', () => failed.length === 1);
      assert.match(failed[0]!, /refused/i);
      // A reconnect joins the other room again, never the refused one.
      relay.conns[0]!.socket.destroy();
      await until('other room re-joined', () => relay.joins().filter((j) => j.conn === 1).length === 1);
      const d = await c.drain();
      assert.equal(d.failed, 1);
      assert.deepEqual(relay.joins().filter((j) => j.frame.room === room).length, 1, 'the refused room was asked for once');
      assert.equal(errors.filter((e) => e.room === room).length, 1, 'one error, not one per reconnect');
      // Joining it again (the user chose to) asks once more.
      c.join({ key: refusedKey, name: 'closed' });
      await until('asked again', () => relay.joins().filter((j) => j.frame.room === room).length === 2);
    });
  }

  it('a join refused with rate_limited (too many proofs from this address, §1.9) is asked again later, on the same connection', async () => {
    let refusals = 2;
    relay.onFrame = (cc, f) => {
      if (relay.welcome(cc, f)) return;
      if (f.t !== 'join') return;
      if (refusals-- > 0) cc.send({ t: 'error', rid: f.rid, code: 'rate_limited', message: 'over 32 join proofs per second from this address' });
      else relay.joined(cc, f);
    };
    const { c, errors, synced } = make(relay.port, { tuning: { reconnectBaseMs: 20, reconnectMaxMs: 100, rateLimitBaseMs: 20, rateLimitMaxMs: 100 } });
    c.connect();
    const { room } = c.join({ key: generateRoomKey(), name: 'busy' });
    await until('the room synced after the relay let it in', () => synced.includes(room));
    assert.equal(relay.joins().length, 3);
    assert.equal(relay.conns.length, 1, 'no reconnect for a rate_limited join');
    assert.deepEqual(errors.filter((e) => e.room === room), [], 'a join asked again later is not an error for the user');
  });

  it('a relay whose welcome has no challenge (protocol v1) is a plain error and no reconnect loop', async () => {
    relay.onFrame = (c, f) => {
      if (f.t === 'hello') c.send({ t: 'welcome', v: 1, agent: 'old/0', maxFrame: 65_536, time: Date.now() });
    };
    const { c, errors, states } = make(relay.port);
    c.connect();
    c.join({ key: generateRoomKey(), name: 'r' });
    await until('offline', () => states.includes('offline'));
    assert.equal(c.state, 'offline');
    const e = errors.find((x) => x.code === 'relay_too_old');
    assert.ok(e, `errors: ${errors.map((x) => x.message).join(' | ')}`);
    assert.match(e.message, /too old \(protocol v1\)/);
    assert.equal(relay.joins().length, 0, 'no join, so no room id reaches it without a proof');
    assert.equal(relay.conns.length, 1);
    assert.ok(!states.slice(states.lastIndexOf('offline')).includes('connecting'));
  });

  it('a v1 relay that refuses hello v 2 (unsupported_version, then close) is the same plain error', async () => {
    relay.onFrame = (c, f) => {
      if (f.t !== 'hello') return;
      c.send({ t: 'error', code: 'unsupported_version', message: 'this relay speaks protocol version 1' });
      c.socket.end();
    };
    const { c, errors, states } = make(relay.port);
    c.connect();
    await until('offline', () => states.includes('offline'));
    const e = errors.find((x) => x.code === 'relay_too_old');
    assert.ok(e, `errors: ${errors.map((x) => x.message).join(' | ')}`);
    assert.match(e.message, /too old \(protocol v1\)/);
    assert.equal(relay.conns.length, 1, 'not retried');
    // connect() again is the user's choice: it tries once more.
    c.connect();
    await until('second attempt', () => relay.conns.length === 2);
  });
});

describe('RelayClient join proof against the real relay (issue 7 §1.3)', function () {
  this.timeout(30_000);

  it('every join on every connection carries a proof that verifies for that connection\'s welcome challenge, across a relay restart', async () => {
    const relay = await RelayProcess.start();
    const proxy = await ReplayProxy.start(relay.port);
    const key = generateRoomKey();
    const { c, synced } = client(proxy.port);
    const alice = client(relay.port);
    try {
      c.connect();
      alice.c.connect();
      const { room } = c.join({ key, name: 'r' });
      alice.c.join({ key, name: 'r' });
      await until('synced', () => synced.length === 1 && alice.synced.length === 1);
      const got: string[] = [];
      c.on('message', (m) => got.push(m.text ?? ''));
      alice.c.sendText(room, 'over a v2 room id');
      await until('delivered', () => got.length === 1);
      await relay.stop();
      const again = await RelayProcess.start({ dataDir: relay.dataDir, args: ['--port', String(relay.port)] });
      try {
        await until('re-synced on a new connection', () => synced.length === 2);
        for (let conn = 0; conn < proxy.sent.length; conn++) {
          const welcome = proxy.received[conn]!.find((f) => f.t === 'welcome');
          const joins = proxy.sent[conn]!.filter((f) => f.t === 'join');
          if (joins.length === 0) continue;
          assert.equal(welcome?.v, 2);
          for (const j of joins) assert.ok(verifyJoinProof(room, String(welcome!.challenge), String(j.auth), String(j.proof)));
        }
        assert.ok(proxy.sent.filter((s) => s.some((f) => f.t === 'join')).length >= 2);
      } finally {
        await c.disconnect();
        await alice.c.disconnect();
        await proxy.close();
        await again.cleanup();
      }
    } finally {
      await relay.cleanup();
    }
  });
});
