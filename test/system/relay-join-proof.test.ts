// Only members may write a room (issue 7 §1.3, PROTOCOL.md §1.9): the real relay process refuses
// a join without a valid proof of the room key, and a connection that was refused gets nothing
// of the room and can neither send nor read history. --allow-v1-joins accepts joins without a
// proof, and still checks every proof it is given.
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import { LineClient, RelayProcess, randomId, randomRoom, roomAuthKeyOf, type Frame } from '../helpers/relayProcess';

/** A data directory for a relay that must refuse to start (so a failure leaves nothing in cwd). */
function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'smc-relay-usage-'));
}

describe('relay join proof (PROTOCOL.md §1.9)', function () {
  this.timeout(30_000);
  const clients: LineClient[] = [];
  const relays: RelayProcess[] = [];

  async function start(args: string[] = []): Promise<RelayProcess> {
    const relay = await RelayProcess.start({ args });
    relays.push(relay);
    return relay;
  }

  async function client(relay: RelayProcess, v = 2): Promise<LineClient> {
    const c = await relay.connect();
    clients.push(c);
    const w = await c.hello('smc-test/0', v);
    assert.equal(w.t, 'welcome', JSON.stringify(w));
    return c;
  }

  async function joinOk(c: LineClient, room: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    const joined = await c.request({ t: 'join', room, ...extra });
    assert.equal(joined.t, 'joined', JSON.stringify(joined));
    await c.nextOfType('synced', (f) => f.room === room);
    return joined;
  }

  /** A refused join leaves the connection open and outside the room. */
  async function assertRefused(c: LineClient, room: string, reply: Frame, code: string): Promise<void> {
    assert.deepEqual([reply.t, reply.code], ['error', code], JSON.stringify(reply));
    for (const frame of [{ t: 'send', room, id: randomId(), body: 'QUFB' }, { t: 'history', room }, { t: 'leave', room }]) {
      const e = await c.request(frame);
      assert.deepEqual([e.t, e.code], ['error', 'not_joined'], `${frame.t} after a refused join`);
    }
    const pong = await c.request({ t: 'ping' });
    assert.equal(pong.t, 'pong');
    assert.ok(!c.received.some((f) => f.room === room && f.t !== 'error'), `nothing of the room: ${JSON.stringify(c.received)}`);
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const r of relays.splice(0)) await r.cleanup();
  });

  it('the welcome carries a fresh 43-char challenge per connection', async () => {
    const relay = await start();
    const a = await client(relay);
    const b = await client(relay);
    assert.match(a.challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.challenge, b.challenge);
  });

  it('a stranger\'s join without a proof gets auth_required: no msg, no presence, no send, no history', async () => {
    const relay = await start();
    const room = randomRoom();
    const member = await client(relay);
    await joinOk(member, room);
    await member.request({ t: 'send', room, id: randomId(), body: 'bWVtYmVy' });
    const stranger = await client(relay);
    const reply = await stranger.request({ t: 'join', room, since: 0, auth: undefined });
    await assertRefused(stranger, room, reply, 'auth_required');
    // Junk sends are impossible: the room's head did not move, and the member saw no one come.
    const again = await client(relay);
    const j = await joinOk(again, room);
    assert.equal(j.head, 1);
    const p = await member.nextOfType('presence', (f) => f.online === 2, 5_000);
    assert.equal(p.online, 2, 'the refused stranger never counted');
    await relay.waitForLog((r) => r.event === 'join_refused' && r.code === 'auth_required');
  });

  it('a proof replayed from another connection (another challenge) gets auth_failed', async () => {
    const relay = await start();
    const room = randomRoom();
    const member = await client(relay);
    const seen = member.withProof({ t: 'join', room });
    await joinOk(member, room);
    const eavesdropper = await client(relay);
    const reply = await eavesdropper.request({ ...seen });
    await assertRefused(eavesdropper, room, reply, 'auth_failed');
  });

  it('a proof for room A used for room B gets auth_failed, with A\'s key or with A\'s signature under B\'s key', async () => {
    const relay = await start();
    const roomA = randomRoom();
    const roomB = randomRoom();
    const c = await client(relay);
    const forA = makeJoinProof(roomAuthKeyOf(roomA), c.challenge, roomA);
    const forB = makeJoinProof(roomAuthKeyOf(roomB), c.challenge, roomB);
    await assertRefused(c, roomB, await c.request({ t: 'join', room: roomB, ...forA }), 'auth_failed');
    await assertRefused(c, roomB, await c.request({ t: 'join', room: roomB, auth: forB.auth, proof: forA.proof }), 'auth_failed');
    // A room id not bound to any key (a v1 id) cannot be joined with a proof either.
    const v1Room = randomId();
    await assertRefused(c, v1Room, await c.request({ t: 'join', room: v1Room, ...forA }), 'auth_failed');
    // And the right proof still works on the same connection.
    await joinOk(c, roomB);
  });

  it('a malformed or half proof is bad_request', async () => {
    const relay = await start();
    const room = randomRoom();
    const c = await client(relay);
    const { auth, proof } = makeJoinProof(roomAuthKeyOf(room), c.challenge, room);
    for (const frame of [{ auth }, { proof }, { auth: auth.slice(1), proof }, { auth, proof: proof + 'AA' }, { auth: 5, proof }]) {
      const e = await c.request({ t: 'join', room, ...frame });
      assert.deepEqual([e.t, e.code], ['error', 'bad_request'], JSON.stringify(frame));
    }
  });

  it('with --allow-v1-joins a v1 client joins without a proof, and a wrong proof is still refused', async () => {
    const relay = await start(['--allow-v1-joins']);
    const start_ = await relay.waitForLog((r) => r.event === 'start');
    assert.equal(start_.allowV1Joins, true);
    const v1Room = randomId();
    const old = await client(relay, 1);
    await joinOk(old, v1Room);
    const ack = await old.request({ t: 'send', room: v1Room, id: randomId(), body: 'djE' });
    assert.equal(ack.t, 'ack');
    const room = randomRoom();
    const c = await client(relay);
    const wrong = makeJoinProof(roomAuthKeyOf(randomRoom()), c.challenge, room);
    await assertRefused(c, room, await c.request({ t: 'join', room, ...wrong }), 'auth_failed');
    await joinOk(c, room);
  });

  it('SMC_RELAY_ALLOW_V1_JOINS=1 does the same; a bad value is a usage error', async () => {
    const relay = await RelayProcess.start({ env: { SMC_RELAY_ALLOW_V1_JOINS: '1' } });
    relays.push(relay);
    const c = await client(relay, 1);
    await joinOk(c, randomId());
    const bad = await RelayProcess.run(['relay', '--port', '0', '--data', scratchDir()], { SMC_RELAY_ALLOW_V1_JOINS: 'maybe' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /SMC_RELAY_ALLOW_V1_JOINS/);
  });

  it('a connection gets 40 proof checks at once, then 8 a second: a flood of bad joins is rate_limited, not verified', async () => {
    const relay = await start();
    const room = randomRoom();
    const member = await client(relay);
    const seen = member.withProof({ t: 'join', room });
    const attacker = await client(relay);
    // 200 joins with a proof that passes the hash check but not the signature (another challenge).
    const sentAt = Date.now();
    attacker.sendRaw(Array.from({ length: 200 }, (_, i) => JSON.stringify({ ...seen, rid: 1000 + i }) + '\n').join(''));
    const codes: string[] = [];
    for (let i = 0; i < 200; i++) codes.push(String((await attacker.next((f) => f.rid === 1000 + i, 20_000)).code));
    const seconds = (Date.now() - sentAt) / 1000;
    const failed = codes.filter((c) => c === 'auth_failed').length;
    // The bucket's bound, whatever the machine's speed: the burst plus the refill meanwhile.
    assert.ok(failed >= 40 && failed <= 40 + Math.ceil(8 * seconds) + 1, `${failed} checked in ${seconds} s`);
    assert.equal(codes.filter((c) => c === 'rate_limited').length + failed, 200);
    assert.ok(attacker.isOpen);
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'join_rate');
    // The member's own join on its own connection is unaffected.
    await joinOk(member, room);
  });

  it('reconnecting does not buy fresh checks: one address gets 256 at once, then 32 a second, across its connections', async () => {
    const relay = await start();
    const room = randomRoom();
    const seen = (await client(relay)).withProof({ t: 'join', room });
    // Rounds of 20 fresh connections, each sending 40 bad joins (its own burst), then closing:
    // per connection that is within its own bucket, so only the address's bucket can refuse.
    const startedAt = Date.now();
    let failed = 0;
    let limited = 0;
    for (let round = 0; round < 3; round++) {
      const conns = await Promise.all(Array.from({ length: 20 }, () => client(relay)));
      await Promise.all(conns.map(async (c) => {
        c.sendRaw(Array.from({ length: 40 }, (_, i) => JSON.stringify({ ...seen, rid: 2000 + i }) + '\n').join(''));
        for (let i = 0; i < 40; i++) {
          const code = String((await c.next((f) => f.rid === 2000 + i, 20_000)).code);
          if (code === 'auth_failed') failed++;
          else if (code === 'rate_limited') limited++;
        }
        c.close();
      }));
    }
    const seconds = (Date.now() - startedAt) / 1000;
    assert.equal(failed + limited, 3 * 20 * 40);
    assert.ok(failed <= 256 + Math.ceil(32 * seconds) + 1, `${failed} proofs checked in ${seconds} s from one address`);
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'join_rate_address');
  });

  it('--join-rate-per-ip 0 lifts the per-address limit (one proxy for many people); a bad value is a usage error', async () => {
    const relay = await start(['--join-rate-per-ip', '0']);
    const room = randomRoom();
    const seen = (await client(relay)).withProof({ t: 'join', room });
    let failed = 0;
    for (let round = 0; round < 10; round++) {
      const c = await client(relay);
      c.sendRaw(Array.from({ length: 40 }, (_, i) => JSON.stringify({ ...seen, rid: 3000 + i }) + '\n').join(''));
      for (let i = 0; i < 40; i++) if ((await c.next((f) => f.rid === 3000 + i, 20_000)).code === 'auth_failed') failed++;
      c.close();
    }
    assert.equal(failed, 400, 'every proof within a connection\'s own burst is checked');
    const bad = await RelayProcess.run(['relay', '--port', '0', '--data', scratchDir(), '--join-rate-per-ip', '-1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /join-rate-per-ip/);
  });
});
