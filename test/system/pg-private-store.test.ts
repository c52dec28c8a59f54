// The PostgreSQL store's private-room records (docs/storage.md "PostgreSQL: private rooms",
// protocol §3.6), on a real PostgreSQL with two store instances (two relays' stores) on one
// database: the owner rule of reset, the epoch compare-and-set of a commit (one of many racing
// on two instances), a resent commit answered from its first copy, a reset replayed after
// commits refused, a repair (reset with `refuse`) that cuts the epochs the refused commit
// began, the epoch carried by range, the record cache of one instance following another's
// commits and resets, and the epochs kept at most MAX_EPOCHS.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { postgresPerTest } from '../helpers/postgres';
import { PgStore } from '../../src/relay/store/pg/pgStore';
import { MAX_EPOCHS } from '../../src/relay/store/privateLog';

const key = (): string => randomBytes(16).toString('base64url');

describe('PostgreSQL store: private rooms (§3.6)', function () {
  this.timeout(120_000);
  const postgres = postgresPerTest();
  const owner = randomBytes(32);
  const keys = Array.from({ length: 16 }, () => randomBytes(32));

  const open = async (): Promise<PgStore> => {
    const s = new PgStore({ url: postgres.url, retain: 100_000, pollMs: 200 });
    postgres.closeAfter(s, (store) => store.close());
    await s.open();
    return s;
  };
  const epochOf = async (s: PgStore, room: string): Promise<number | undefined> => {
    const rec = await s.privateRoom(room);
    return rec?.epochs[rec.epochs.length - 1]?.epoch;
  };

  it('reset keeps its owner; a commit moves the epoch only from the one before; a resent commit is its first copy; range carries the epoch', async () => {
    const s = await open();
    const room = key();
    assert.equal(await s.privateRoom(room), undefined);
    assert.deepEqual(await s.resetPrivateRoom(room, owner, 0, keys[0] as Buffer), { ok: true, seq: 0 });
    assert.deepEqual(await s.resetPrivateRoom(room, randomBytes(32), 0, keys[0] as Buffer), { ok: false, reason: 'owner' });
    const plain = await s.append(room, key(), 'AgAA');
    const c1 = key();
    const first = await s.appendCommit(room, c1, 'AgAB', 1, keys[1] as Buffer);
    assert.deepEqual([first.stale, first.stale ? 0 : first.seq, first.epoch], [false, 2, 1]);
    assert.deepEqual(await s.appendCommit(room, key(), 'AgAB', 1, keys[2] as Buffer), { stale: true, epoch: 1, seq: 2 });
    assert.deepEqual(await s.appendCommit(room, key(), 'AgAB', 3, keys[2] as Buffer), { stale: true, epoch: 1, seq: 2 });
    const again = await s.appendCommit(room, c1, 'AgAB', 1, keys[1] as Buffer);
    assert.deepEqual(again, { stale: false, seq: 2, ts: first.stale ? 0 : first.ts, duplicate: true, epoch: 1 });
    // A commit whose id is a plain message of the room: that message's seq, nothing stored, the epoch stays.
    const [plainRow] = await s.range(room, 0, 2, 1);
    const asCommit = await s.appendCommit(room, plainRow?.id ?? '', 'AgAB', 2, keys[2] as Buffer);
    assert.deepEqual([asCommit.stale, !asCommit.stale && asCommit.duplicate, !asCommit.stale && asCommit.seq, asCommit.epoch], [false, true, plain.seq, 1]);
    assert.deepEqual((await s.range(room, 0, 10, 10)).map((m) => [m.seq, m.epoch]), [[1, undefined], [2, 1]]);
    assert.equal(await s.head(room), 2);
    // A commit for a room that was never reset is no commit.
    await assert.rejects(s.appendCommit(key(), key(), 'AgAB', 1, keys[1] as Buffer), /not a private room/);
  });

  it('commits for one epoch racing on two instances: exactly one is stored each round, the others are stale with its seq', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    await a.resetPrivateRoom(room, owner, 4, keys[0] as Buffer);
    for (let e = 5; e < 15; e++) {
      const results = await Promise.all([a, b, a, b].map((s, n) => s.appendCommit(room, key(), 'AgAB', e, keys[n] as Buffer)));
      const won = results.filter((r) => !r.stale);
      assert.equal(won.length, 1, JSON.stringify(results));
      const winner = won[0];
      for (const r of results) if (r.stale) assert.deepEqual(r, { stale: true, epoch: e, seq: winner?.stale === false ? winner.seq : -1 });
    }
    assert.equal(await a.head(room), 10);
    assert.equal(await epochOf(b, room), 14);
    const rec = await a.privateRoom(room);
    assert.deepEqual(rec?.epochs.map((x) => [x.epoch, x.seq]), [[4, 0], ...Array.from({ length: 10 }, (_, i) => [i + 5, i + 1])]);
  });

  it('one instance\'s cache follows the other\'s commits and resets; a replayed reset is refused; a repair cuts back to the members\' epoch', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    await a.resetPrivateRoom(room, owner, 0, keys[0] as Buffer);
    assert.equal(await epochOf(b, room), 0); // b caches the record
    for (let e = 1; e <= 3; e++) await a.appendCommit(room, key(), 'AgAB', e, keys[e] as Buffer);
    assert.equal(await epochOf(b, room), 3, 'b reads the commits a stored');
    // The creation reset replayed after commits: refused on either instance.
    assert.deepEqual(await b.resetPrivateRoom(room, owner, 0, keys[0] as Buffer), { ok: false, reason: 'stale' });
    // A repair: the commit that began epoch 3 (seq 3) was refused by every member, who are in 2.
    assert.deepEqual(await b.resetPrivateRoom(room, owner, 2, keys[2] as Buffer, 2), { ok: false, reason: 'stale' }, 'epoch 3 began at seq 3');
    assert.deepEqual(await b.resetPrivateRoom(room, owner, 2, keys[9] as Buffer, 3), { ok: false, reason: 'stale' }, 'another key for epoch 2');
    assert.deepEqual(await b.resetPrivateRoom(room, owner, 3, keys[3] as Buffer, 4), { ok: false, reason: 'stale' }, 'the current epoch is not cut');
    assert.deepEqual(await b.resetPrivateRoom(room, randomBytes(32), 2, keys[2] as Buffer, 3), { ok: false, reason: 'owner' });
    assert.deepEqual(await b.resetPrivateRoom(room, owner, 2, keys[2] as Buffer, 3), { ok: true, seq: 3 });
    const cut = await a.privateRoom(room);
    assert.deepEqual(cut?.epochs.map((x) => x.epoch), [0, 1, 2], 'a reads the cut record, not its cache');
    assert.deepEqual((await a.range(room, 0, 10, 10)).map((m) => m.epoch), [1, 2, undefined], 'the refused commit carries no epoch any more');
    const next = await a.appendCommit(room, key(), 'AgAB', 3, keys[10] as Buffer);
    assert.deepEqual([next.stale, !next.stale && next.seq], [false, 4]);
    // A plain reset to a new epoch replaces every epoch; the old keys are gone on both.
    assert.deepEqual(await a.resetPrivateRoom(room, owner, 7, keys[7] as Buffer), { ok: true, seq: 4 });
    assert.deepEqual((await b.privateRoom(room))?.epochs.map((x) => [x.epoch, x.seq, x.id]), [[7, 4, '']]);
  });

  it('keeps the newest MAX_EPOCHS epochs', async () => {
    const s = await open();
    const room = key();
    await s.resetPrivateRoom(room, owner, 0, keys[0] as Buffer);
    const base = 0;
    // Jump close to the bound with a reset, then commit past it.
    await s.resetPrivateRoom(room, owner, base + 1, keys[1] as Buffer);
    for (let e = 2; e <= MAX_EPOCHS + 5; e++) {
      const r = await s.appendCommit(room, key(), 'AgAB', e, randomBytes(32));
      assert.equal(r.stale, false);
    }
    const rec = await s.privateRoom(room);
    assert.equal(rec?.epochs.length, MAX_EPOCHS);
    assert.deepEqual([rec?.epochs[0]?.epoch, rec?.epochs.at(-1)?.epoch], [6, MAX_EPOCHS + 5]);
    const rows = await postgres.sql('SELECT count(*)::int AS n FROM smc_private_epochs WHERE room = $1', [room]);
    assert.equal(rows[0]?.n, MAX_EPOCHS);
  });
});
