// KeyPackages (docs/protocol.md §3.4): what a joiner sends to ask to be added. Its public half
// goes to the room; its private half (the init and leaf HPKE keys, never the identity seed)
// stays with the joiner until the Welcome arrives, so it is exportable to survive a restart.
import type { KeyPackage, PrivateKeyPackage } from 'ts-mls' with { 'resolution-mode': 'import' };
import type { Identity } from '../crypto/identity';
import { KEY_PACKAGE_LIFETIME_SECONDS } from './config';
import { boundIdentityKey, credentialFor } from './credential';
import { MlsError, asMlsError } from './errors';
import { loadMls, type Mls } from './library';
import { decodeRecord, encodeRecord } from './record';
import { ROSTER_EXTENSION_TYPE } from './roles';

/** A joiner's own KeyPackage with its private keys. */
export interface OwnKeyPackage {
  /** The MLSMessage (mls_key_package) to send to the room. */
  readonly publicBytes: Uint8Array;
  readonly keyPackage: KeyPackage;
  readonly privateKeys: PrivateKeyPackage;
}

/** §3.4: a new KeyPackage for `identity`, valid from now for KEY_PACKAGE_LIFETIME_SECONDS. */
export async function createKeyPackage(identity: Identity, now: number = Date.now()): Promise<OwnKeyPackage> {
  const { lib, suite } = await loadMls();
  const notBefore = BigInt(Math.floor(now / 1000) - 60); // a minute of clock skew
  const lifetime = { notBefore, notAfter: notBefore + BigInt(KEY_PACKAGE_LIFETIME_SECONDS) };
  const signatureKeyPair = { signKey: new Uint8Array(identity.seed), publicKey: new Uint8Array(identity.publicKey) };
  // §3.5: every leaf supports the roster extension, or it could not be added to a room.
  const defaults = lib.defaultCapabilities();
  const capabilities = { ...defaults, extensions: [...defaults.extensions, ROSTER_EXTENSION_TYPE] };
  const { publicPackage, privatePackage } = await lib.generateKeyPackageWithKey(
    credentialFor(identity), capabilities, lifetime, [], signatureKeyPair, suite);
  const publicBytes = lib.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage });
  return { publicBytes, keyPackage: publicPackage, privateKeys: privatePackage };
}

/** Decodes a KeyPackage someone sent and checks its signature and its §3.2 binding. */
export async function readKeyPackage(bytes: Uint8Array, mls?: Mls): Promise<{ keyPackage: KeyPackage; identityKey: Buffer }> {
  const { lib, suite } = mls ?? await loadMls();
  const decoded = decodeWhole(lib.decodeMlsMessage, bytes);
  if (decoded?.wireformat !== 'mls_key_package') throw new MlsError('malformed', 'not an MLS KeyPackage');
  const keyPackage = decoded.keyPackage;
  if (keyPackage.cipherSuite !== suite.name) throw new MlsError('malformed', `a KeyPackage of another cipher suite (${keyPackage.cipherSuite})`);
  const identityKey = boundIdentityKey(keyPackage.leafNode.credential, keyPackage.leafNode.signaturePublicKey);
  if (identityKey === undefined) throw new MlsError('bad_credential', 'the KeyPackage is not bound to an SMC identity (§3.2)');
  return { keyPackage, identityKey };
}

/** The private half, to keep (as a secret) until the Welcome comes. */
export function exportOwnKeyPackage(own: OwnKeyPackage): Uint8Array {
  return encodeRecord({
    kp: own.publicBytes,
    init: own.privateKeys.initPrivateKey,
    hpke: own.privateKeys.hpkePrivateKey,
  });
}

/** Imports what exportOwnKeyPackage gave, for `identity` (whose seed is not in the export). */
export async function importOwnKeyPackage(bytes: Uint8Array, identity: Identity): Promise<OwnKeyPackage> {
  const mls = await loadMls();
  const record = decodeRecord(bytes, ['kp', 'init', 'hpke']);
  const { keyPackage, identityKey } = await asMlsError('bad_state', 'the saved KeyPackage does not read', () => readKeyPackage(record.kp, mls));
  if (!identityKey.equals(identity.publicKey)) throw new MlsError('bad_state', 'the saved KeyPackage belongs to another identity');
  return {
    publicBytes: record.kp,
    keyPackage,
    privateKeys: { initPrivateKey: record.init, hpkePrivateKey: record.hpke, signaturePrivateKey: new Uint8Array(identity.seed) },
  };
}

/** Runs a ts-mls decoder over all of `bytes`: undefined unless it reads them exactly. */
export function decodeWhole<T>(decoder: (b: Uint8Array, offset: number) => [T, number] | undefined, bytes: Uint8Array): T | undefined {
  try {
    const result = decoder(bytes, 0);
    return result !== undefined && result[1] === bytes.length ? result[0] : undefined;
  } catch {
    return undefined;
  }
}
