// Private rooms (docs/protocol.md §3.3, §3.6) on a cluster: two real relay processes on one real
// PostgreSQL, members on different relays. A commit stored through one relay ends the epoch on
// every relay: its members get the commit and then `rekey`, and a member removed by it is refused
// the new epoch there too; two commits for one epoch racing on two relays: exactly one is stored,
// the other is `stale_epoch` with the winner's seq; a join racing a commit never leaves a
// member in the room under the key of an epoch that ended; a reset on one relay rekeys the
// other's members, and a reset replayed on the other relay cannot take the room back;
// PostgreSQL SIGKILLed while a commit is in flight keeps the commit with its epoch, or neither.
// The relay sees only keys and signatures, so the epoch keys are random Ed25519 keys.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import { postgresPerTest } from '../helpers/postgres';
import { LineClient, RelayProcess, randomId, type Frame } from '../helpers/relayProcess';
import { until } from '../helpers/until';
import { PrivateRoomKeys, newKey } from '../helpers/privateRoomKeys';

const plain = (room: string): Record<string, unknown> => ({ t: 'send', room, id: randomId(), body: 'AgAA' + randomBytes(6).toString('base64url') });

describe('private rooms on a cluster: two relays on one PostgreSQL (§3.6)', function () {
  this.timeout(180_000);
  const postgres = postgresPerTest();
  const relays: RelayProcess[] = [];
  const clients: LineClient[] = [];

  const startRelay = async (): Promise<RelayProcess> => {
    const relay = await RelayProcess.start({ args: ['--postgres', postgres.url, '--rate', '0'], startTimeoutMs: 30_000 });
    relays.push(relay);
    return relay;
  };
  const client = async (relay: RelayProcess): Promise<LineClient> => {
    const { client: c, welcome } = await LineClient.open(relay.port);
    assert.equal(welcome.t, 'welcome');
    clients.push(c);
    return c;
  };
  const expect = async (c: LineClient, frame: Record<string, unknown>, t: string, code?: string): Promise<Frame> => {
    const reply = await c.request(frame, 20_000);
    assert.deepEqual([reply.t, reply.code], [t, code], JSON.stringify(reply));
    return reply;
  };
  /** A full join under `epoch`'s key: joined, then synced; returns joined. */
  const joinAt = async (c: LineClient, r: PrivateRoomKeys, epoch: number, extra: Record<string, unknown> = {}): Promise<Frame> => {
    const joined = await expect(c, r.joinFrame(c, epoch, extra), 'joined');
    await c.nextOfType('synced', (f) => f.room === r.room, 20_000);
    return joined;
  };
  const epochRows = async (room: string): Promise<Array<{ epoch: number; seq: number; id: string }>> => {
    const rows = await postgres.sql('SELECT epoch, seq, id FROM smc_private_epochs WHERE room = $1 ORDER BY epoch', [room]);
    return rows.map((r) => ({ epoch: Number(r.epoch), seq: Number(r.seq), id: String(r.id) }));
  };

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const relay of relays) console.log(relay.otherOutput.join('').slice(-3000), JSON.stringify(relay.logs.slice(-30)));
    }
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(relays.splice(0).map((r) => r.cleanup()));
  });

  it('a commit through relay A: members on relay B get it, then rekey; the member it removed is refused the new epoch on B', async () => {
    const [a, b] = [await startRelay(), await startRelay()];
    const r = new PrivateRoomKeys();
    const owner = await client(a);
    await expect(owner, r.resetFrame(owner, 0), 'reset_ok');
    const alice = await client(a);
    const bob = await client(b);
    const mallory = await client(b);
    for (const c of [owner, alice, bob, mallory]) await joinAt(c, r, 0);
    const hello = await expect(bob, plain(r.room), 'ack');
    await alice.nextOfType('msg', (f) => f.seq === hello.seq, 20_000);
    // The owner's commit removes mallory (the relay cannot tell; it sees a new epoch key).
    const commit = r.commitFrame(0);
    const ack = await expect(owner, commit, 'ack');
    assert.deepEqual([ack.seq, ack.epoch], [2, 1]);
    for (const c of [alice, bob, mallory]) {
      const msg = await c.nextOfType('msg', (f) => f.id === commit.id, 20_000);
      assert.deepEqual([msg.seq, msg.epoch], [2, 1], 'forwarded with its epoch on both relays');
      const rekey = await c.nextOfType('rekey', () => true, 20_000);
      assert.deepEqual([rekey.room, rekey.epoch, rekey.seq], [r.room, 1, 2]);
      // rekey after the commit, as on one relay
      assert.ok(c.received.findIndex((f) => f.id === commit.id) < c.received.findIndex((f) => f.t === 'rekey'));
      await expect(c, plain(r.room), 'error', 'not_joined');
    }
    await owner.nextOfType('rekey', () => true, 20_000);
    // Bob and alice hold the new key; mallory only the old one: on relay B she reads up to the
    // commit that removed her, then is told the next epoch, which she cannot prove.
    await joinAt(bob, r, 1);
    await joinAt(alice, r, 1);
    const ro = await expect(mallory, r.joinFrame(mallory, 0), 'joined');
    assert.equal(ro.head, 2);
    const rekey = await mallory.nextOfType('rekey', () => true, 20_000);
    assert.deepEqual([rekey.epoch, rekey.seq], [1, 2]);
    await expect(mallory, plain(r.room), 'error', 'not_joined');
    await expect(mallory, r.commitFrame(1), 'error', 'not_joined');
    const stranger = newKey();
    await expect(mallory, { t: 'join', room: r.room, ...makeJoinProof(stranger, mallory.challenge, r.room) }, 'error', 'auth_failed');
    // The others go on, across relays; mallory gets nothing more.
    const later = await expect(alice, plain(r.room), 'ack');
    await bob.nextOfType('msg', (f) => f.seq === later.seq, 20_000);
    const catchUp = await client(b);
    const j = await joinAt(catchUp, r, 1);
    assert.equal(j.head, later.seq);
    await expect(owner, { t: 'ping' }, 'pong');
    assert.ok(!mallory.received.some((f) => f.t === 'msg' && Number(f.seq) > 2), JSON.stringify(mallory.received.filter((f) => f.t === 'msg')));
  });

  it('commits racing on two relays for the same epoch: each round exactly one is stored, the other is stale_epoch with the winner\'s seq', async () => {
    const [a, b] = [await startRelay(), await startRelay()];
    const r = new PrivateRoomKeys();
    const owner = await client(a);
    await expect(owner, r.resetFrame(owner, 0), 'reset_ok');
    const ca = await client(a);
    const cb = await client(b);
    const wa = await client(a);
    const wb = await client(b);
    const rounds = 12;
    const winners: string[] = [];
    for (let e = 0; e < rounds; e++) {
      // Each round's commit is the room's only message: since = e, the catch-up is empty.
      for (const c of [ca, cb, wa, wb]) await joinAt(c, r, e, { since: e });
      const keyA = newKey();
      const keyB = newKey();
      const fa = r.commitFrame(e, { next: keyA });
      const fb = r.commitFrame(e, { next: keyB });
      // Both written before either reply is read: the two relays store them at the same moment.
      const [ra, rb] = await Promise.all([ca.request(fa, 20_000), cb.request(fb, 20_000)]);
      const won = [ra, rb].filter((f) => f.t === 'ack');
      assert.equal(won.length, 1, `round ${e}: ${JSON.stringify([ra, rb])}`);
      const winner = won[0] as Frame;
      const loser = (winner === ra ? rb : ra) as Frame;
      assert.deepEqual([loser.t, loser.code, loser.epoch, loser.seq], ['error', 'stale_epoch', e + 1, winner.seq], JSON.stringify(loser));
      const winnerId = (winner === ra ? fa.id : fb.id) as string;
      winners.push(winnerId);
      r.keys[e + 1] = winner === ra ? keyA : keyB;
      for (const c of [ca, cb, wa, wb]) await c.nextOfType('rekey', (f) => f.epoch === e + 1, 20_000);
    }
    // Watchers on both relays saw exactly the winners, in order; the store holds them alone.
    for (const w of [wa, wb]) {
      assert.deepEqual(w.received.filter((f) => f.t === 'msg').map((f) => f.id), winners);
    }
    const rows = await epochRows(r.room);
    assert.deepEqual(rows.map((x) => [x.epoch, x.id]), [[0, ''], ...winners.map((id, i) => [i + 1, id])]);
    for (const relay of [a, b]) {
      const fresh = await client(relay);
      const j = await joinAt(fresh, r, rounds);
      assert.equal(j.head, rounds);
    }
  });

  it('a join on relay B racing a commit on relay A never leaves the joiner in the room under the ended epoch\'s key', async () => {
    const [a, b] = [await startRelay(), await startRelay()];
    const r = new PrivateRoomKeys();
    const owner = await client(a);
    await expect(owner, r.resetFrame(owner, 0), 'reset_ok');
    const keep = await client(b); // keeps the room watched on B
    for (let e = 0; e < 15; e++) {
      await joinAt(owner, r, e);
      await joinAt(keep, r, e);
      const joiner = await client(b);
      const commit = r.commitFrame(e);
      // The join and the commit at the same moment, on two relays.
      const joinRid = 7;
      joiner.send({ ...r.joinFrame(joiner, e), rid: joinRid });
      owner.send({ ...commit, rid: 8 });
      const ack = await owner.next((f) => f.rid === 8, 20_000);
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
      const joined = await joiner.next((f) => f.rid === joinRid, 20_000);
      assert.equal(joined.t, 'joined', JSON.stringify(joined));
      // Whether the join came first (a member, then rekeyed by the feed) or second (read-only
      // up to the commit), the joiner is told the new epoch, and can send nothing under the old.
      const rekey = await joiner.nextOfType('rekey', () => true, 20_000);
      assert.deepEqual([rekey.epoch, rekey.seq], [e + 1, ack.seq], `round ${e}`);
      await expect(joiner, plain(r.room), 'error', 'not_joined');
      await keep.nextOfType('rekey', (f) => f.epoch === e + 1, 20_000);
      await owner.nextOfType('rekey', (f) => f.epoch === e + 1, 20_000);
      joiner.destroy();
    }
  });

  it('a reset through relay B rekeys the members on relay A; the creation reset replayed on relay A after commits is refused', async () => {
    const [a, b] = [await startRelay(), await startRelay()];
    const r = new PrivateRoomKeys();
    const owner = await client(b);
    const creation = r.resetFrame(owner, 0);
    await expect(owner, creation, 'reset_ok');
    const alice = await client(a);
    await joinAt(alice, r, 0);
    await joinAt(owner, r, 0);
    await expect(owner, r.commitFrame(0), 'ack');
    await alice.nextOfType('rekey', (f) => f.epoch === 1, 20_000);
    await owner.nextOfType('rekey', (f) => f.epoch === 1, 20_000);
    await joinAt(alice, r, 1);
    // A replay of the creation reset (seen on the wire) through the other relay: its signature
    // is over the owner's connection's challenge, so it is refused; and the owner itself cannot
    // take the room back to epoch 0 through relay A either (the store's rule, on every relay).
    const replayer = await client(a);
    await expect(replayer, creation, 'error', 'auth_failed');
    const ownerOnA = await client(a);
    await expect(ownerOnA, r.resetFrame(ownerOnA, 0), 'error', 'auth_failed');
    await expect(replayer, r.joinFrame(replayer, 0, {}), 'joined'); // epoch 0's key reads up to its end
    await replayer.nextOfType('rekey', () => true, 20_000);
    // The owner repairs the room to epoch 9 through relay B: alice, on relay A, is told.
    await expect(owner, r.resetFrame(owner, 9), 'reset_ok');
    const rekey = await alice.nextOfType('rekey', (f) => f.epoch === 9, 20_000);
    assert.equal(rekey.room, r.room);
    await expect(alice, plain(r.room), 'error', 'not_joined');
    await expect(alice, r.joinFrame(alice, 1), 'error', 'auth_failed');
    await joinAt(alice, r, 9);
    // And the repair's own reset, replayed through relay A after a commit, is refused too.
    await joinAt(owner, r, 9);
    await expect(owner, r.commitFrame(9), 'ack');
    await expect(ownerOnA, r.resetFrame(ownerOnA, 9), 'error', 'auth_failed');
    await expect(replayer, creation, 'error', 'auth_failed');
    await until('the epochs in the database', async () => ((await epochRows(r.room)).map((x) => x.epoch).join() === '9,10' ? true : undefined));
  });

  it('a repair through relay A (a commit every member refused) rekeys the members on relay B back to their epoch; the cut epoch\'s key is refused there', async () => {
    const [a, b] = [await startRelay(), await startRelay()];
    const r = new PrivateRoomKeys();
    const owner = await client(a);
    await expect(owner, r.resetFrame(owner, 0), 'reset_ok');
    const bob = await client(b);
    await joinAt(owner, r, 0);
    await joinAt(bob, r, 0);
    // A malicious member's commit (through relay B) that every member refuses: the relay took it.
    const bad = await expect(bob, r.commitFrame(0), 'ack');
    await bob.nextOfType('rekey', () => true, 20_000);
    await owner.nextOfType('rekey', (f) => f.epoch === 1, 20_000);
    await joinAt(bob, r, 0); // read-only up to the bad commit
    await bob.nextOfType('rekey', () => true, 20_000);
    // The owner repairs through relay A: back to epoch 0, refusing the commit at bad.seq.
    const repair = await client(a);
    await expect(repair, r.resetFrame(repair, 0, { refuse: bad.seq as number }), 'reset_ok');
    // Bob, on relay B, joins epoch 0 as a full member again; epoch 1's key is gone on B too.
    await joinAt(bob, r, 0);
    const other = await client(b);
    await expect(other, r.joinFrame(other, 1), 'error', 'auth_failed');
    const rows = await epochRows(r.room);
    assert.deepEqual(rows.map((x) => x.epoch), [0], 'the cut epoch is gone from the database');
    // The room goes on from epoch 0: the next commit (through relay B) is accepted.
    r.keys[1] = newKey();
    const next = await expect(bob, r.commitFrame(0), 'ack');
    assert.deepEqual([next.epoch, next.seq], [1, (bad.seq as number) + 1]);
    // A replay of the repair on relay B: refused (its signature is over another connection's challenge).
    await expect(other, r.resetFrame(repair, 0, { refuse: bad.seq as number }), 'error', 'auth_failed');
  });

  it('PostgreSQL SIGKILLed while a commit is in flight: the commit is stored with its epoch, or not at all', async () => {
    const relay = await startRelay();
    const r = new PrivateRoomKeys();
    const owner = await client(relay);
    await expect(owner, r.resetFrame(owner, 0), 'reset_ok');
    owner.destroy();
    let epoch = 0;
    for (let round = 0; round < 6; round++) {
      const c = await client(relay);
      await until('the relay serves again', async () => {
        const reply = await c.request(r.joinFrame(c, epoch), 20_000);
        if (reply.t !== 'joined') return undefined;
        await c.nextOfType('synced', () => true, 20_000);
        return true;
      }, 60_000);
      const before = (await epochRows(r.room)).length;
      const commit = r.commitFrame(epoch);
      c.send({ ...commit, rid: 99 });
      // Kill at a different moment each round: at once, or a few milliseconds into the commit.
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, round));
      await postgres.pg.kill();
      const reply = await c.next((f) => f.rid === 99, 20_000);
      await postgres.pg.startServer();
      const rows = await epochRows(r.room);
      const stored = await postgres.sql('SELECT seq FROM smc_messages WHERE room = $1 AND id = $2', [r.room, commit.id]);
      if (rows.length > before) {
        assert.equal(stored.length, 1, 'the epoch is there: so is its message');
        assert.deepEqual(rows[rows.length - 1], { epoch: epoch + 1, seq: Number(stored[0]?.seq), id: commit.id });
      } else {
        assert.equal(stored.length, 0, 'no epoch: no message either');
        assert.notEqual(reply.t, 'ack', 'never acked when not stored');
      }
      if (reply.t !== 'ack') assert.equal(reply.code, 'internal', JSON.stringify(reply));
      // The client's resend is answered consistently once the database is back.
      const tried: Frame[] = [];
      const again = await until('the resend acked', async () => {
        const f = await c.request(commit, 20_000);
        tried.push(f);
        if (f.t === 'ack') return f;
        if (f.code === 'not_joined') {
          // Rekeyed by the stored commit (join the new epoch), or back from the outage (the old one).
          let j = await c.request(r.joinFrame(c, epoch + 1), 20_000);
          if (j.code === 'auth_failed') j = await c.request(r.joinFrame(c, epoch), 20_000);
          if (j.t === 'joined') await c.nextOfType('synced', () => true, 20_000);
        }
        return undefined;
      }, 60_000, () => `first reply ${JSON.stringify(reply)}; resends: ${JSON.stringify(tried.slice(-3))}`);
      assert.equal(again.epoch, epoch + 1);
      if (reply.t === 'ack') assert.equal(again.seq, reply.seq, 'a resend keeps the first ack\'s seq');
      epoch++;
      c.destroy();
    }
    const rows = await epochRows(r.room);
    assert.deepEqual(rows.map((x) => x.epoch), [0, 1, 2, 3, 4, 5, 6]);
  });
});
