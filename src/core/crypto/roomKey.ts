// Room keys and what is derived from them (docs/protocol.md §2.1, §2.2, §2.6).
import { encodeB64u } from './b64u';
import { AES_KEY_BYTES, hkdfSha256, scryptAsync, secureRandom } from './primitives';
import { deriveRoomAuthKey, roomIdForAuthKey } from './roomAuth';

export const ROOM_KEY_BYTES = AES_KEY_BYTES;
/** §2.6: clients warn when a passphrase is shorter than this many characters. */
export const PASSPHRASE_WARN_LENGTH = 16;

const EMPTY = new Uint8Array(0);
const ROOM_ID_INFO = Buffer.from('smc/v1 room-id', 'utf8');
const MESSAGE_KEY_INFO = Buffer.from('smc/v1 message-key', 'utf8');

function checkRoomKey(key: Uint8Array): void {
  if (key.length !== ROOM_KEY_BYTES) throw new RangeError(`a room key is ${ROOM_KEY_BYTES} bytes`);
}

/** §2.1: a new random room key. */
export function generateRoomKey(): Buffer {
  return secureRandom(ROOM_KEY_BYTES);
}

/**
 * §2.2 (v2): the room id the relay sees, the hash of the room-auth public key derived from K,
 * so that the relay can check a join's proof against the id itself (§1.9).
 */
export function deriveRoomId(key: Uint8Array): string {
  checkRoomKey(key);
  return roomIdForAuthKey(deriveRoomAuthKey(key).publicKey);
}

/**
 * §2.2 (v1): room = b64u(HKDF(K, "smc/v1 room-id", 16)), the id of protocol v1. Kept for the
 * v1 vectors and for telling a user where a room's pre-v2 history lives; no v2 client joins it.
 */
export function deriveRoomIdV1(key: Uint8Array): string {
  checkRoomKey(key);
  return encodeB64u(hkdfSha256(key, EMPTY, ROOM_ID_INFO, 16));
}

/** §2.2: mkey = HKDF(K, "smc/v1 message-key", 32); the AES-256-GCM key of every envelope. */
export function deriveMessageKey(key: Uint8Array): Buffer {
  checkRoomKey(key);
  return hkdfSha256(key, EMPTY, MESSAGE_KEY_INFO, 32);
}

/**
 * §2.6: K = scrypt(utf8(NFKC(passphrase)), utf8("smc/v1 room:" || NFKC(name)), N=2^17, r=8, p=1).
 * NFKC makes the same words typed on different keyboards (composed or decomposed accents,
 * full-width forms) give the same room.
 */
export function roomKeyFromPassphrase(name: string, passphrase: string): Promise<Buffer> {
  if (passphrase.length === 0) return Promise.reject(new Error('the passphrase is empty'));
  const password = Buffer.from(passphrase.normalize('NFKC'), 'utf8');
  const salt = Buffer.from('smc/v1 room:' + name.normalize('NFKC'), 'utf8');
  return scryptAsync(password, salt, ROOM_KEY_BYTES);
}

/**
 * §2.6: true when a passphrase is short enough that the user should be warned that someone who
 * sees the room id (the relay) could guess it offline. Counts characters after NFKC.
 */
export function isWeakPassphrase(passphrase: string): boolean {
  return [...passphrase.normalize('NFKC')].length < PASSPHRASE_WARN_LENGTH;
}
