// Thin wrappers over node:crypto for the only primitives SMC uses (docs/protocol.md §2): AES-256-GCM
// with a 12-byte nonce and a 16-byte tag, Ed25519, HKDF-SHA256, scrypt, SHA-256. Every wrapper
// checks its lengths itself, because node:crypto is permissive in ways that matter here: it
// accepts a GCM tag shorter than 16 bytes, IVs of any length, and throws rather than returning
// false on malformed keys. These wrappers are what test/unit/wycheproof.test.ts exercises.
// Only algorithms present in VS Code's Electron (BoringSSL) are used; no ChaCha20.
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, createSecretKey,
  hkdfSync, KeyObject, randomBytes, scrypt, sign, verify,
} from 'node:crypto';

export const AES_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;
export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
/** RFC 5869: HKDF-SHA256 output is at most 255 blocks of 32 bytes. */
export const HKDF_SHA256_MAX_BYTES = 255 * 32;

// DER prefixes that wrap a raw Ed25519 key (RFC 8410): PKCS#8 for the 32-byte seed, SPKI for
// the 32-byte public key. Both are fixed-length, so prefix || raw is the whole encoding.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Cryptographically secure random bytes. */
export function secureRandom(n: number): Buffer {
  return randomBytes(n);
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** An AES-256 key as a KeyObject, so a RoomCipher imports its key once, not per message. */
export function aesKey(key: Uint8Array): KeyObject {
  if (key.length !== AES_KEY_BYTES) throw new RangeError(`AES-256 key must be ${AES_KEY_BYTES} bytes`);
  return createSecretKey(key);
}

function checkGcmParams(key: Uint8Array | KeyObject, nonce: Uint8Array): KeyObject {
  const k = key instanceof KeyObject ? key : aesKey(key);
  if (k.symmetricKeySize !== AES_KEY_BYTES) throw new RangeError(`AES-256 key must be ${AES_KEY_BYTES} bytes`);
  if (nonce.length !== GCM_NONCE_BYTES) throw new RangeError(`GCM nonce must be ${GCM_NONCE_BYTES} bytes`);
  return k;
}

/** AES-256-GCM encryption. Returns ciphertext || 16-byte tag. */
export function aesGcmSeal(key: Uint8Array | KeyObject, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const k = checkGcmParams(key, nonce);
  const cipher = createCipheriv('aes-256-gcm', k, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]);
}

/**
 * AES-256-GCM decryption of ciphertext || 16-byte tag. Returns the plaintext, or undefined when
 * the input is too short or the tag does not verify. Never returns unauthenticated bytes.
 */
export function aesGcmOpen(key: Uint8Array | KeyObject, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  const k = checkGcmParams(key, nonce);
  if (sealed.length < GCM_TAG_BYTES) return undefined;
  const ct = sealed.subarray(0, sealed.length - GCM_TAG_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', k, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAuthTag(tag);
  decipher.setAAD(aad);
  const head = decipher.update(ct);
  try {
    return Buffer.concat([head, decipher.final()]);
  } catch {
    return undefined;
  }
}

/** HKDF-SHA256 (RFC 5869). docs/protocol.md §2.2 uses an empty salt. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 1 || length > HKDF_SHA256_MAX_BYTES) {
    throw new RangeError(`HKDF-SHA256 output must be 1-${HKDF_SHA256_MAX_BYTES} bytes`);
  }
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** scrypt parameters of docs/protocol.md §2.6. */
export const SCRYPT_PARAMS = { N: 131_072, r: 8, p: 1 } as const;
// scrypt needs 128 * N * r bytes (128 MiB here); node's default maxmem is 32 MiB.
const SCRYPT_MAXMEM = 256 * 1024 * 1024;

/** Asynchronous scrypt (it takes a few hundred milliseconds; never block the event loop). */
export function scryptAsync(password: Uint8Array, salt: Uint8Array, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { ...SCRYPT_PARAMS, maxmem: SCRYPT_MAXMEM }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** An Ed25519 private key from its raw 32-byte seed. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_SEED_BYTES) throw new RangeError(`Ed25519 seed must be ${ED25519_SEED_BYTES} bytes`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 private key. */
export function ed25519RawPublicKey(privateKey: KeyObject): Buffer {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - ED25519_PUBLIC_KEY_BYTES));
}

// Strict Ed25519 (docs/protocol.md §2.4, step 3). RFC 8032 §5.1.7 leaves open what a verifier does with a
// public key of small order or a non-canonical encoding, and node:crypto (OpenSSL/BoringSSL)
// accepts both: with the identity point as the key, the signature (R = identity, S = 0) verifies
// on every message, so anyone could post under that key's fingerprint. Following "Taming the
// many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020) and libsodium, SMC refuses, before the
// library sees them: public keys (and R) among the 8 points of small order, in any encoding;
// public keys whose y is not canonical (y >= p); and S >= L (§5.1.7 step 1; the library checks
// it too, the check here keeps it true whatever library runs). Byte comparisons only: these are
// fixed constants, not curve arithmetic.

/** The y coordinates (little-endian, sign bit cleared) of the small-order points (libsodium's list). */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0: order 4 (two points)
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1: the identity, order 1
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8 (two points)
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8 (two points)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p - 1: order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (non-canonical 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (non-canonical 1)
].map((h) => Buffer.from(h, 'hex'));

/** The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const ED25519_L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

/** Whether a 32-byte point encoding has small order, ignoring the sign bit of x (so both encodings of each point). */
function isSmallOrderEncoding(enc: Uint8Array): boolean {
  return SMALL_ORDER_Y.some((y) => {
    for (let i = 0; i < 31; i++) if (enc[i] !== y[i]) return false;
    return (enc[31]! & 0x7f) === y[31];
  });
}

/** Whether y < p = 2^255 - 19: every y >= p is 0x7f 0xff .. 0xff 0xed..0xff (little-endian, sign bit cleared). */
function isCanonicalY(enc: Uint8Array): boolean {
  if ((enc[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (enc[i] !== 0xff) return true;
  return enc[0]! < 0xed;
}

/** Whether the 32 little-endian bytes of S are below L (RFC 8032 §5.1.7 step 1). */
function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! !== ED25519_L[i]!) return s[i]! < ED25519_L[i]!;
  }
  return false;
}

/**
 * Whether 32 raw bytes may be an SMC public key: canonical y and not of small order. The
 * remaining case, a y that is on no point of the curve, is for the library to refuse.
 */
export function isStrictEd25519PublicKey(raw: Uint8Array): boolean {
  return raw.length === ED25519_PUBLIC_KEY_BYTES && isCanonicalY(raw) && !isSmallOrderEncoding(raw);
}

/** Whether a signature R || S passes the strict checks: S < L and R not of small order. */
function isStrictEd25519Signature(sig: Uint8Array): boolean {
  return sig.length === ED25519_SIGNATURE_BYTES && isCanonicalScalar(sig.subarray(32)) && !isSmallOrderEncoding(sig.subarray(0, 32));
}

// Key objects made by ed25519PublicKey, which checked their bytes: ed25519Verify trusts these
// without exporting them again (the sender key cache hands them in for every message).
const strictKeys = new WeakSet<KeyObject>();

/**
 * An Ed25519 public key object from 32 raw bytes, or undefined if the bytes are not an
 * acceptable encoding (wrong length, small order, non-canonical, or rejected by the library).
 */
export function ed25519PublicKey(raw: Uint8Array): KeyObject | undefined {
  if (!isStrictEd25519PublicKey(raw)) return undefined;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    strictKeys.add(key);
    return key;
  } catch {
    return undefined;
  }
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

/** Whether a key object passes isStrictEd25519PublicKey (one made elsewhere is exported and checked). */
function isStrictKeyObject(key: KeyObject): boolean {
  if (strictKeys.has(key)) return true;
  try {
    const pub = key.type === 'public' ? key : createPublicKey(key);
    const spki = pub.export({ format: 'der', type: 'spki' });
    return isStrictEd25519PublicKey(spki.subarray(spki.length - ED25519_PUBLIC_KEY_BYTES));
  } catch {
    return false;
  }
}

/** Strict Ed25519 verification (RFC 8032 §5.1.7 and the checks above), never throws. */
export function ed25519Verify(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isStrictEd25519Signature(signature)) return false;
  if (!(publicKey instanceof KeyObject)) {
    // Raw bytes: checked here, then handed to verify() as DER, which parses and frees the key
    // within the call. A KeyObject per call would hold its native key until the next GC: about
    // 1.3 KiB of resident memory per verification that malloc keeps (the relay's join proofs).
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || !isStrictEd25519PublicKey(publicKey)) return false;
    try {
      return verify(null, message, { key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' }, signature);
    } catch {
      return false;
    }
  }
  if (publicKey.asymmetricKeyType !== 'ed25519' || !isStrictKeyObject(publicKey)) return false;
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}
