// The pure parts of the relay's private rooms (docs/protocol.md §3.6; docs/storage.md "Private
// rooms"): the private.log record format, its replay, the epoch lookups.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import {
  COMPACT_AT_BYTES, decodePrivateLog, encodePrivateRecord, shouldCompactPrivateLog, KIND_RESET, KIND_ROTATION, KIND_ROTATION_CHECKED, MAX_EPOCHS, recordsOf, replayPrivateLog,
  type PrivateLogRecord,
} from '../../src/relay/store/privateLog';
import { epochStartedAt } from '../../src/relay/store/fileStore';
import { epochIndexOf } from '../../src/relay/privateRooms';

const ROOM = 'AAAAAAAAAAAAAAAAAAAAAA';
const MAGIC = Buffer.from('SMCPRV1\n', 'latin1');

function reset(epoch: number, seq = 0, owner = Buffer.alloc(32, 7)): PrivateLogRecord {
  return { kind: KIND_RESET, room: ROOM, id: '', seq, ts: 1, epoch, authPub: randomBytes(32), owner };
}
function rotation(epoch: number, seq: number, id = 'id' + String(seq).padStart(20, '0'), kind = KIND_ROTATION): PrivateLogRecord {
  return { kind, room: ROOM, id, seq, ts: 2, epoch, authPub: randomBytes(32), owner: Buffer.alloc(32) };
}
function file(records: PrivateLogRecord[]): Buffer {
  return Buffer.concat([MAGIC, ...records.map(encodePrivateRecord)]);
}

describe('relay private rooms: private.log and epochs (§3.6)', () => {
  it('round-trips every field', () => {
    const recs = [reset(3, 5), rotation(4, 9), rotation(5, 12, 'x'.repeat(22), KIND_ROTATION_CHECKED)];
    const { records, corrupt, tornAt } = decodePrivateLog(file(recs));
    assert.deepEqual([corrupt, tornAt], [0, undefined]);
    assert.deepEqual(records, recs);
  });

  it('a torn tail ends the scan; a record with a bad CRC in the middle is skipped, those after it kept', () => {
    const recs = [reset(0), rotation(1, 3), rotation(2, 5)];
    const buf = file(recs);
    const torn = decodePrivateLog(buf.subarray(0, buf.length - 10));
    assert.deepEqual([torn.records.length, torn.corrupt], [2, 0]);
    assert.ok(torn.tornAt !== undefined);
    const second = MAGIC.length + encodePrivateRecord(recs[0] as PrivateLogRecord).length;
    const damaged = Buffer.from(buf);
    damaged.writeUInt8(damaged.readUInt8(second + 40) ^ 0xff, second + 40);
    const d = decodePrivateLog(damaged);
    assert.deepEqual([d.records.length, d.corrupt, d.tornAt], [2, 1, undefined]);
    assert.deepEqual(d.records[1], recs[2]);
    assert.deepEqual(decodePrivateLog(Buffer.from('garbage!')).tornAt, 0);
    assert.deepEqual(decodePrivateLog(Buffer.alloc(0)).records, []);
  });

  it('replay: a reset starts afresh, a rotation extends only the next epoch, later ones for an ended epoch are ignored', () => {
    const rooms = replayPrivateLog([
      rotation(1, 1), // before any reset: not a private room yet
      reset(0, 0), rotation(1, 2), rotation(1, 3), rotation(3, 4), rotation(2, 5, undefined, KIND_ROTATION_CHECKED),
    ]);
    const r = rooms.get(ROOM);
    assert.ok(r);
    assert.deepEqual(r.epochs.map((e) => [e.epoch, e.seq]), [[0, 0], [1, 2], [2, 5]]);
    assert.equal(r.uncheckedFrom, 1, 'the first rotation written live is checked at open');
    const again = replayPrivateLog([reset(0, 0), rotation(1, 2), reset(9, 4)]).get(ROOM);
    assert.deepEqual(again?.epochs.map((e) => e.epoch), [9]);
  });

  it('keeps at most MAX_EPOCHS epochs; the rewrite describes exactly the state', () => {
    const recs = [reset(0, 0)];
    for (let e = 1; e <= MAX_EPOCHS + 5; e++) recs.push(rotation(e, e, undefined, KIND_ROTATION_CHECKED));
    const r = replayPrivateLog(recs).get(ROOM);
    assert.equal(r?.epochs.length, MAX_EPOCHS);
    assert.equal(r?.epochs[0]?.epoch, 6);
    const state = new Map([[ROOM, { owner: Buffer.alloc(32, 7), epochs: r?.epochs ?? [] }]]);
    const back = replayPrivateLog(decodePrivateLog(file(recordsOf(state))).records).get(ROOM);
    assert.deepEqual(back?.epochs, r?.epochs);
    assert.deepEqual(back?.owner, Buffer.alloc(32, 7));
    assert.equal(back?.uncheckedFrom, Infinity);
  });

  it('the file is rewritten once past 1 MiB and mostly superseded, never while small or mostly live', () => {
    assert.equal(shouldCompactPrivateLog(COMPACT_AT_BYTES, 0), false);
    assert.equal(shouldCompactPrivateLog(COMPACT_AT_BYTES + 1, 10), true);
    assert.equal(shouldCompactPrivateLog(COMPACT_AT_BYTES * 4, 40_000), false);
    assert.equal(shouldCompactPrivateLog(COMPACT_AT_BYTES * 40, 40_000), true);
  });

  it('epochStartedAt finds a commit by seq and id; epochIndexOf a key, newest first', () => {
    const epochs = [reset(0, 0), rotation(1, 4), rotation(2, 9)].map((x) => ({ epoch: x.epoch, authPub: x.authPub, seq: x.seq, ts: x.ts, id: x.id }));
    assert.equal(epochStartedAt(epochs, 4, epochs[1]?.id ?? ''), 1);
    assert.equal(epochStartedAt(epochs, 4, 'other'), undefined);
    assert.equal(epochStartedAt(epochs, 0, ''), undefined, 'a reset is no commit');
    assert.equal(epochStartedAt(epochs, 5, 'x'), undefined);
    const rec = { owner: Buffer.alloc(32), epochs };
    assert.equal(epochIndexOf(rec, epochs[2]?.authPub ?? Buffer.alloc(0)), 2);
    assert.equal(epochIndexOf(rec, randomBytes(32)), -1);
  });
});
