// The wire format between the client thread and the verification workers (verifyPool.ts,
// verifyWorker.ts): a batch of §2.4 step 3 checks packed into one transferable buffer, because
// cloning thousands of small arrays costs more than the copy. Per item: u32 length of the signed
// bytes (big-endian), 64-byte signature, 32-byte public key, the signed bytes (§2.3). No room key
// crosses; the signed bytes contain the plaintext P, so a batch stays in this process and is
// never logged.
import type { SignatureItem } from '../core/crypto/index';

const SIG_BYTES = 64;
const PUB_BYTES = 32;
const HEADER_BYTES = 4 + SIG_BYTES + PUB_BYTES;

/** Whether an item can be packed (prepareOpen only makes such items). */
export function isPackable(it: SignatureItem): boolean {
  return it.sig.length === SIG_BYTES && it.pub.length === PUB_BYTES;
}

/** Packs items into one buffer; every item must be isPackable. */
export function packSignatures(items: readonly SignatureItem[]): Uint8Array {
  let total = 0;
  for (const it of items) total += HEADER_BYTES + it.signed.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const it of items) {
    if (!isPackable(it)) throw new RangeError('signature or public key of the wrong length');
    view.setUint32(at, it.signed.length);
    out.set(it.sig, at + 4);
    out.set(it.pub, at + 4 + SIG_BYTES);
    out.set(it.signed, at + HEADER_BYTES);
    at += HEADER_BYTES + it.signed.length;
  }
  return out;
}

/** The items of a packed buffer (views into it, no copies). Throws on a truncated buffer. */
export function unpackSignatures(data: Uint8Array): SignatureItem[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const items: SignatureItem[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + HEADER_BYTES > data.length) throw new RangeError('truncated signature batch');
    const len = view.getUint32(at);
    const end = at + HEADER_BYTES + len;
    if (end > data.length) throw new RangeError('truncated signature batch');
    items.push({
      sig: data.subarray(at + 4, at + 4 + SIG_BYTES),
      pub: data.subarray(at + 4 + SIG_BYTES, at + HEADER_BYTES),
      signed: data.subarray(at + HEADER_BYTES, end),
    });
    at = end;
  }
  return items;
}
