// Suite 1 for ts-mls, with what runs per message done by node:crypto (docs/protocol.md §3.1).
// - Ed25519 goes through SMC's own strict wrappers. ts-mls's default provider signs and verifies
//   through WebCrypto, which accepts what RFC 8032 §5.1.7 refuses: a small-order public key
//   (with it, the signature R = identity, S = 0 verifies every message) and non-canonical
//   encodings. SMC refuses those everywhere (§2.4), so MLS signatures are checked as envelopes are.
// - SHA-256, HMAC, HKDF (RFC 5869, from node's HMAC) and AES-128-GCM run synchronously in
//   node:crypto. The default provider does each through WebCrypto, importing a key and hopping
//   to the thread pool per operation: opening one message took about 1.8 ms that way, most of
//   it waiting (bench/mls.ts). All of these are checked by the mlswg vectors
//   (test/unit/mls-vectors.test.ts: crypto-basics, key-schedule, welcome, passive clients).
// HPKE (X25519) stays the library's (@hpke/core over WebCrypto): it runs per commit, not per message.
import type { CryptoProvider, Hash, Hpke, Kdf, Signature } from 'ts-mls' with { 'resolution-mode': 'import' };
import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { TsMls } from './library';
import {
  ED25519_SEED_BYTES, ed25519PrivateKey, ed25519PublicKey, ed25519RawPublicKey, ed25519Sign, ed25519Verify, secureRandom,
} from '../crypto/primitives';

const SHA256_BYTES = 32;
const GCM_TAG_BYTES = 16;
const AES128_KEY_BYTES = 16;
const GCM_NONCE_BYTES = 12;

// ts-mls hands in the same Uint8Array (the state's signaturePrivateKey) for every signature of a
// member, so its key object is built once per array; a WeakMap forgets it with the state.
const signingKeys = new WeakMap<Uint8Array, KeyObject>();
// Verification keys of the members seen lately, checked by ed25519PublicKey's strict rules once.
const VERIFY_CACHE_MAX = 4096;
const verifyKeys = new Map<string, KeyObject | undefined>();

function verifyKey(raw: Uint8Array): KeyObject | undefined {
  const id = Buffer.from(raw).toString('hex');
  if (verifyKeys.has(id)) return verifyKeys.get(id);
  const key = ed25519PublicKey(raw);
  if (verifyKeys.size >= VERIFY_CACHE_MAX) verifyKeys.delete(verifyKeys.keys().next().value!);
  verifyKeys.set(id, key);
  return key;
}

/** MLS signature keys are raw 32-byte Ed25519 seeds, as SMC identities are (§2.1). */
export const strictEd25519: Signature = {
  sign(signKey, message) {
    if (signKey.length !== ED25519_SEED_BYTES) return Promise.reject(new Error('an Ed25519 signing key is a 32-byte seed'));
    let key = signingKeys.get(signKey);
    if (key === undefined) {
      key = ed25519PrivateKey(signKey);
      signingKeys.set(signKey, key);
    }
    return Promise.resolve(new Uint8Array(ed25519Sign(key, message)));
  },
  verify(publicKey, message, signature) {
    const key = verifyKey(publicKey);
    return Promise.resolve(key !== undefined && ed25519Verify(key, message, signature));
  },
  keygen() {
    const signKey = secureRandom(ED25519_SEED_BYTES);
    return Promise.resolve({ signKey: new Uint8Array(signKey), publicKey: new Uint8Array(ed25519RawPublicKey(ed25519PrivateKey(signKey))) });
  },
};

const hmac = (key: Uint8Array, data: Uint8Array): Buffer => createHmac('sha256', key).update(data).digest();

export const nodeSha256: Hash = {
  digest: (data) => Promise.resolve(new Uint8Array(createHash('sha256').update(data).digest())),
  mac: (key, data) => Promise.resolve(new Uint8Array(hmac(key, data))),
  verifyMac(key, mac, data) {
    const expected = hmac(key, data);
    return Promise.resolve(mac.length === expected.length && timingSafeEqual(expected, mac));
  },
};

/** HKDF-SHA256 (RFC 5869) as two steps, as MLS uses it (§8 of RFC 9420). */
export const nodeHkdfSha256: Kdf = {
  extract: (salt, ikm) => Promise.resolve(new Uint8Array(hmac(salt.length === 0 ? new Uint8Array(SHA256_BYTES) : salt, ikm))),
  expand(prk, info, len) {
    if (len > 255 * SHA256_BYTES) return Promise.reject(new Error('HKDF-Expand: too long an output'));
    const blocks: Buffer[] = [];
    let previous: Buffer = Buffer.alloc(0);
    for (let i = 1; blocks.length * SHA256_BYTES < len; i++) {
      previous = createHmac('sha256', prk).update(previous).update(info).update(Buffer.from([i])).digest();
      blocks.push(previous);
    }
    return Promise.resolve(new Uint8Array(Buffer.concat(blocks).subarray(0, len)));
  },
  size: SHA256_BYTES,
};

function checkAead(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== AES128_KEY_BYTES || nonce.length !== GCM_NONCE_BYTES) throw new Error('AES-128-GCM needs a 16-byte key and a 12-byte nonce');
}

/** AES-128-GCM, ciphertext || 16-byte tag, as RFC 9180 §5.2 (and so MLS) lays it out. */
export function aes128GcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array): Promise<Uint8Array> {
  try {
    checkAead(key, nonce);
    const cipher = createCipheriv('aes-128-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
    if (aad !== undefined) cipher.setAAD(aad);
    return Promise.resolve(new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error('AES-128-GCM: could not seal'));
  }
}

export function aes128GcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, sealed: Uint8Array): Promise<Uint8Array> {
  try {
    checkAead(key, nonce);
    if (sealed.length < GCM_TAG_BYTES) throw new Error('AES-128-GCM: shorter than its tag');
    const decipher = createDecipheriv('aes-128-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
    if (aad !== undefined) decipher.setAAD(aad);
    return Promise.resolve(new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)), decipher.final()])));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error('AES-128-GCM: could not open'));
  }
}

/** ts-mls's default provider for suite 1, with the parts above put in. */
export function smcCryptoProvider(lib: TsMls): CryptoProvider {
  return {
    async getCiphersuiteImpl(cs) {
      if (cs.name !== 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519') throw new Error(`SMC uses cipher suite 1 only, not ${cs.name}`);
      const impl = await lib.defaultCryptoProvider.getCiphersuiteImpl(cs);
      const hpke: Hpke = { ...impl.hpke, encryptAead: aes128GcmSeal, decryptAead: aes128GcmOpen };
      return { ...impl, hash: nodeSha256, kdf: nodeHkdfSha256, signature: strictEd25519, hpke };
    },
  };
}
