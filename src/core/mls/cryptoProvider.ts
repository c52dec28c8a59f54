// Suite 1 with Ed25519 done by SMC's own strict wrappers (docs/protocol.md §3.2). ts-mls's default
// provider signs and verifies through WebCrypto, which accepts what RFC 8032 §5.1.7 refuses: a
// small-order public key (with it, the signature R = identity, S = 0 verifies every message) and
// non-canonical encodings. SMC refuses those everywhere (§2.4), so MLS signatures are checked by
// the same ed25519Verify as envelopes. Hashing, HKDF, HPKE and AES-GCM stay the library's own.
import type { CryptoProvider, Signature } from 'ts-mls' with { 'resolution-mode': 'import' };
import type { TsMls } from './library';
import { ED25519_SEED_BYTES, ed25519PrivateKey, ed25519RawPublicKey, ed25519Sign, ed25519Verify, secureRandom } from '../crypto/primitives';

/** MLS signature keys are raw 32-byte Ed25519 seeds, as SMC identities are (§2.1). */
export const strictEd25519: Signature = {
  sign(signKey, message) {
    if (signKey.length !== ED25519_SEED_BYTES) return Promise.reject(new Error('an Ed25519 signing key is a 32-byte seed'));
    return Promise.resolve(new Uint8Array(ed25519Sign(ed25519PrivateKey(signKey), message)));
  },
  verify(publicKey, message, signature) {
    return Promise.resolve(ed25519Verify(publicKey, message, signature));
  },
  keygen() {
    const signKey = secureRandom(ED25519_SEED_BYTES);
    return Promise.resolve({ signKey: new Uint8Array(signKey), publicKey: new Uint8Array(ed25519RawPublicKey(ed25519PrivateKey(signKey))) });
  },
};

/** ts-mls's default provider, with Ed25519 replaced by strictEd25519. */
export function smcCryptoProvider(lib: TsMls): CryptoProvider {
  return {
    async getCiphersuiteImpl(cs) {
      const impl = await lib.defaultCryptoProvider.getCiphersuiteImpl(cs);
      if (cs.signature !== 'Ed25519') throw new Error(`SMC uses Ed25519 only, not ${cs.signature}`);
      return { ...impl, signature: strictEd25519 };
    },
  };
}
