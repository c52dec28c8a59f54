// The embedded store's private-room records (docs/storage.md "Private rooms", protocol §3.6) on
// real files: all-or-nothing with the commit's message across a crash between the two syncs,
// kept through retention, compaction, a clean stop (checkpoint) and a full scan, the epoch
// compare-and-set, and the owner rule of reset.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/relay/store/fileStore';
import { encodePrivateRecord, KIND_ROTATION, PRIVATE_LOG_FILE } from '../../src/relay/store/privateLog';

const ROOM = 'PPPPPPPPPPPPPPPPPPPPPP';
const id = (n: number): string => 'm' + String(n).padStart(21, '0');

describe('FileStore private rooms (§3.6)', function () {
  this.timeout(30_000);
  let root: string;
  let dir: string;
  let events: string[];
  const open: FileStore[] = [];
  const owner = randomBytes(32);
  const keys = Array.from({ length: 8 }, () => randomBytes(32));

  async function openStore(opts: { retain?: number; segmentBytes?: number } = {}): Promise<FileStore> {
    const s = new FileStore({ dir, retain: opts.retain ?? 10_000, segmentBytes: opts.segmentBytes, log: (event) => events.push(event) });
    await s.open();
    open.push(s);
    return s;
  }

  async function reopen(s: FileStore, opts: { retain?: number; segmentBytes?: number } = {}): Promise<FileStore> {
    await s.close();
    open.splice(open.indexOf(s), 1);
    return openStore(opts);
  }

  async function epochOf(s: FileStore): Promise<number | undefined> {
    const rec = await s.privateRoom(ROOM);
    return rec?.epochs[rec.epochs.length - 1]?.epoch;
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'smc-private-store-'));
    dir = join(root, 'data');
    mkdirSync(dir);
    events = [];
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('reset keeps its owner; a commit moves the epoch only from the one before; a resent commit is its first copy', async () => {
    const s = await openStore();
    assert.equal(await s.privateRoom(ROOM), undefined);
    assert.deepEqual(await s.resetPrivateRoom(ROOM, owner, 0, keys[0] as Buffer), { ok: true, seq: 0 });
    assert.deepEqual(await s.resetPrivateRoom(ROOM, randomBytes(32), 0, keys[0] as Buffer), { ok: false, reason: 'owner' });
    const first = await s.appendCommit(ROOM, id(1), 'AgAB', 1, keys[1] as Buffer);
    assert.deepEqual([first.stale, first.stale ? 0 : first.seq, first.epoch], [false, 1, 1]);
    assert.deepEqual(await s.appendCommit(ROOM, id(2), 'AgAB', 1, keys[2] as Buffer), { stale: true, epoch: 1, seq: 1 });
    const again = await s.appendCommit(ROOM, id(1), 'AgAB', 1, keys[1] as Buffer);
    assert.deepEqual([again.stale, !again.stale && again.duplicate, again.epoch], [false, true, 1]);
    const [m] = await s.range(ROOM, 0, 2, 10);
    assert.deepEqual([m?.id, m?.epoch], [id(1), 1]);
    assert.equal(s.head(ROOM), 1);
  });

  it('two commits for one epoch in the same tick: exactly one is stored', async () => {
    const s = await openStore();
    await s.resetPrivateRoom(ROOM, owner, 4, keys[0] as Buffer);
    const results = await Promise.all([1, 2, 3].map((n) => s.appendCommit(ROOM, id(n), 'AgAB', 5, keys[n] as Buffer)));
    assert.equal(results.filter((r) => !r.stale).length, 1, JSON.stringify(results));
    assert.equal(s.head(ROOM), 1);
    assert.equal(await epochOf(s), 5);
  });

  it('a rotation made durable whose message never reached the log is dropped at open (a crash between the syncs)', async () => {
    let s = await openStore();
    await s.resetPrivateRoom(ROOM, owner, 0, keys[0] as Buffer);
    await s.appendCommit(ROOM, id(1), 'AgAB', 1, keys[1] as Buffer);
    await s.close();
    open.splice(0);
    // What a crash after the rotation's sync and before the message's leaves: a rotation for
    // seq 2, which the log does not hold.
    appendFileSync(join(dir, PRIVATE_LOG_FILE), encodePrivateRecord({
      kind: KIND_ROTATION, room: ROOM, id: id(2), seq: 2, ts: 1, epoch: 2, authPub: keys[2] as Buffer, owner: Buffer.alloc(32),
    }));
    s = await openStore();
    assert.equal(await epochOf(s), 1);
    assert.ok(events.includes('store.private_rotations_dropped'), events.join(' '));
    // The message log and the epochs agree, and the next commit for epoch 2 is accepted.
    const next = await s.appendCommit(ROOM, id(3), 'AgAB', 2, keys[3] as Buffer);
    assert.deepEqual([next.stale, !next.stale && next.seq], [false, 2]);
    s = await reopen(s);
    assert.equal(await epochOf(s), 2);
    const rec = await s.privateRoom(ROOM);
    assert.deepEqual(rec?.epochs.map((e) => [e.epoch, e.seq, e.id]), [[0, 0, ''], [1, 1, id(1)], [2, 2, id(3)]]);
  });

  it('a rotation whose seq went to another message (a failed write, then a crash) is dropped at open', async () => {
    let s = await openStore();
    await s.resetPrivateRoom(ROOM, owner, 0, keys[0] as Buffer);
    await s.append(ROOM, id(1), 'AgAA');
    await s.close();
    open.splice(0);
    appendFileSync(join(dir, PRIVATE_LOG_FILE), encodePrivateRecord({
      kind: KIND_ROTATION, room: ROOM, id: id(7), seq: 1, ts: 1, epoch: 1, authPub: keys[1] as Buffer, owner: Buffer.alloc(32),
    }));
    s = await openStore();
    assert.equal(await epochOf(s), 0);
    const [m] = await s.range(ROOM, 0, 2, 1);
    assert.equal(m?.epoch, undefined, 'a plain message is no commit');
  });

  it('kept through retention, compaction, a clean stop and a full scan of the log', async () => {
    let s = await openStore({ retain: 3, segmentBytes: 4096 });
    await s.resetPrivateRoom(ROOM, owner, 0, keys[0] as Buffer);
    await s.appendCommit(ROOM, id(0), 'AgAB', 1, keys[1] as Buffer);
    for (let n = 1; n <= 200; n++) await s.append(ROOM, id(n), 'AgAA' + 'x'.repeat(40));
    await s.appendCommit(ROOM, id(999), 'AgAB', 2, keys[2] as Buffer);
    await s.compactNow();
    assert.ok(s.stats().compactions > 0, 'a compaction ran');
    assert.equal(s.oldest(ROOM) > 1, true, 'the first commit was dropped by retention');
    s = await reopen(s, { retain: 3, segmentBytes: 4096 });
    assert.equal(await epochOf(s), 2);
    await s.close();
    open.splice(0);
    for (const f of readdirSync(dir)) if (f === 'index.ckpt') unlinkSync(join(dir, f));
    s = await openStore({ retain: 3, segmentBytes: 4096 });
    const rec = await s.privateRoom(ROOM);
    assert.deepEqual(rec?.epochs.map((e) => e.epoch), [0, 1, 2]);
    assert.deepEqual(rec?.epochs[2]?.authPub, keys[2]);
    assert.deepEqual(rec?.owner, owner);
  });
});
