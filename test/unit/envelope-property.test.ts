// Properties of the envelope (PROTOCOL.md §2.3-2.5) with fast-check: seal then open gives back
// the payload; a single-bit change anywhere in the body, or a changed room or id, makes open
// fail; open never throws, whatever it is given. Plus the payload rules a sender is held to.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  decodeB64u, deriveMessageKey, encodeB64u, generateIdentity, generateMessageId, generateRoomKey,
  isB64u, MAX_NAME_CHARS, MAX_PAYLOAD_BYTES, MAX_TEXT_BYTES, Payload, PayloadError, PayloadTooLargeError, RoomCipher,
} from '../../src/core/crypto';
import { envelopeAad, openEnvelope, sealEnvelope } from '../../src/core/crypto/envelope';
import { aesGcmOpen, aesGcmSeal, aesKey } from '../../src/core/crypto/primitives';

const alice = generateIdentity();
const key = generateRoomKey();
const keyB = generateRoomKey();
const cipher = new RoomCipher(key);

const idArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => encodeB64u(b));
const nameArb = fc.string({ unit: 'binary', minLength: 1, maxLength: MAX_NAME_CHARS });
const tsArb = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const textPayloadArb = fc.record({
  id: idArb, ts: tsArb, name: nameArb, type: fc.constant('text'),
  text: fc.string({ unit: 'binary', maxLength: 400 }),
}, { noNullPrototype: true });
const snippetPayloadArb = fc.record({
  id: idArb, ts: tsArb, name: nameArb, type: fc.constant('snippet'),
  snippet: fc.record({
    lang: fc.string({ maxLength: 20 }), path: fc.string({ unit: 'binary', maxLength: 60 }),
    start: fc.integer({ min: 1, max: 100_000 }), end: fc.integer({ min: 0, max: 1000 }),
    code: fc.string({ unit: 'binary', maxLength: 400 }),
  }, { noNullPrototype: true }).map((s) => ({ ...s, end: s.start + s.end })),
}, { noNullPrototype: true });
const payloadArb: fc.Arbitrary<Payload> = fc.oneof(textPayloadArb, snippetPayloadArb);

function flipBit(body: string, bit: number): string {
  const bytes = decodeB64u(body);
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return encodeB64u(bytes);
}

describe('envelope properties', () => {
  it('seal then open gives back the payload and the sender', () => {
    fc.assert(fc.property(payloadArb, (p) => {
      const body = cipher.seal(p, alice);
      assert.ok(isB64u(body, 65_536 - 512));
      const opened = cipher.open(p.id, body);
      assert.ok(opened.ok, opened.ok ? '' : opened.reason);
      assert.deepEqual(opened.payload, p);
      assert.ok(opened.publicKey.equals(alice.publicKey));
    }), { numRuns: 200 });
  });

  it('a single-bit flip anywhere in the body makes open fail', () => {
    fc.assert(fc.property(payloadArb, fc.nat(), (p, n) => {
      const body = cipher.seal(p, alice);
      const bit = n % (decodeB64u(body).length * 8);
      assert.equal(cipher.open(p.id, flipBit(body, bit)).ok, false);
    }), { numRuns: 300 });
  });

  it('every single-bit flip of one envelope, exhaustively, makes open fail', () => {
    const p: Payload = { id: generateMessageId(), ts: 1, name: 'Ann', type: 'text', text: 'hi' };
    const body = cipher.seal(p, alice);
    const bits = decodeB64u(body).length * 8;
    for (let bit = 0; bit < bits; bit++) assert.equal(cipher.open(p.id, flipBit(body, bit)).ok, false, `bit ${bit}`);
  });

  it('a changed id, room or key makes open fail', () => {
    const mkey = aesKey(deriveMessageKey(key));
    fc.assert(fc.property(payloadArb, idArb, idArb, (p, otherId, otherRoom) => {
      fc.pre(otherId !== p.id && otherRoom !== cipher.room);
      const body = cipher.seal(p, alice);
      assert.equal(cipher.open(otherId, body).ok, false);
      // Same message key, other room id in the aad and the signature.
      assert.equal(openEnvelope(mkey, otherRoom, p.id, body).ok, false);
      assert.equal(new RoomCipher(generateRoomKey()).open(p.id, body).ok, false);
    }), { numRuns: 100 });
  });

  it('a member of two rooms cannot move a signed message from one to the other (the signature binds the room)', () => {
    const roomB = new RoomCipher(keyB);
    const mkeyB = aesKey(deriveMessageKey(keyB));
    fc.assert(fc.property(payloadArb, fc.uint8Array({ minLength: 12, maxLength: 12 }), (p, nonce) => {
      // Decrypt a body of room A with A's key, then re-encrypt the same signed M for room B.
      const bytes = decodeB64u(cipher.seal(p, alice));
      const m = aesGcmOpen(aesKey(deriveMessageKey(key)), bytes.subarray(1, 13), envelopeAad(cipher.room, p.id), bytes.subarray(13))!;
      const moved = Buffer.concat([Buffer.from([1]), nonce, aesGcmSeal(mkeyB, nonce, envelopeAad(roomB.room, p.id), m)]);
      const result = roomB.open(p.id, encodeB64u(moved));
      assert.ok(!result.ok);
      assert.match(result.reason, /signature/);
    }), { numRuns: 50 });
  });

  it('a presence tag opens only as a presence tag of its room', () => {
    fc.assert(fc.property(nameArb, tsArb, (name, ts) => {
      const tag = cipher.sealPresence(name, alice, ts);
      assert.ok(tag.length <= 2048);
      const opened = cipher.openPresence(tag);
      assert.ok(opened.ok);
      assert.deepEqual(opened.payload, { id: 'presence', ts, name, type: 'profile' });
      assert.equal(new RoomCipher(generateRoomKey()).openPresence(tag).ok, false);
      assert.equal(cipher.open(generateMessageId(), tag).ok, false);
    }), { numRuns: 100 });
  });

  it('open never throws, on any string or on envelopes of random bytes', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), idArb, (body, id) => {
      assert.equal(cipher.open(id, body).ok, false);
      assert.equal(cipher.openPresence(body).ok, false);
    }), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), idArb, (bytes, id) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) b[0] = 1;
      assert.equal(cipher.open(id, encodeB64u(b)).ok, false);
    }), { numRuns: 500 });
    for (const junk of [undefined, null, 42, {}, 'A'.repeat(200_000)] as unknown[]) {
      assert.equal(cipher.open(generateMessageId(), junk as string).ok, false);
      assert.equal(cipher.openPresence(junk as string).ok, false);
    }
  });

  it('open refuses a validly sealed payload that breaks the §2.3 rules (a hostile member)', () => {
    const mkey = aesKey(deriveMessageKey(key));
    // sealEnvelope skips encodePayload, as a hostile client would.
    const id = generateMessageId();
    const bad: unknown[] = [
      [], 'x', null, { id, ts: 1, name: '', type: 'text', text: 'a' },
      { id, ts: -1, name: 'a', type: 'text', text: 'a' }, { id, ts: 1.5, name: 'a', type: 'text', text: 'a' },
      { id, ts: 1, name: 'a'.repeat(65), type: 'text', text: 'a' }, { id, ts: 1, name: 'a', type: 'text' },
      { id, ts: 1, name: 'a', type: 'text', text: 'a'.repeat(MAX_TEXT_BYTES + 1) },
      { id, ts: 1, name: 'a', type: 'snippet', snippet: { lang: 'ts', path: 'a', start: 0, end: 1, code: '' } },
      { id, ts: 1, name: 'a', type: 'snippet', snippet: { lang: 'ts', path: 'a', start: 3, end: 2, code: '' } },
      { id, ts: 1, name: 'a', type: 'snippet' }, { id: generateMessageId(), ts: 1, name: 'a', type: 'text', text: 'a' },
    ];
    for (const v of bad) {
      const body = sealEnvelope(mkey, cipher.room, id, Buffer.from(JSON.stringify(v)), alice);
      assert.equal(cipher.open(id, body).ok, false, JSON.stringify(v).slice(0, 80));
    }
    const notUtf8 = sealEnvelope(mkey, cipher.room, id, Buffer.from([0x7b, 0xff, 0x7d]), alice);
    assert.equal(cipher.open(id, notUtf8).ok, false);
    // An unknown type from a newer client opens (the UI shows it as unsupported); extra fields are dropped.
    const future = sealEnvelope(mkey, cipher.room, id, Buffer.from(JSON.stringify({ id, ts: 1, name: 'a', type: 'poll', extra: 1 })), alice);
    const opened = cipher.open(id, future);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, { id, ts: 1, name: 'a', type: 'poll' });
  });
});

describe('payload rules for senders (§2.3)', () => {
  const base = { id: generateMessageId(), ts: 1_764_100_000_000, name: 'George' };

  it('accepts text of exactly 16 384 UTF-8 bytes and refuses one byte more, with a clear message', () => {
    assert.ok(cipher.open(base.id, cipher.seal({ ...base, type: 'text', text: 'é'.repeat(MAX_TEXT_BYTES / 2) }, alice)).ok);
    assert.throws(() => cipher.seal({ ...base, type: 'text', text: 'a'.repeat(MAX_TEXT_BYTES + 1) }, alice), (e: unknown) => {
      assert.ok(e instanceof PayloadTooLargeError);
      assert.match(e.message, /16,385 bytes/);
      assert.match(e.message, /at most 16,384 bytes/);
      return true;
    });
  });

  it('refuses text whose JSON encoding exceeds 40 960 bytes', () => {
    assert.throws(() => cipher.seal({ ...base, type: 'text', text: '\u0001'.repeat(MAX_TEXT_BYTES) }, alice), PayloadTooLargeError);
  });

  it('tells the sender of a too-large snippet how many lines fit, and that many do fit', () => {
    const line = 'const value = computeSomething(withArguments, andMore); // 64 bytes';
    const code = Array.from({ length: 2000 }, () => line).join('\n');
    const snippet = { lang: 'typescript', path: 'src/a.ts', start: 10, end: 2009, code };
    let fit = -1;
    assert.throws(() => cipher.seal({ ...base, type: 'snippet', snippet }, alice), (e: unknown) => {
      assert.ok(e instanceof PayloadTooLargeError);
      fit = e.linesThatFit!;
      assert.match(e.message, new RegExp(`Only the first ${fit.toLocaleString('en-US')} of its 2,000 lines fit`));
      return true;
    });
    assert.ok(fit > 100 && fit < 2000);
    const fits = code.split('\n').slice(0, fit).join('\n');
    const body = cipher.seal({ ...base, type: 'snippet', snippet: { ...snippet, end: 10 + fit - 1, code: fits } }, alice);
    assert.ok(cipher.open(base.id, body).ok);
    const oneMore = code.split('\n').slice(0, fit + 1).join('\n');
    assert.throws(() => cipher.seal({ ...base, type: 'snippet', snippet: { ...snippet, end: 10 + fit, code: oneMore } }, alice), PayloadTooLargeError);
  });

  it('refuses malformed fields with a PayloadError', () => {
    const cases: Payload[] = [
      { ...base, name: '', type: 'text', text: 'a' },
      { ...base, name: 'x'.repeat(MAX_NAME_CHARS + 1), type: 'text', text: 'a' },
      { ...base, ts: -5, type: 'text', text: 'a' },
      { ...base, type: 'text' },
      { ...base, type: 'snippet' },
      { ...base, type: 'snippet', snippet: { lang: 'ts', path: 'a', start: 2, end: 1, code: '' } },
      { ...base, id: 'short', type: 'text', text: 'a' },
    ];
    for (const p of cases) assert.throws(() => cipher.seal(p, alice), PayloadError, JSON.stringify(p));
    // A 64-character name of astral characters is 64 characters, not 128 UTF-16 units.
    assert.ok(cipher.seal({ ...base, name: '😀'.repeat(MAX_NAME_CHARS), type: 'text', text: 'a' }, alice));
  });

  it('keeps every envelope within a default frame', () => {
    const text = '\u0800'.repeat(Math.floor(MAX_TEXT_BYTES / 3));
    const body = cipher.seal({ ...base, name: '😀'.repeat(MAX_NAME_CHARS), type: 'text', text }, alice);
    assert.ok(body.length <= 65_536 - 512);
    assert.ok(MAX_PAYLOAD_BYTES === 40_960);
  });
});

describe('b64u', () => {
  it('round-trips any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      assert.deepEqual(new Uint8Array(decodeB64u(encodeB64u(b))), b);
    }));
  });

  it('decodes only canonical strings: whatever decodes re-encodes to itself', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'AQgw-_=+/ .'.split('')), maxLength: 12 }), (s) => {
      let decoded: Buffer | undefined;
      try { decoded = decodeB64u(s); } catch { decoded = undefined; }
      if (decoded !== undefined) assert.equal(encodeB64u(decoded), s);
    }), { numRuns: 1000 });
  });

  it('rejects padding, foreign characters, 4k+1 lengths and non-canonical trailing bits', () => {
    for (const s of ['AA==', 'AA=', 'A+/A', 'AB C', 'AAAAA', 'A', 'AB', 'AAB']) assert.throws(() => decodeB64u(s), s);
    assert.deepEqual([...decodeB64u('AA')], [0]);
    assert.deepEqual([...decodeB64u('AAE')], [0, 1]);
    assert.equal(isB64u('', 10), false);
    assert.equal(isB64u('AAAAA', 10), false);
    assert.equal(isB64u('AAAA', 3), false);
    assert.equal(isB64u('AA=', 10), false);
    assert.equal(isB64u(42, 10), false);
    assert.equal(isB64u('Az-_', 4), true);
  });
});
