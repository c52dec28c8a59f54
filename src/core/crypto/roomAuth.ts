// The room-auth key and the join proof of protocol v2 (docs/protocol.md §1.9, §2.2). A member
// proves to the relay that it holds the room key K without the relay learning K: K derives an
// Ed25519 key pair, the room id is bound to its public key, and every join signs the
// connection's fresh challenge. The relay checks one signature per join and none per send.
import { KeyObject } from 'node:crypto';
import { decodeB64u, encodeB64u } from './b64u';
import {
  ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, ed25519PrivateKey, ed25519RawPublicKey, ed25519Sign,
  ed25519Verify, hkdfSha256, secureRandom, sha256,
} from './primitives';

/** §1.9: the welcome's challenge is this many random bytes. */
export const CHALLENGE_BYTES = 32;
/** §1.9: b64u of CHALLENGE_BYTES. */
export const CHALLENGE_CHARS = 43;

const EMPTY = new Uint8Array(0);
const ROOM_AUTH_INFO = Buffer.from('smc/v2 room-auth', 'utf8');
const ROOM_ID_PREFIX = Buffer.from('smc/v2 room-id\u0000', 'utf8');
const JOIN_PROOF_PREFIX = Buffer.from('smc/v2 join\u0000', 'utf8');
const SEPARATOR = Buffer.from([0]);

/** A room's auth key pair (§2.2). The private half is a secret, as K is. */
export interface RoomAuthKey {
  /** Raw 32-byte Ed25519 public key: what the relay sees in `join.auth`. */
  readonly publicKey: Buffer;
  readonly privateKey: KeyObject;
}

/** §2.2: auth seed = HKDF(K, "smc/v2 room-auth", 32), an Ed25519 key pair. */
export function deriveRoomAuthKey(key: Uint8Array): RoomAuthKey {
  const privateKey = ed25519PrivateKey(hkdfSha256(key, EMPTY, ROOM_AUTH_INFO, 32));
  return { publicKey: ed25519RawPublicKey(privateKey), privateKey };
}

/**
 * §2.2: room = b64u(SHA-256("smc/v2 room-id" || 0x00 || authPub)[0..16]). The id is a hash of the
 * auth public key, so the relay can check that a join's key belongs to the room it names
 * without keeping any state, and nobody can bind another key to an existing room.
 */
export function roomIdForAuthKey(publicKey: Uint8Array): string {
  return encodeB64u(sha256(Buffer.concat([ROOM_ID_PREFIX, publicKey])).subarray(0, 16));
}

/** §1.9: a fresh challenge for one connection's welcome. */
export function generateChallenge(): string {
  return encodeB64u(secureRandom(CHALLENGE_BYTES));
}

/** §1.9: the signed bytes, utf8("smc/v2 join") || 0x00 || utf8(challenge) || 0x00 || utf8(room). */
export function joinProofMessage(challenge: string, room: string): Buffer {
  return Buffer.concat([JOIN_PROOF_PREFIX, Buffer.from(challenge, 'utf8'), SEPARATOR, Buffer.from(room, 'utf8')]);
}

/** §1.9: the `auth` and `proof` fields of a join of `room` on a connection with `challenge`. */
export function makeJoinProof(auth: RoomAuthKey, challenge: string, room: string): { auth: string; proof: string } {
  return {
    auth: encodeB64u(auth.publicKey),
    proof: encodeB64u(ed25519Sign(auth.privateKey, joinProofMessage(challenge, room))),
  };
}

/**
 * §1.9, the relay's check: `auth` is the room's key (its hash is `room`) and `proof` signs this
 * connection's challenge and `room`. Never throws; false for any malformed field.
 */
export function verifyJoinProof(room: string, challenge: string, auth: string, proof: string): boolean {
  const pub = decodeB64uOrUndefined(auth);
  const sig = decodeB64uOrUndefined(proof);
  if (pub?.length !== ED25519_PUBLIC_KEY_BYTES || sig?.length !== ED25519_SIGNATURE_BYTES) return false;
  if (roomIdForAuthKey(pub) !== room) return false;
  return ed25519Verify(pub, joinProofMessage(challenge, room), sig);
}

function decodeB64uOrUndefined(s: string): Buffer | undefined {
  try {
    return decodeB64u(s);
  } catch {
    return undefined;
  }
}
