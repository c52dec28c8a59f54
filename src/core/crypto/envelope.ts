// The envelope of docs/protocol.md §2.3-2.4: sign P bound to the room, then AES-256-GCM with the
// room and id as associated data. openEnvelope runs the four steps of §2.4 in order and stops
// at the first that fails (prepareOpen + finishOpen split it around step 3, so that a batch's
// signatures can be checked elsewhere); its failure reason is precise but only for the debug log.
import { KeyObject } from 'node:crypto';
import { decodeB64u, encodeB64u } from './b64u';
import { Identity, signingKey } from './identity';
import { MAX_PAYLOAD_BYTES, Payload, parsePayload } from './payload';
import {
  aesGcmOpen, aesGcmSeal, ed25519Sign,
  ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES, secureRandom,
} from './primitives';
import { senderKey } from './senderKeys';
import { verifySignature, type SignatureItem } from './signatureVerifier';

export const ENVELOPE_VERSION = 0x01;
const SIGNED_PREFIX_BYTES = ED25519_SIGNATURE_BYTES + ED25519_PUBLIC_KEY_BYTES;
/** §2.4 step 1: version, nonce, sig || pub, tag (P may not be empty, but step 4 catches that). */
export const MIN_ENVELOPE_BYTES = 1 + GCM_NONCE_BYTES + SIGNED_PREFIX_BYTES + GCM_TAG_BYTES;
/** The largest envelope a conforming sender makes: P is at most MAX_PAYLOAD_BYTES. */
export const MAX_ENVELOPE_BYTES = MIN_ENVELOPE_BYTES + MAX_PAYLOAD_BYTES;
/** Base64url length of MAX_ENVELOPE_BYTES; longer strings are refused before decoding. */
export const MAX_ENVELOPE_CHARS = Math.ceil((MAX_ENVELOPE_BYTES * 4) / 3);

const SIG_LABEL = Buffer.from('smc/v1 sig', 'utf8');
const AAD_LABEL = Buffer.from('smc/v1', 'utf8');
const ZERO = Buffer.from([0]);

export type OpenResult =
  | { ok: true; payload: Payload; publicKey: Buffer; fingerprint: string }
  | { ok: false; reason: string };

/** §2.3: the bytes signed: utf8("smc/v1 sig") || 0x00 || utf8(room) || 0x00 || P. */
export function signedBytes(room: string, p: Uint8Array): Buffer {
  return Buffer.concat([SIG_LABEL, ZERO, Buffer.from(room, 'utf8'), ZERO, p]);
}

/** §2.4: aad = utf8("smc/v1") || 0x00 || utf8(room) || 0x00 || utf8(id). */
export function envelopeAad(room: string, id: string): Buffer {
  return Buffer.concat([AAD_LABEL, ZERO, Buffer.from(room, 'utf8'), ZERO, Buffer.from(id, 'utf8')]);
}

/** Seals the payload bytes P (already checked by encodePayload) into a b64u body. */
export function sealEnvelope(mkey: KeyObject, room: string, id: string, p: Uint8Array, identity: Identity, nonce?: Uint8Array): string {
  const iv = nonce ?? secureRandom(GCM_NONCE_BYTES);
  if (iv.length !== GCM_NONCE_BYTES) throw new RangeError(`nonce must be ${GCM_NONCE_BYTES} bytes`);
  const sig = ed25519Sign(signingKey(identity), signedBytes(room, p));
  const m = Buffer.concat([sig, identity.publicKey, p]);
  const sealed = aesGcmSeal(mkey, iv, envelopeAad(room, id), m);
  return encodeB64u(Buffer.concat([Buffer.from([ENVELOPE_VERSION]), iv, sealed]));
}

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/**
 * A body past §2.4 steps 1-2 whose signature (step 3) is still to be checked: `item` holds only
 * public data (signature, sender key, signed bytes) and may go to another thread.
 */
export interface PreparedOpen {
  ok: true;
  id: string;
  item: SignatureItem;
  /** The payload bytes P, parsed in step 4 once the signature is known to verify. */
  p: Buffer;
  publicKey: Buffer;
  fingerprint: string;
}

export type PrepareResult = PreparedOpen | { ok: false; reason: string };

/**
 * §2.4 steps 1-2 and the first half of step 3 (the sender key must be an Ed25519 key): the
 * failures come in the protocol's order, and what is left is the signature check itself.
 * Never throws on hostile input.
 */
export function prepareOpen(mkey: KeyObject, room: string, id: string, body: string): PrepareResult {
  // Step 1: decode; version byte; length (checked before any decryption).
  if (typeof body !== 'string' || body.length > MAX_ENVELOPE_CHARS) return fail('body longer than any envelope');
  let bytes: Buffer;
  try {
    bytes = decodeB64u(body);
  } catch (e) {
    return fail(`body ${(e as Error).message}`);
  }
  if (bytes.length < MIN_ENVELOPE_BYTES) return fail(`body is ${bytes.length} bytes, shorter than an envelope`);
  if (bytes.length > MAX_ENVELOPE_BYTES) return fail('body longer than any envelope');
  if (bytes[0] !== ENVELOPE_VERSION) return fail(`unknown envelope version ${bytes[0]}`);

  // Step 2: AES-256-GCM with aad from the frame's room and id.
  const nonce = bytes.subarray(1, 1 + GCM_NONCE_BYTES);
  const m = aesGcmOpen(mkey, nonce, envelopeAad(room, id), bytes.subarray(1 + GCM_NONCE_BYTES));
  if (m === undefined) return fail('decryption failed: wrong key, room or id, or the body was altered');

  // Step 3, first half: sig || pub || P; the signature will bind P to the room.
  const sig = m.subarray(0, ED25519_SIGNATURE_BYTES);
  const pub = Buffer.from(m.subarray(ED25519_SIGNATURE_BYTES, SIGNED_PREFIX_BYTES));
  const p = m.subarray(SIGNED_PREFIX_BYTES);
  const from = senderKey(pub);
  if (from === undefined) return fail('sender public key is not a valid Ed25519 key');
  return { ok: true, id, item: { sig, pub, signed: signedBytes(room, p) }, p, publicKey: pub, fingerprint: from.fingerprint };
}

/** The rest of §2.4 once `signatureValid` (step 3) is known: step 4, parse P and match its id. */
export function finishOpen(prepared: PreparedOpen, signatureValid: boolean): OpenResult {
  if (!signatureValid) return fail('signature does not verify');
  // Step 4: parse P; P.id must equal the frame's id.
  const parsed = parsePayload(prepared.p);
  if (!parsed.ok) return fail(parsed.reason);
  if (parsed.payload.id !== prepared.id) return fail('payload id differs from the wire id');
  return { ok: true, payload: parsed.payload, publicKey: prepared.publicKey, fingerprint: prepared.fingerprint };
}

/**
 * Opens a body received in room `room` under wire id `id` (§2.4; for presence tags the id is
 * "presence"), all four steps in this thread. P.id must equal `id`. Never throws on hostile input.
 */
export function openEnvelope(mkey: KeyObject, room: string, id: string, body: string): OpenResult {
  const prepared = prepareOpen(mkey, room, id, body);
  if (!prepared.ok) return prepared;
  return finishOpen(prepared, verifySignature(prepared.item));
}
