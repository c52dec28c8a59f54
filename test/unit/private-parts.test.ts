// Parts of a long message (docs/protocol.md §3.3.1, src/core/private/parts.ts): the vectors of
// test/fixtures/mls/parts-vectors.json (made by make-parts-vectors.py, without our code), the
// cutting, and a hostile corpus against the joiner: every limit (parts, bytes, open sets per
// sender and in all, age), duplicates and out-of-order parts, a conflicting copy, a part set of
// another sender, a reused mid.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LOBBY_JOINER_LIMITS, MAX_PARTS, MAX_WHOLE_BYTES, PART_HEADER_BYTES, PartJoiner, PartsError, ROOM_JOINER_LIMITS, parsePart, partMid,
  RoomParts, roomBodies, splitIntoParts, type JoinerLimits,
} from '../../src/core/private/parts';
import { encodeMlsBody } from '../../src/core/private/body';

interface Vector { label: string; chunk: number; whole: string; mid: string; parts: string[] }
const VECTORS = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mls', 'parts-vectors.json'), 'utf8')) as { cases: Vector[] }).cases;

const LIMITS: JoinerLimits = { ...LOBBY_JOINER_LIMITS };

function feed(j: PartJoiner, sender: string, parts: Buffer[], at = 0): ReturnType<PartJoiner['addBytes']>[] {
  return parts.map((p) => j.addBytes(sender, p, at));
}

describe('parts (§3.3.1)', () => {
  describe('vectors', () => {
    it('has vectors', () => assert.ok(VECTORS.length >= 3));
    for (const v of VECTORS) {
      it(`${v.label}: mid and every part's bytes`, () => {
        const whole = Buffer.from(v.whole, 'hex');
        assert.equal(partMid(whole).toString('hex'), v.mid);
        assert.deepEqual(splitIntoParts(whole, v.chunk).map((p) => p.toString('hex')), v.parts);
      });
      it(`${v.label}: joined in any order`, () => {
        const j = new PartJoiner(LIMITS);
        const parts = v.parts.map((p) => Buffer.from(p, 'hex')).reverse();
        const out = feed(j, 'a', parts);
        assert.deepEqual(out.slice(0, -1).map((o) => o.kind), parts.slice(1).map(() => 'pending'));
        const last = out[out.length - 1]!;
        assert.equal(last.kind, 'whole');
        assert.equal(last.kind === 'whole' && last.whole.toString('hex'), v.whole);
        assert.equal(j.openSets, 0);
        assert.equal(j.bufferedBytes, 0);
      });
    }
  });

  describe('splitIntoParts', () => {
    it('refuses a message that fits one chunk, one over the bytes, one that needs too many parts', () => {
      assert.throws(() => splitIntoParts(Buffer.alloc(100), 100), PartsError);
      assert.throws(() => splitIntoParts(Buffer.alloc(MAX_WHOLE_BYTES + 1), 100_000), PartsError);
      assert.throws(() => splitIntoParts(Buffer.alloc(MAX_PARTS * 10 + 1), 10), PartsError);
      assert.throws(() => splitIntoParts(Buffer.alloc(10), 0), PartsError);
      assert.equal(splitIntoParts(Buffer.alloc(MAX_PARTS * 10), 10).length, MAX_PARTS);
      assert.equal(splitIntoParts(Buffer.alloc(MAX_WHOLE_BYTES), MAX_WHOLE_BYTES / 8).length, 8);
    });
  });

  describe('hostile corpus', () => {
    const whole = randomBytes(1_000);
    const parts = splitIntoParts(whole, 300); // 4 parts
    const header = (mid: Buffer, i: number, n: number, chunk: Buffer): Buffer => {
      const h = Buffer.alloc(PART_HEADER_BYTES);
      h[0] = 3;
      mid.copy(h, 1);
      h.writeUInt16BE(i, 17);
      h.writeUInt16BE(n, 19);
      return Buffer.concat([h, chunk]);
    };
    const mid = partMid(whole);

    const refused: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /shorter/],
      ['a header without a chunk', header(mid, 0, 4, Buffer.alloc(0)), /shorter/],
      ['another version byte', Buffer.concat([Buffer.from([2]), parts[0]!.subarray(1)]), /not a part/],
      ['n = 0', header(mid, 0, 0, Buffer.from('x')), /count 0/],
      ['n = 1', header(mid, 0, 1, Buffer.from('x')), /count 1/],
      ['n = 65', header(mid, 0, 65, Buffer.from('x')), /count 65/],
      ['n = 65535', header(mid, 0, 0xffff, Buffer.from('x')), /count 65535/],
      ['i = n', header(mid, 4, 4, Buffer.from('x')), /index 4/],
      ['i = 65535', header(mid, 0xffff, 4, Buffer.from('x')), /index 65535/],
      ['a chunk over the bytes of a whole message', header(mid, 0, 2, Buffer.alloc(MAX_WHOLE_BYTES + 1)), /over the bytes/],
    ];
    for (const [what, bytes, reason] of refused) {
      it(`refuses ${what}`, () => {
        assert.match(parsePart(bytes).ok ? '' : (parsePart(bytes) as { reason: string }).reason, reason);
        const j = new PartJoiner(LIMITS);
        const out = j.addBytes('a', bytes, 0);
        assert.equal(out.kind, 'dropped');
        assert.equal(j.openSets, 0);
      });
    }

    it('a duplicate part (same bytes) changes nothing; the set still completes once', () => {
      const j = new PartJoiner(LIMITS);
      assert.deepEqual(feed(j, 'a', [parts[0]!, parts[0]!, parts[1]!]).map((o) => o.kind), ['pending', 'dropped', 'pending']);
      const out = feed(j, 'a', [parts[3]!, parts[2]!]);
      assert.equal(out[1]!.kind, 'whole');
      // Every part again, afterwards (a replay): the mid is finished, nothing opens.
      assert.deepEqual(feed(j, 'a', parts).map((o) => o.kind), ['dropped', 'dropped', 'dropped', 'dropped']);
      assert.equal(j.openSets, 0);
    });

    it('a different copy of an index: the first is kept; a wrong first copy fails the set by its hash', () => {
      const forged = header(mid, 1, 4, randomBytes(300));
      const j = new PartJoiner(LIMITS);
      assert.deepEqual(feed(j, 'a', [parts[0]!, parts[1]!, forged, parts[2]!, parts[3]!]).map((o) => o.kind), ['pending', 'pending', 'dropped', 'pending', 'whole']);
      const k = new PartJoiner(LIMITS);
      const out = feed(k, 'a', [parts[0]!, forged, parts[1]!, parts[2]!, parts[3]!]);
      assert.deepEqual(out.map((o) => o.kind), ['pending', 'pending', 'dropped', 'pending', 'failed']);
      assert.match((out[4] as { reason: string }).reason, /hash/);
      assert.equal(k.openSets, 0);
      assert.equal(k.bufferedBytes, 0);
    });

    it('a part with another count than its set is dropped', () => {
      const j = new PartJoiner(LIMITS);
      j.addBytes('a', parts[0]!, 0);
      assert.deepEqual(j.addBytes('a', header(mid, 1, 5, Buffer.from('x')), 0), { kind: 'dropped', reason: 'part count differs from its set\'s' });
    });

    it('a part set of another sender under the same mid cannot complete, fail or evict the first sender\'s', () => {
      const j = new PartJoiner(LIMITS);
      feed(j, 'admin', parts.slice(0, 2));
      // The stranger sends forged and genuine parts under the admin's mid.
      feed(j, 'stranger', [header(mid, 2, 4, randomBytes(300)), header(mid, 3, 4, randomBytes(100)), parts[0]!]);
      const out = feed(j, 'admin', parts.slice(2));
      assert.equal(out[1]!.kind, 'whole');
      assert.equal(out[1]!.kind === 'whole' && out[1]!.whole.equals(whole), true);
    });

    it('a mid reused for other bytes: the join fails its hash; the finished mid opens nothing again', () => {
      const j = new PartJoiner(LIMITS);
      const other = splitIntoParts(randomBytes(1_000), 300).map((p) => Buffer.concat([p.subarray(0, 1), mid, p.subarray(17)]));
      const out = feed(j, 'a', other);
      assert.equal(out[3]!.kind, 'failed');
      assert.deepEqual(feed(j, 'a', parts).map((o) => o.kind), ['dropped', 'dropped', 'dropped', 'dropped']);
    });

    it('a set over the bytes of a whole message fails', () => {
      const j = new PartJoiner({ ...LIMITS, maxBufferedBytes: 8 * MAX_WHOLE_BYTES });
      const big = randomBytes(MAX_WHOLE_BYTES / 2);
      const m = randomBytes(16);
      assert.equal(j.addBytes('a', header(m, 0, 3, big), 0).kind, 'pending');
      assert.equal(j.addBytes('a', header(m, 1, 3, big), 0).kind, 'pending');
      const out = j.addBytes('a', header(m, 2, 3, Buffer.from('x')), 0);
      assert.deepEqual(out, { kind: 'failed', reason: 'set over the bytes of a whole message' });
      assert.equal(j.openSets, 0);
      assert.equal(j.bufferedBytes, 0);
    });

    it('a flooding sender evicts its own sets (2 per sender in the lobby), not the admin\'s, even idle', () => {
      const j = new PartJoiner(LIMITS);
      feed(j, 'admin', parts.slice(0, 3), 0);
      for (let k = 0; k < 500; k++) j.addBytes('flooder', splitIntoParts(randomBytes(600), 300)[0]!, k);
      assert.ok(j.openSets <= LIMITS.maxOpenSets);
      assert.equal(j.addBytes('admin', parts[3]!, 600).kind, 'whole');
    });

    it('many senders flooding between the admin\'s parts: at most 8 sets and the bytes bound are kept; the set being completed survives', () => {
      for (const limits of [LIMITS, { ...LIMITS, maxBufferedBytes: 1024 * 1024 }]) {
        const j = new PartJoiner(limits);
        let at = 0;
        for (const [i, p] of parts.entries()) {
          const out = j.addBytes('admin', p, at++);
          assert.equal(out.kind, i === parts.length - 1 ? 'whole' : 'pending');
          // Between two of the admin's parts, 7 new identities each open a set that never completes.
          for (let k = 0; k < 7; k++) {
            feed(j, `stranger${i}-${k}`, splitIntoParts(randomBytes(MAX_WHOLE_BYTES), 64 * 1024).slice(0, 2), at++);
            assert.ok(j.openSets <= limits.maxOpenSets, 'sets bounded');
            assert.ok(j.bufferedBytes <= limits.maxBufferedBytes, 'bytes bounded');
          }
        }
        assert.ok(j.evictions.length > 0);
      }
    });

    it('a set that stops progressing is evicted by 8 newer ones (memory stays bounded)', () => {
      const j = new PartJoiner(LIMITS);
      feed(j, 'admin', parts.slice(0, 3), 0);
      for (let k = 0; k < 8; k++) j.addBytes(`stranger${k}`, splitIntoParts(randomBytes(600), 300)[0]!, k + 1);
      assert.equal(j.openSets, 8);
      assert.deepEqual(j.addBytes('admin', parts[3]!, 20), { kind: 'dropped', reason: 'mid already finished' });
      assert.equal(j.evictions[0]!.sender, 'admin');
    });

    it('a set not complete within maxAge of its first part is evicted (seqs in a room)', () => {
      const j = new PartJoiner(ROOM_JOINER_LIMITS);
      j.addBytes('', parts[0]!, 10);
      j.addBytes('', parts[1]!, 500);
      j.addBytes('', parts[2]!, 1_010);
      assert.equal(j.openSets, 1);
      assert.deepEqual(j.addBytes('', parts[3]!, 1_011), { kind: 'dropped', reason: 'mid already finished' });
      assert.equal(j.openSets, 0);
      assert.equal(j.evictions[0]!.reason, 'not complete in time');
    });

    it('random bytes never throw and never make a whole message', () => {
      const j = new PartJoiner(ROOM_JOINER_LIMITS);
      for (let k = 0; k < 3_000; k++) {
        const b = randomBytes(1 + (k % 60));
        if (k % 3 === 0) b[0] = 3;
        const out = j.addBytes('', b, k);
        assert.notEqual(out.kind, 'whole');
      }
      assert.ok(j.openSets <= ROOM_JOINER_LIMITS.maxOpenSets);
    });
  });

  describe('in a room (RoomParts, roomBodies)', () => {
    const MAX_BODY = 65_536 - 512;

    it('a message that fits is one 0x02 body; a longer one is parts of at most maxFrame - 512 characters, joined at the last one\'s seq', () => {
      const small = randomBytes(30_000);
      assert.deepEqual(roomBodies(small, MAX_BODY), [encodeMlsBody(small)]);
      const big = randomBytes(120_000);
      const bodies = roomBodies(big, MAX_BODY);
      assert.equal(bodies.length, 3);
      for (const b of bodies) assert.ok(b.length <= MAX_BODY, `${b.length} chars`);
      const rp = new RoomParts();
      assert.ok(Buffer.from(rp.take(1, encodeMlsBody(small))!).equals(small));
      // Another member's message and junk between the parts change nothing.
      assert.equal(rp.take(2, bodies[0]!), undefined);
      assert.ok(Buffer.from(rp.take(3, encodeMlsBody(small))!).equals(small));
      assert.equal(rp.take(4, 'not b64u!'), undefined);
      assert.equal(rp.take(5, bodies[1]!), undefined);
      const whole = rp.take(6, bodies[2]!);
      assert.ok(whole !== undefined && Buffer.from(whole).equals(big));
      assert.equal(rp.openSets, 0);
      // The same parts again (a replay at later seqs): nothing.
      const reasons: string[] = [];
      for (const [i, b] of bodies.entries()) assert.equal(rp.take(7 + i, b, (r) => reasons.push(r)), undefined);
      assert.deepEqual(reasons, ['mid already finished', 'mid already finished', 'mid already finished']);
    });

    it('a member\'s parts that never complete are evicted by seq, the same for every member', () => {
      const a = new RoomParts();
      const b = new RoomParts();
      const never = roomBodies(randomBytes(120_000), MAX_BODY).slice(0, 2);
      for (const rp of [a, b]) {
        rp.take(10, never[0]!);
        rp.take(11, never[1]!);
        assert.equal(rp.openSets, 1);
        rp.take(1_011, encodeMlsBody(randomBytes(10)));
        rp.take(1_012, never[0]!);
        assert.equal(rp.openSets, 0);
      }
    });
  });
});
