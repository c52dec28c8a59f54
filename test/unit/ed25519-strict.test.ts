// Strict Ed25519 (issue 7 item 2.3; RFC 8032 §5.1.7, "Taming the many EdDSAs"): a public key of
// small order, or not canonically encoded, or a signature whose S is not below L, never
// verifies, whatever node:crypto says. The forgeries here are real: for a small-order key A and
// the signature (R = identity, S = 0), [S]B = R + [k]A holds whenever [k]A is the identity, so a
// message with k ≡ 0 (mod the order of A) is found by trying a few, and node:crypto accepts
// such a forgery. They must fail through every path that checks a signature: ed25519Verify,
// the sender key cache, RoomCipher.open, and the worker pool that verifies a catch-up.
import { strict as assert } from 'node:assert';
import { createHash, createPublicKey } from 'node:crypto';
import { RoomCipher, encodeB64u, generateIdentity, generateMessageId, generateRoomKey, verifySignature } from '../../src/core/crypto/index';
import { envelopeAad, signedBytes } from '../../src/core/crypto/envelope';
import { encodePayload } from '../../src/core/crypto/payload';
import {
  aesGcmSeal, ed25519PublicKey, ed25519Sign, ed25519Verify, ed25519PrivateKey, isStrictEd25519PublicKey, secureRandom,
} from '../../src/core/crypto/primitives';
import { deriveMessageKey } from '../../src/core/crypto/roomKey';
import { senderKey } from '../../src/core/crypto/senderKeys';
import { WorkerSignatureVerifier } from '../../src/node/verifyPool';

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function toLe(n: bigint): Buffer {
  const b = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) {
    b[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return b;
}

function fromLe(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

/** y with the sign bit of x set. */
function negative(enc: Buffer): Buffer {
  const b = Buffer.from(enc);
  b[31]! |= 0x80;
  return b;
}

const IDENTITY = hex('0100000000000000000000000000000000000000000000000000000000000000');

/** The eight points of small order, canonically encoded, with their orders. */
const SMALL_ORDER: { name: string; enc: Buffer; order: number }[] = [
  { name: 'identity (0, 1)', enc: IDENTITY, order: 1 },
  { name: '(0, -1)', enc: toLe(P - 1n), order: 2 },
  { name: '(sqrt(-1), 0)', enc: toLe(0n), order: 4 },
  { name: '(-sqrt(-1), 0)', enc: negative(toLe(0n)), order: 4 },
  { name: 'order 8, 26e8…05', enc: hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'), order: 8 },
  { name: 'order 8, 26e8…85', enc: hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85'), order: 8 },
  { name: 'order 8, c717…7a', enc: hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'), order: 8 },
  { name: 'order 8, c717…fa', enc: hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'), order: 8 },
];

/** The same points under non-canonical encodings: y + p, or the sign bit set on x = 0. */
const SMALL_ORDER_NON_CANONICAL: { name: string; enc: Buffer; order: number }[] = [
  { name: 'identity, x = -0', enc: negative(IDENTITY), order: 1 },
  { name: '(0, -1), x = -0', enc: negative(toLe(P - 1n)), order: 2 },
  { name: 'identity as y = p + 1', enc: toLe(P + 1n), order: 1 },
  { name: 'identity as y = p + 1, x = -0', enc: negative(toLe(P + 1n)), order: 1 },
  { name: '(sqrt(-1), 0) as y = p', enc: toLe(P), order: 4 },
  { name: '(-sqrt(-1), 0) as y = p', enc: negative(toLe(P)), order: 4 },
];

/**
 * A message m with (R = identity, S = 0) a forgery that plain RFC 8032 verification accepts for
 * the small-order key `pub`: k = SHA-512(R || A || m) mod L is a multiple of A's order.
 */
function forge(pub: Buffer, order: number): { msg: Buffer; sig: Buffer } {
  const sig = Buffer.concat([IDENTITY, Buffer.alloc(32)]);
  for (let i = 0; ; i++) {
    const msg = Buffer.from(`forged ${i}`);
    const k = fromLe(createHash('sha512').update(IDENTITY).update(pub).update(msg).digest()) % L;
    if (k % BigInt(order) === 0n) return { msg, sig };
  }
}

/** M = sig || pub || P sealed the way sealEnvelope does, with the given signature and key. */
function sealRaw(key: Buffer, cipher: RoomCipher, pub: Buffer, sig: Buffer, p: Buffer, id: string): string {
  const nonce = secureRandom(12);
  const sealed = aesGcmSeal(deriveMessageKey(key), nonce, envelopeAad(cipher.room, id), Buffer.concat([sig, pub, p]));
  return encodeB64u(Buffer.concat([Buffer.from([1]), nonce, sealed]));
}

describe('strict Ed25519 (RFC 8032 §5.1.7, small-order and non-canonical encodings)', () => {
  for (const pt of [...SMALL_ORDER, ...SMALL_ORDER_NON_CANONICAL]) {
    it(`rejects the small-order key ${pt.name} (${pt.enc.toString('hex').slice(0, 8)}…) and its forged signature`, () => {
      const { msg, sig } = forge(pt.enc, pt.order);
      assert.equal(ed25519Verify(pt.enc, msg, sig), false, 'the forgery verifies');
      assert.equal(verifySignature({ pub: pt.enc, sig, signed: msg }), false, 'the forgery verifies as a sender key');
      assert.equal(ed25519PublicKey(pt.enc), undefined, 'the key is accepted');
      assert.equal(senderKey(pt.enc), undefined, 'the sender key cache accepts it');
      assert.equal(isStrictEd25519PublicKey(pt.enc), false);
    });
  }

  it('rejects every encoding with y >= p (19 values of y, both signs of x)', () => {
    for (let y = P; y < 1n << 255n; y++) {
      for (const enc of [toLe(y), negative(toLe(y))]) {
        assert.equal(isStrictEd25519PublicKey(enc), false, enc.toString('hex'));
        assert.equal(ed25519PublicKey(enc), undefined, enc.toString('hex'));
      }
    }
  });

  it('accepts ordinary keys, and the largest canonical y that is not of small order', () => {
    for (let i = 0; i < 50; i++) {
      const id = generateIdentity();
      assert.equal(isStrictEd25519PublicKey(id.publicKey), true);
      assert.ok(ed25519PublicKey(id.publicKey) !== undefined);
    }
    // y = p - 2 is canonical; whether it is on the curve is for the library to say, but the
    // byte checks must not refuse it.
    assert.equal(isStrictEd25519PublicKey(toLe(P - 2n)), true);
  });

  it('rejects a signature whose S is not below L (S + L, and S = L, 2^256 - 1)', () => {
    const alice = generateIdentity();
    const msg = Buffer.from('hello');
    const sig = ed25519Sign(ed25519PrivateKey(alice.seed), msg);
    assert.equal(ed25519Verify(alice.publicKey, msg, sig), true);
    const s = fromLe(sig.subarray(32));
    const malleated = Buffer.concat([sig.subarray(0, 32), toLe(s + L)]);
    assert.equal(ed25519Verify(alice.publicKey, msg, malleated), false);
    assert.equal(ed25519Verify(alice.publicKey, msg, Buffer.concat([sig.subarray(0, 32), toLe(L)])), false);
    assert.equal(ed25519Verify(alice.publicKey, msg, Buffer.concat([sig.subarray(0, 32), Buffer.alloc(32, 0xff)])), false);
    assert.equal(verifySignature({ pub: alice.publicKey, sig: malleated, signed: msg }), false);
  });

  it('rejects a signature whose R is of small order, whatever the key', () => {
    const alice = generateIdentity();
    const msg = Buffer.from('hello');
    for (const pt of [...SMALL_ORDER, ...SMALL_ORDER_NON_CANONICAL]) {
      const sig = Buffer.concat([pt.enc, Buffer.alloc(32)]);
      assert.equal(ed25519Verify(alice.publicKey, msg, sig), false, pt.name);
    }
  });

  it('checks a key object made elsewhere too (not only raw bytes)', () => {
    // A KeyObject that did not come from ed25519PublicKey: the check reads its raw key.
    const spki = Buffer.concat([hex('302a300506032b6570032100'), IDENTITY]);
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const { msg, sig } = forge(IDENTITY, 1);
    assert.equal(ed25519Verify(key, msg, sig), false);
  });

  describe('end to end: an envelope from the identity key with signature (identity, 0)', () => {
    const key = generateRoomKey();
    const cipher = new RoomCipher(key);

    /** An envelope whose payload is well formed and whose signature is the forgery for `pub`. */
    function forgedEnvelope(pub: Buffer, order: number): { id: string; body: string } {
      for (let i = 0; ; i++) {
        const id = generateMessageId();
        const p = encodePayload({ id, ts: 1_700_000_000_000, name: 'alice', type: 'text', text: `forged ${i}` });
        const signed = signedBytes(cipher.room, p);
        const k = fromLe(createHash('sha512').update(IDENTITY).update(pub).update(signed).digest()) % L;
        if (k % BigInt(order) !== 0n) continue;
        return { id, body: sealRaw(key, cipher, pub, Buffer.concat([IDENTITY, Buffer.alloc(32)]), p, id) };
      }
    }

    it('does not open through RoomCipher.open', () => {
      for (const pt of [...SMALL_ORDER, ...SMALL_ORDER_NON_CANONICAL]) {
        const env = forgedEnvelope(pt.enc, pt.order);
        const r = cipher.open(env.id, env.body);
        assert.equal(r.ok, false, `${pt.name}: the forged envelope opens`);
        assert.equal(cipher.prepareOpen(env.id, env.body).ok, false, pt.name);
      }
    });

    it('does not verify on the worker pool (verifyWorker.ts) either', async () => {
      // The items reach the workers as packed bytes (signatureBatch.ts), past prepareOpen's key
      // check: each worker must refuse them itself.
      const pool = new WorkerSignatureVerifier({ size: 2, minBatch: 4 });
      try {
        const alice = generateIdentity();
        const items = [...SMALL_ORDER, ...SMALL_ORDER_NON_CANONICAL].map((pt) => {
          const f = forge(pt.enc, pt.order);
          return { pub: pt.enc, sig: f.sig, signed: f.msg };
        });
        const good = Buffer.from('a real one');
        items.push({ pub: alice.publicKey, sig: ed25519Sign(ed25519PrivateKey(alice.seed), good), signed: good });
        const results = await pool.verifyBatch(items);
        assert.ok(pool.threads > 0, 'the batch went to worker threads');
        assert.deepEqual(results, [...items.slice(0, -1).map(() => false), true]);
      } finally {
        await pool.close();
      }
    });
  });
});
