// What a private room's invite secret derives (docs/protocol.md §3.4): the key of its lobby, a
// link room (§2.1) where joiners ask to be added, and the invite's id, by which members count
// and revoke it. Vectors: test/fixtures/mls/smc-v3-vectors.json ("invite").
import { encodeB64u } from '../crypto/b64u';
import { hkdfSha256, secureRandom, sha256 } from '../crypto/primitives';

export const INVITE_SECRET_BYTES = 32;
const LOBBY_INFO = Buffer.from('smc/v3 invite-lobby', 'utf8');
const INVITE_ID_PREFIX = Buffer.from('smc/v3 invite-id\u0000', 'utf8');

export function generateInviteSecret(): Buffer {
  return secureRandom(INVITE_SECRET_BYTES);
}

/** §3.4: lobbyK = HKDF(I, "smc/v3 invite-lobby", 32), a link-room key. A secret. */
export function inviteLobbyKey(secret: Uint8Array): Buffer {
  if (secret.length !== INVITE_SECRET_BYTES) throw new Error('an invite secret is 32 bytes');
  return hkdfSha256(secret, new Uint8Array(0), LOBBY_INFO, 32);
}

/** §3.4: inviteId = b64u(SHA-256("smc/v3 invite-id" || 0x00 || I)[0..16]). */
export function inviteId(secret: Uint8Array): string {
  if (secret.length !== INVITE_SECRET_BYTES) throw new Error('an invite secret is 32 bytes');
  return encodeB64u(sha256(Buffer.concat([INVITE_ID_PREFIX, secret])).subarray(0, 16));
}
