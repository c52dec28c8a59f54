// How an MLS member is an SMC identity (docs/protocol.md §3.2). The credential is a basic
// credential whose identity is the member's raw 32-byte SMC identity public key (§2.1), and the
// leaf's MLS signature key is that same key. A leaf is valid only when the two are equal and the
// key passes the strict checks of §2.4, so "who is this member" has one answer, the fingerprint
// everyone already compares, and no signature format of our own binds the two.
import type { AuthenticationService, Credential } from 'ts-mls' with { 'resolution-mode': 'import' };
import { fingerprint, type Identity } from '../crypto/identity';
import { ED25519_PUBLIC_KEY_BYTES, isStrictEd25519PublicKey } from '../crypto/primitives';

/** A member of a group as SMC shows it. */
export interface MlsMember {
  /** The member's leaf in the ratchet tree (changes only when the member leaves and rejoins). */
  readonly leafIndex: number;
  /** The raw SMC identity public key (§2.1). */
  readonly identityKey: Buffer;
  /** §2.1 fingerprint of identityKey. */
  readonly fingerprint: string;
}

/** §3.2: the credential of an SMC identity. */
export function credentialFor(identity: Identity): Credential {
  return { credentialType: 'basic', identity: new Uint8Array(identity.publicKey) };
}

/**
 * §3.2: the SMC identity key a leaf's credential names, or undefined when the leaf is not bound
 * as §3.2 requires (not basic, not 32 bytes, a weak key, or a signature key that differs).
 */
export function boundIdentityKey(credential: Credential, signaturePublicKey: Uint8Array): Buffer | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  const key = credential.identity;
  if (key.length !== ED25519_PUBLIC_KEY_BYTES || !isStrictEd25519PublicKey(key)) return undefined;
  if (!Buffer.from(key).equals(Buffer.from(signaturePublicKey))) return undefined;
  return Buffer.from(key);
}

/** §3.2: what every member checks of every leaf it learns (KeyPackage, Welcome tree, commit path). */
export const smcAuthenticationService: AuthenticationService = {
  validateCredential(credential, signaturePublicKey) {
    return Promise.resolve(boundIdentityKey(credential, signaturePublicKey) !== undefined);
  },
};

export function memberFromLeaf(leafIndex: number, credential: Credential, signaturePublicKey: Uint8Array): MlsMember | undefined {
  const identityKey = boundIdentityKey(credential, signaturePublicKey);
  return identityKey === undefined ? undefined : { leafIndex, identityKey, fingerprint: fingerprint(identityKey) };
}
