// The seam for §2.4 step 3 (Ed25519 verification, the one expensive step of opening a message):
// RelayClient opens a catch-up batch in two halves (RoomCipher.prepareOpen / finishOpen) and
// hands the signatures in between to a SignatureVerifier. Only public data crosses the seam:
// the signature, the sender's public key and the signed bytes of §2.3, never a room key or a
// body. The default verifies in the calling thread; src/node/verifyPool.ts spreads big batches
// over worker threads.
import { ed25519Verify } from './primitives';
import { senderKey } from './senderKeys';

/** One signature to check: `sig` over `signed` (the bytes of §2.3) by the raw key `pub`. */
export interface SignatureItem {
  sig: Uint8Array;
  pub: Uint8Array;
  signed: Uint8Array;
}

export interface SignatureVerifier {
  /** One boolean per item, in order: true when the signature verifies. */
  verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]>;
  /** A big batch is coming (a join's catch-up): start what takes time to start (threads). */
  warm?(): void;
  /** Frees what the verifier holds (threads); it stays usable and starts again on demand. */
  close?(): Promise<void>;
}

/** §2.4 step 3 for one item, in this thread (the key object is cached per sender). */
export function verifySignature(item: SignatureItem): boolean {
  const from = senderKey(item.pub);
  return from !== undefined && ed25519Verify(from.key, item.signed, item.sig);
}

/** Verifies in the calling thread: the default, and the fallback of any other verifier. */
export const inThreadVerifier: SignatureVerifier = {
  verifyBatch: (items) => Promise.resolve(items.map(verifySignature)),
};
