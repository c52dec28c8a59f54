// Private rooms at the real relay process (docs/protocol.md §3.3, §3.6): reset by the owner key,
// joins under the stored epoch key (read-only up to the end of an older epoch), commits that
// rotate the key (one per epoch, the other stale_epoch), rekey of every member, the record kept
// across SIGTERM and SIGKILL, and the bound on signature checks. No MLS is needed here: the
// relay sees only keys and signatures, so the epoch keys are random Ed25519 keys.
import { strict as assert } from 'node:assert';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import { makeReset, makeRotation } from '../../src/core/mls/epochAuth';
import { LineClient, RelayProcess, randomId, randomRoom, type Frame } from '../helpers/relayProcess';
import { RELAY_STORES } from '../helpers/relayStores';
import { PrivateRoomKeys, newKey } from '../helpers/privateRoomKeys';

// Once on the embedded store (private.log) and once on PostgreSQL (issue 10 on a cluster's store).
for (const store of RELAY_STORES) describe(`relay private rooms (PROTOCOL.md §3.6)${store.suffix}`, function () {
  this.timeout(60_000);
  const clients: LineClient[] = [];
  const relays: RelayProcess[] = [];
  before(() => store.setUp());
  after(() => store.tearDown());

  async function start(options: { args?: string[]; dataDir?: string } = {}): Promise<RelayProcess> {
    const relay = await RelayProcess.start({ ...options, args: [...store.args(), ...(options.args ?? [])] });
    relays.push(relay);
    return relay;
  }

  async function client(relay: RelayProcess): Promise<LineClient> {
    const c = await relay.connect();
    clients.push(c);
    const w = await c.hello();
    assert.equal(w.t, 'welcome', JSON.stringify(w));
    return c;
  }

  async function expect(c: LineClient, frame: Record<string, unknown>, t: string, code?: string): Promise<Frame> {
    const reply = await c.request(frame);
    assert.deepEqual([reply.t, reply.code], [t, code], JSON.stringify(reply));
    return reply;
  }

  /** A full join: joined, synced; returns joined. */
  async function joinAt(c: LineClient, r: PrivateRoomKeys, epoch: number, extra: Record<string, unknown> = {}): Promise<Frame> {
    const joined = await expect(c, r.joinFrame(c, epoch, extra), 'joined');
    await c.nextOfType('synced', (f) => f.room === r.room);
    return joined;
  }

  async function created(relay: RelayProcess, epoch = 0): Promise<{ r: PrivateRoomKeys; owner: LineClient }> {
    const r = new PrivateRoomKeys();
    const owner = await client(relay);
    await expect(owner, r.resetFrame(owner, epoch), 'reset_ok');
    return { r, owner };
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const relay of relays.splice(0)) await relay.cleanup();
  });

  it('reset, then only the epoch key joins: no proof is auth_required (even with --allow-v1-joins), a wrong key auth_failed', async () => {
    const relay = await start({ args: ['--allow-v1-joins'] });
    const { r, owner } = await created(relay);
    const joined = await joinAt(owner, r, 0);
    assert.equal(joined.head, 0);
    const ack = await expect(owner, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack');
    assert.equal(ack.seq, 1);
    assert.equal(ack.epoch, undefined, 'an application message is not a commit');

    const stranger = await client(relay);
    await expect(stranger, { t: 'join', room: r.room }, 'error', 'auth_required');
    // A stranger who knows the room id, with a key of its own (and a valid proof under it).
    const own = newKey();
    await expect(stranger, { t: 'join', room: r.room, ...makeJoinProof(own, stranger.challenge, r.room) }, 'error', 'auth_failed');
    // The right key, but a proof made for another connection's challenge.
    await expect(stranger, { t: 'join', room: r.room, ...makeJoinProof(r.key(0), owner.challenge, r.room) }, 'error', 'auth_failed');
    for (const frame of [{ t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, { t: 'history', room: r.room }]) {
      await expect(stranger, frame, 'error', 'not_joined');
    }
    assert.ok(!stranger.received.some((f) => f.t === 'msg' || f.t === 'presence'), JSON.stringify(stranger.received));
  });

  it('a reset needs the room\'s owner key and a valid signature; the owner resets again to another epoch', async () => {
    const relay = await start();
    const { r, owner } = await created(relay);
    const thief = newKey();
    // Another owner key cannot take the room: its hash is not the room id...
    await expect(owner, { ...r.resetFrame(owner, 0, { owner: thief }), owner: makeReset(thief, owner.challenge, r.room, 0n, r.key(0)).owner }, 'error', 'auth_failed');
    // ...a forged signature under the real owner key...
    const forged = { ...r.resetFrame(owner, 3), sig: makeReset(thief, owner.challenge, r.room, 3n, r.key(3)).sig };
    await expect(owner, forged, 'error', 'auth_failed');
    // ...and a signature of another epoch, or of another refused seq, does not carry over.
    await expect(owner, { ...r.resetFrame(owner, 2), epoch: 5 }, 'error', 'auth_failed');
    await expect(owner, { ...r.resetFrame(owner, 2), refuse: 1 }, 'error', 'auth_failed');
    await joinAt(owner, r, 0);
    // The owner repairs the room to epoch 7: members are told to re-join, and epoch 0's key is gone.
    const member = await client(relay);
    await joinAt(member, r, 0);
    await expect(owner, r.resetFrame(owner, 7), 'reset_ok');
    const rekey = await member.nextOfType('rekey');
    assert.deepEqual([rekey.room, rekey.epoch], [r.room, 7]);
    await expect(member, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'error', 'not_joined');
    await expect(member, r.joinFrame(member, 0), 'error', 'auth_failed');
    await joinAt(member, r, 7);
  });

  it('a reset seen on the wire and replayed cannot take the room back (a removed member would get back in): its signature covers the connection\'s challenge, and a reset never goes back', async () => {
    const relay = await start();
    const r = new PrivateRoomKeys();
    const owner = await client(relay);
    const creation = r.resetFrame(owner, 0);
    await expect(owner, creation, 'reset_ok');
    await expect(owner, creation, 'reset_ok'); // the same reset again, nothing happened since: harmless
    await joinAt(owner, r, 0);
    await expect(owner, r.commitFrame(0), 'ack');
    await owner.nextOfType('rekey');
    const removed = await client(relay);
    await expect(removed, creation, 'error', 'auth_failed');
    // Even signed afresh, over the right challenge, a reset does not go back.
    await expect(owner, r.resetFrame(owner, 0), 'error', 'auth_failed');
    await expect(removed, r.resetFrame(removed, 0), 'error', 'auth_failed');
    await joinAt(owner, r, 1);
    // The owner repairs to epoch 5; a replay of that one, or of the first, is refused after it.
    const repair = r.resetFrame(owner, 5);
    await expect(owner, repair, 'reset_ok');
    await joinAt(owner, r, 5);
    await expect(owner, r.commitFrame(5), 'ack');
    await expect(removed, repair, 'error', 'auth_failed');
    await expect(removed, creation, 'error', 'auth_failed');
    const j = await expect(removed, r.joinFrame(removed, 0), 'error', 'auth_failed');
    assert.equal(j.t, 'error');
  });

  it('repair (§3.6): after garbage commits with valid rotations, the owner cuts the epochs back to the members\' one; the refused commits lose their epoch for everyone; the cut survives SIGKILL', async () => {
    const dataDir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'smc-repair-'));
    const relay = await start({ dataDir });
    const { r, owner } = await created(relay);
    await joinAt(owner, r, 0);
    await expect(owner, r.commitFrame(0), 'ack'); // a good commit: epoch 1 at seq 1
    await owner.nextOfType('rekey');
    await joinAt(owner, r, 1);
    await expect(owner, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack'); // seq 2
    // The attacker holds epoch 1's key: two garbage commits, epochs 2 (seq 3) and 3 (seq 4), keys of its own.
    const attacker = await client(relay);
    await joinAt(attacker, r, 1);
    const g1 = r.commitFrame(1);
    assert.equal((await expect(attacker, g1, 'ack')).seq, 3);
    await attacker.nextOfType('rekey');
    await joinAt(attacker, r, 2);
    const g2 = r.commitFrame(2);
    assert.equal((await expect(attacker, g2, 'ack')).seq, 4);
    // The members hold epoch 1's key: read-only, `joined` says the relay is in epoch 3.
    const member = await client(relay);
    const ro = await expect(member, r.joinFrame(member, 1), 'joined');
    assert.deepEqual([ro.head, ro.epoch], [3, 3]);
    assert.deepEqual([(await member.nextOfType('rekey')).epoch], [2]);
    // Repairs that do not match the relay's epochs: the wrong refused seq, the current epoch,
    // another key for epoch 1, a repair signed for another connection.
    await expect(owner, r.resetFrame(owner, 1, { refuse: 4 }), 'error', 'auth_failed');
    await expect(owner, r.resetFrame(owner, 3, { refuse: 4 }), 'error', 'auth_failed');
    const other = new PrivateRoomKeys();
    Object.assign(other, { owner: r.owner, room: r.room });
    await expect(owner, other.resetFrame(owner, 1, { refuse: 3 }), 'error', 'auth_failed');
    await expect(attacker, r.resetFrame(owner, 1, { refuse: 3 }), 'error', 'auth_failed');
    // The owner's repair: back to epoch 1, refusing the commit at seq 3.
    await expect(owner, r.resetFrame(owner, 1, { refuse: 3 }), 'reset_ok');
    member.drain();
    const mark = member.received.length;
    const j = await joinAt(member, r, 1, { since: 2 });
    assert.equal(j.epoch, 1);
    assert.deepEqual(member.received.slice(mark).filter((f) => f.t === 'msg').map((f) => [f.seq, f.epoch]), [[3, undefined], [4, undefined]]);
    await expect(attacker, r.joinFrame(attacker, 2), 'error', 'auth_failed');
    // The same repair again (a replay, or a resend) finds nothing to cut.
    await expect(owner, r.resetFrame(owner, 1, { refuse: 3 }), 'error', 'auth_failed');
    // The room goes on in epoch 1: a message, then a real commit for epoch 1 ends it.
    await expect(member, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack');
    r.keys.length = 2;
    const good = r.commitFrame(1);
    const ack = await expect(member, good, 'ack');
    assert.deepEqual([ack.seq, ack.epoch], [6, 2]);
    // After SIGKILL the cut and the new epoch are there; the garbage commits stay plain messages.
    member.destroy();
    owner.destroy();
    attacker.destroy();
    await relay.stop('SIGKILL');
    relays.splice(relays.indexOf(relay), 1);
    const again = await start({ dataDir });
    const c = await client(again);
    const rj = await joinAt(c, r, 2);
    assert.equal(rj.epoch, 2);
    const old = await client(again);
    const oj = await expect(old, r.joinFrame(old, 1), 'joined');
    assert.deepEqual([oj.head, oj.epoch], [6, 2]);
    await old.nextOfType('synced');
    assert.deepEqual(old.received.filter((f) => f.t === 'msg').map((f) => [f.seq, f.epoch]), [[1, 1], [2, undefined], [3, undefined], [4, undefined], [5, undefined], [6, 2]]);
    (await import('node:fs')).rmSync(dataDir, { recursive: true, force: true });
  });

  it('a commit: acked and forwarded with its epoch, then every member (the sender too) gets rekey; the old key reads only up to the commit', async () => {
    const relay = await start();
    const { r, owner } = await created(relay);
    const bob = await client(relay);
    const carol = await client(relay);
    await joinAt(owner, r, 0);
    await joinAt(bob, r, 0);
    await joinAt(carol, r, 0);
    await expect(bob, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack');
    const commit = r.commitFrame(0);
    const ack = await expect(owner, commit, 'ack');
    assert.deepEqual([ack.seq, ack.epoch], [2, 1]);
    for (const c of [bob, carol]) {
      const msg = await c.nextOfType('msg', (f) => f.id === commit.id);
      assert.deepEqual([msg.seq, msg.epoch, msg.body], [2, 1, commit.body]);
    }
    for (const c of [owner, bob, carol]) {
      const rekey = await c.nextOfType('rekey');
      assert.deepEqual([rekey.room, rekey.epoch, rekey.seq], [r.room, 1, 2]);
      await expect(c, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'error', 'not_joined');
    }
    // Carol, the removed one, keeps her connection and her epoch-0 key: she reads up to the
    // commit that removed her, and nothing after, and can store nothing.
    await joinAt(owner, r, 1);
    await joinAt(bob, r, 1);
    const after = await expect(owner, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack');
    assert.equal(after.seq, 3);
    carol.drain();
    const mark = carol.received.length;
    const ro = await expect(carol, r.joinFrame(carol, 0), 'joined');
    assert.equal(ro.head, 2);
    const synced = await carol.nextOfType('synced');
    assert.deepEqual([synced.head, synced.from], [2, 1]);
    const rekey = await carol.nextOfType('rekey');
    assert.deepEqual([rekey.epoch, rekey.seq], [1, 2]);
    assert.deepEqual(carol.received.slice(mark).filter((f) => f.t === 'msg').map((f) => [f.seq, f.epoch]), [[1, undefined], [2, 1]]);
    for (const frame of [{ t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, r.commitFrame(0)]) {
      await expect(carol, frame, 'error', 'not_joined');
    }
    // Until she joins again she may page back through her epoch, and no further.
    const page = await expect(carol, { t: 'history', room: r.room, before: 1000 }, 'page');
    assert.deepEqual([page.from, page.to, page.more], [1, 2, false]);
    await expect(carol, { t: 'leave', room: r.room }, 'left');
    await expect(carol, { t: 'history', room: r.room }, 'error', 'not_joined');
    const fresh = await client(relay);
    await expect(fresh, r.joinFrame(fresh, 1, { auth: undefined, proof: undefined }), 'error', 'auth_required');
    // Bob got owner's later message live; carol never did.
    await bob.nextOfType('msg', (f) => f.seq === 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(!carol.received.some((f) => f.t === 'msg' && Number(f.seq) > 2), JSON.stringify(carol.received));
  });

  it('a member in the middle of its catch-up when a commit lands gets the commit once, then rekey, after synced', async () => {
    const relay = await start({ args: ['--rate', '0'] });
    const { r, owner } = await created(relay);
    await joinAt(owner, r, 0);
    const body = 'AgAA' + 'x'.repeat(4000);
    for (let n = 0; n < 300; n++) owner.send({ t: 'send', room: r.room, id: randomId(), body, rid: 10_000 + n });
    await owner.next((f) => f.rid === 10_299, 20_000);
    const late = await client(relay);
    const commit = r.commitFrame(0);
    // The join's catch-up (300 messages of 4 KB) streams over many turns; the commit lands meanwhile.
    late.send({ ...r.joinFrame(late, 0, { limit: 1000 }), rid: 900 });
    await late.next((f) => f.t === 'joined');
    const ack = await expect(owner, commit, 'ack');
    const rekey = await late.nextOfType('rekey', () => true, 20_000);
    assert.deepEqual([rekey.epoch, rekey.seq, ack.seq], [1, 301, 301]);
    const order = late.received.map((f) => (f.t === 'msg' ? (f.id === commit.id ? 'commit' : 'msg') : f.t)).filter((t) => t !== 'msg' && t !== 'presence');
    assert.deepEqual(order, ['welcome', 'joined', 'synced', 'commit', 'rekey'].filter((t) => t !== 'commit' || late.received.some((f) => f.id === commit.id)));
    assert.equal(late.received.filter((f) => f.id === commit.id).length, 1, 'the commit once');
    await expect(late, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'error', 'not_joined');
  });

  it('two commits for one epoch: one is stored, the other is stale_epoch with the winner\'s seq and is never forwarded', async () => {
    const relay = await start();
    const { r, owner } = await created(relay);
    const a = await client(relay);
    const b = await client(relay);
    const watcher = await client(relay);
    for (const c of [owner, a, b, watcher]) await joinAt(c, r, 0);
    const ca = r.commitFrame(0);
    // b's commit also ends epoch 0 but names another key for epoch 1.
    const otherNext = newKey();
    const cb: Record<string, unknown> = { ...r.commitFrame(0), ...makeRotation(r.key(0), r.room, 1n, otherNext) };
    const [ra, rb] = await Promise.all([a.request(ca), b.request(cb)]);
    const replies = [ra, rb];
    const won = replies.findIndex((f) => f.t === 'ack');
    assert.ok(won >= 0, JSON.stringify(replies));
    const lost = replies[1 - won] as Frame;
    const winner = replies[won] as Frame;
    assert.deepEqual([lost.t, lost.code, lost.epoch, lost.seq], ['error', 'stale_epoch', 1, winner.seq], JSON.stringify(lost));
    const winnerId = won === 0 ? ca.id : cb.id;
    const loserId = won === 0 ? cb.id : ca.id;
    await watcher.nextOfType('rekey');
    assert.deepEqual(watcher.received.filter((f) => f.t === 'msg').map((f) => f.id), [winnerId]);
    // The loser retries in the new epoch (with the winner's key): accepted.
    if (won === 1) r.keys[1] = otherNext;
    const fresh = await client(relay);
    const j = await joinAt(fresh, r, 1);
    assert.equal(j.head, 1);
    assert.ok(!fresh.received.some((f) => f.id === loserId));
    const retry = await expect(fresh, r.commitFrame(1), 'ack');
    assert.deepEqual([retry.seq, retry.epoch], [2, 2]);
    // A late commit for epoch 0 after all that: stale, pointing at the commit that ended it.
    const late = await client(relay);
    await joinAt(late, r, 2);
    const stale = await expect(late, { ...r.commitFrame(0), ...makeRotation(r.key(0), r.room, 1n, newKey()) }, 'error', 'stale_epoch');
    assert.deepEqual([stale.epoch, stale.seq], [2, 1]);
  });

  it('a forged rotation is auth_failed and stored nowhere; a commit from the future is bad_request; a resent commit gets its first ack', async () => {
    const relay = await start();
    const { r, owner } = await created(relay);
    await joinAt(owner, r, 0);
    const forged = r.commitFrame(0, { signer: newKey() });
    await expect(owner, forged, 'error', 'auth_failed');
    await expect(owner, { ...r.commitFrame(0), epoch: 2 }, 'error', 'bad_request');
    const commit = r.commitFrame(0);
    const first = await expect(owner, commit, 'ack');
    await owner.nextOfType('rekey');
    await joinAt(owner, r, 1);
    const again = await expect(owner, commit, 'ack');
    assert.deepEqual([again.seq, again.ts, again.epoch], [first.seq, first.ts, 1]);
    const j = await joinAt(await client(relay), r, 1);
    assert.equal(j.head, 1, 'the forged commit was not stored, the resent one not twice');
    // A link room is no private room: a commit there is bad_request.
    const link = await client(relay);
    const linkRoom = randomRoom();
    await expect(link, { t: 'join', room: linkRoom }, 'joined');
    await expect(link, { ...r.commitFrame(4), room: linkRoom }, 'error', 'bad_request');
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`the owner, epoch and keys survive a ${signal} restart`, async () => {
      const relay = await start();
      const dataDir = relay.dataDir;
      const { r, owner } = await created(relay);
      await joinAt(owner, r, 0);
      for (let e = 0; e < 3; e++) {
        await expect(owner, { t: 'send', room: r.room, id: randomId(), body: 'AgAAAA' }, 'ack');
        await expect(owner, r.commitFrame(e), 'ack');
        await owner.nextOfType('rekey');
        await joinAt(owner, r, e + 1);
      }
      owner.destroy();
      await relay.stop(signal);
      const again = await start({ dataDir });
      const c = await client(again);
      await joinAt(c, r, 3);
      await expect(c, r.commitFrame(1), 'error', 'stale_epoch');
      // An old key reads up to the end of its epoch, then is told the next one.
      const old = await client(again);
      const ro = await expect(old, r.joinFrame(old, 1), 'joined');
      assert.equal(ro.head, 4);
      assert.deepEqual([(await old.nextOfType('rekey')).epoch], [2]);
      const thief = newKey();
      await expect(c, { ...r.resetFrame(c, 0, { owner: thief }), owner: makeReset(thief, c.challenge, r.room, 0n, r.key(0)).owner }, 'error', 'auth_failed');
      const next = await expect(c, r.commitFrame(3), 'ack');
      assert.deepEqual([next.seq, next.epoch], [7, 4]);
      // A restart after a compaction-free SIGTERM again: the new epoch is there.
      c.destroy();
      old.destroy();
      await again.stop('SIGTERM');
      const third = await start({ dataDir });
      await joinAt(await client(third), r, 4);
    });
  }

  it('a relay killed right after a commit is sent keeps the commit and its epoch together, or neither', async () => {
    for (let round = 0; round < 4; round++) {
      const relay = await start();
      const dataDir = relay.dataDir;
      const { r, owner } = await created(relay);
      await joinAt(owner, r, 0);
      const commit = r.commitFrame(0);
      owner.send({ ...commit, rid: 99 });
      // Kill at a different moment each round: at once, or after a few event-loop turns.
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, round * 3));
      await relay.kill();
      const again = await start({ dataDir });
      const c = await client(again);
      const key1 = await c.request(r.joinFrame(c, 1));
      if (key1.t === 'joined') {
        assert.equal(key1.head, 1);
        await c.nextOfType('synced');
        assert.deepEqual(c.received.filter((f) => f.t === 'msg').map((f) => [f.id, f.epoch]), [[commit.id, 1]]);
      } else {
        assert.equal(key1.code, 'auth_failed', JSON.stringify(key1));
        const j = await joinAt(c, r, 0);
        assert.equal(j.head, 0, 'the commit is not stored without its epoch');
      }
      // Either way the client's resend is answered consistently.
      const e = await c.request(commit);
      assert.deepEqual([e.t, e.seq, e.epoch], ['ack', 1, 1]);
      c.destroy();
      await again.cleanup();
      relays.splice(relays.indexOf(again), 1);
      await relay.cleanup();
      relays.splice(relays.indexOf(relay), 1);
    }
  });

  it('a flood of bad resets and forged commits is bounded by the proof bucket: rate_limited, the connection stays', async () => {
    const relay = await start();
    const { r, owner } = await created(relay);
    await joinAt(owner, r, 0);
    const attacker = await client(relay);
    const bad = { ...r.resetFrame(attacker, 0), sig: makeReset(newKey(), attacker.challenge, r.room, 0n, r.key(0)).sig };
    const replies: Frame[] = [];
    for (let i = 0; i < 120; i++) replies.push(await attacker.request(bad));
    const failed = replies.filter((f) => f.code === 'auth_failed').length;
    const limited = replies.filter((f) => f.code === 'rate_limited').length;
    assert.equal(failed + limited, 120, JSON.stringify(replies.slice(0, 3)));
    // The bucket: a burst of 40, then 8/s while this loop runs (generous: it may take seconds).
    assert.ok(failed >= 40 && limited > 0, `${failed} checked, ${limited} refused`);
    // Forged commits from a member count against the same bucket.
    const forged: Frame[] = [];
    for (let i = 0; i < 80; i++) forged.push(await owner.request(r.commitFrame(0, { signer: newKey() })));
    assert.ok(forged.some((f) => f.code === 'rate_limited'), 'commits are rate limited');
    assert.ok(forged.every((f) => f.code === 'rate_limited' || f.code === 'auth_failed'), JSON.stringify(forged.slice(0, 3)));
    await expect(attacker, { t: 'ping' }, 'pong');
    const j = await joinAt(await client(relay), r, 0);
    assert.equal(j.head, 0, 'nothing was stored');
  });
});
