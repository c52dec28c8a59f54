// Sender public keys (docs/protocol.md §2.4 step 3) as KeyObjects with their fingerprints, cached:
// a room's history comes from few senders, and importing the key for every message would cost
// as much as verifying it. Bounded, so a flood of one-off keys cannot grow it. Each thread (the
// client's and every verification worker's) has its own cache.
import { KeyObject } from 'node:crypto';
import { fingerprint } from './identity';
import { ed25519PublicKey } from './primitives';

const PUBLIC_KEY_CACHE_MAX = 1024;
const publicKeyCache = new Map<string, { key: KeyObject; fingerprint: string }>();

/** The key object and fingerprint of a raw public key, or undefined if it is not an Ed25519 key. */
export function senderKey(raw: Uint8Array): { key: KeyObject; fingerprint: string } | undefined {
  const k = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  let entry = publicKeyCache.get(k);
  if (entry === undefined) {
    const key = ed25519PublicKey(raw);
    if (key === undefined) return undefined;
    entry = { key, fingerprint: fingerprint(raw) };
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) publicKeyCache.clear();
    publicKeyCache.set(k, entry);
  }
  return entry;
}
