// One room's envelope operations (docs/protocol.md §2.2-2.5): seal and open messages and presence
// tags with the keys derived from the room key K. The room key itself is not kept.
import { KeyObject } from 'node:crypto';
import { encodeB64u } from './b64u';
import { finishOpen, openEnvelope, OpenResult, prepareOpen, PrepareResult, PreparedOpen, sealEnvelope } from './envelope';
import { Identity } from './identity';
import { encodePayload, Payload, PayloadError } from './payload';
import { aesKey, secureRandom } from './primitives';
import { deriveRoomAuthKey, makeJoinProof, roomIdForAuthKey, type RoomAuthKey } from './roomAuth';
import { deriveMessageKey } from './roomKey';
import { isIdForm } from '../wire/validate';

/** §2.5: the id under which presence tags are sealed, in P and in the aad. */
export const PRESENCE_ID = 'presence';
/** §1.2: a tag is at most this many characters. */
export const MAX_TAG_CHARS = 2_048;

/** §1.2: a message id is 22 characters of [A-Za-z0-9_-] (b64u of 16 random bytes): isIdForm. */
export function isMessageId(id: unknown): id is string {
  return isIdForm(id);
}

/** §1.2: a new random message id. */
export function generateMessageId(): string {
  return encodeB64u(secureRandom(16));
}

export class RoomCipher {
  /** §2.2: the room id the relay sees (v2: the hash of the room-auth public key). */
  readonly room: string;
  private readonly mkey: KeyObject;
  private readonly auth: RoomAuthKey;

  constructor(key: Uint8Array) {
    this.mkey = aesKey(deriveMessageKey(key));
    this.auth = deriveRoomAuthKey(key);
    this.room = roomIdForAuthKey(this.auth.publicKey);
  }

  /** §1.9: the `auth` and `proof` of a join of this room on a connection whose welcome had `challenge`. */
  joinProof(challenge: string): { auth: string; proof: string } {
    return makeJoinProof(this.auth, challenge, this.room);
  }

  /**
   * §2.3-2.4: seals a message; payload.id is the wire id. Throws PayloadError (or
   * PayloadTooLargeError) with a message for the user when the payload breaks a rule.
   */
  seal(payload: Payload, identity: Identity, nonce?: Uint8Array): string {
    if (!isMessageId(payload.id)) throw new PayloadError('This message cannot be sent: its id is not a 22-character message id.');
    return sealEnvelope(this.mkey, this.room, payload.id, encodePayload(payload), identity, nonce);
  }

  /** §2.4: opens a `msg` body received in this room under wire id `id`. Never throws. */
  open(id: string, body: string): OpenResult {
    if (!isMessageId(id)) return { ok: false, reason: 'wire id is not a 22-character message id' };
    return openEnvelope(this.mkey, this.room, id, body);
  }

  /**
   * §2.4 steps 1-2 (and the sender key check of step 3) of a `msg` body; the signature check
   * is left to the caller (a SignatureVerifier), then finishOpen. Never throws.
   */
  prepareOpen(id: string, body: string): PrepareResult {
    if (!isMessageId(id)) return { ok: false, reason: 'wire id is not a 22-character message id' };
    return prepareOpen(this.mkey, this.room, id, body);
  }

  /** §2.4: the outcome of step 3 (`signatureValid`) and step 4, for a prepareOpen result. */
  finishOpen(prepared: PreparedOpen, signatureValid: boolean): OpenResult {
    return finishOpen(prepared, signatureValid);
  }

  /** §2.5: the presence tag announcing `name` with this identity. */
  sealPresence(name: string, identity: Identity, ts: number = Date.now(), nonce?: Uint8Array): string {
    const p = encodePayload({ id: PRESENCE_ID, ts, name, type: 'profile' });
    const tag = sealEnvelope(this.mkey, this.room, PRESENCE_ID, p, identity, nonce);
    // A 64-character name cannot make a tag this long; the check keeps §1.2 true whatever changes.
    if (tag.length > MAX_TAG_CHARS) throw new PayloadError('The display name is too long for a presence tag.');
    return tag;
  }

  /** §2.5: opens a presence tag of this room. Never throws. */
  openPresence(tag: string): OpenResult {
    if (typeof tag !== 'string' || tag.length > MAX_TAG_CHARS) return { ok: false, reason: 'tag longer than 2048 characters' };
    const result = openEnvelope(this.mkey, this.room, PRESENCE_ID, tag);
    if (result.ok && result.payload.type !== 'profile') return { ok: false, reason: 'presence payload type is not profile' };
    return result;
  }
}
