// Identity keys and fingerprints (docs/protocol.md §2.1): one Ed25519 key pair per installation.
import { KeyObject } from 'node:crypto';
import { ED25519_SEED_BYTES, ed25519PrivateKey, ed25519RawPublicKey, secureRandom, sha256 } from './primitives';

export interface Identity {
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  /** The raw 32-byte Ed25519 private seed. A secret: never log or send it. */
  seed: Buffer;
}

// The signing KeyObject of each Identity, built once (importing PKCS#8 per message is slow).
// A WeakMap so that dropping an Identity drops its key object too.
const signingKeys = new WeakMap<Identity, KeyObject>();

/** The signing key of an identity, cached. */
export function signingKey(identity: Identity): KeyObject {
  let key = signingKeys.get(identity);
  if (key === undefined) {
    key = ed25519PrivateKey(identity.seed);
    signingKeys.set(identity, key);
  }
  return key;
}

/** A new random identity. */
export function generateIdentity(): Identity {
  return identityFromSeed(secureRandom(ED25519_SEED_BYTES));
}

/** The identity whose private seed is `seed` (32 bytes). */
export function identityFromSeed(seed: Uint8Array): Identity {
  const key = ed25519PrivateKey(seed);
  const identity: Identity = { publicKey: ed25519RawPublicKey(key), seed: Buffer.from(seed) };
  signingKeys.set(identity, key);
  return identity;
}

/**
 * §2.1: the first 16 bytes of SHA-256 of the raw public key, as 8 groups of 4 uppercase hex
 * digits separated by spaces ("21FE 31DF A154 A261 626B F854 046F D227").
 */
export function fingerprint(publicKey: Uint8Array): string {
  const hex = sha256(publicKey).subarray(0, 16).toString('hex').toUpperCase();
  return hex.match(/.{4}/g)!.join(' ');
}

/** The first two groups of a fingerprint ("21FE 31DF"), for compact display. The one rule. */
export function shortOfFingerprint(fingerprintText: string): string {
  return fingerprintText.split(' ').slice(0, 2).join(' ');
}

/** The short fingerprint of a public key (shortOfFingerprint of its fingerprint). */
export function shortFingerprint(publicKey: Uint8Array): string {
  return shortOfFingerprint(fingerprint(publicKey));
}
