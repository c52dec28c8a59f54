// The room-auth key of each epoch of a private room, and the rotation that tells the relay the
// next one (docs/protocol.md §3.6). These derivations are ours; test/fixtures/mls/
// smc-v3-vectors.json holds vectors for them, computed by test/fixtures/mls/make-v3-vectors.py.
import { encodeB64u } from '../crypto/b64u';
import { ED25519_PUBLIC_KEY_BYTES, ed25519PrivateKey, ed25519RawPublicKey, ed25519Sign, ed25519Verify, sha256 } from '../crypto/primitives';
import type { RoomAuthKey } from '../crypto/roomAuth';
import { loadMls, type Mls } from './library';

/** §3.6: the MLS exporter label of the epoch room-auth seed. */
export const EPOCH_AUTH_LABEL = 'smc/v3 room-auth';
const PRIVATE_ROOM_ID_PREFIX = Buffer.from('smc/v3 private-room-id\u0000', 'utf8');
const ROTATION_PREFIX = Buffer.from('smc/v3 epoch\u0000', 'utf8');
const RESET_PREFIX = Buffer.from('smc/v3 reset\u0000', 'utf8');
const SEPARATOR = Buffer.from([0]);

/** §3.6: authSeed_e = MLS-Exporter(EPOCH_AUTH_LABEL, "", 32) in epoch e. A secret. */
export async function deriveEpochAuthSeed(exporterSecret: Uint8Array, mls?: Mls): Promise<Buffer> {
  const { lib, suite } = mls ?? await loadMls();
  return Buffer.from(await lib.mlsExporter(exporterSecret, EPOCH_AUTH_LABEL, new Uint8Array(0), 32, suite));
}

/** The Ed25519 key pair of an epoch's auth seed (the same shape as a link room's, §1.9). */
export function epochAuthKey(seed: Uint8Array): RoomAuthKey {
  const privateKey = ed25519PrivateKey(seed);
  return { publicKey: ed25519RawPublicKey(privateKey), privateKey };
}

/**
 * §3.6: room = b64u(SHA-256("smc/v3 private-room-id" || 0x00 || ownerPub)[0..16]), ownerPub the
 * public half of the room's owner key, which the creator makes at random and keeps.
 */
export function privateRoomId(ownerPub: Uint8Array): string {
  return encodeB64u(sha256(Buffer.concat([PRIVATE_ROOM_ID_PREFIX, ownerPub])).subarray(0, 16));
}

function epochBytes(epoch: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(epoch);
  return out;
}

/** §3.6: utf8("smc/v3 epoch") || 0x00 || utf8(room) || 0x00 || u64be(next epoch) || authPub_next. */
export function rotationMessage(room: string, nextEpoch: bigint, nextAuthPub: Uint8Array): Buffer {
  return Buffer.concat([ROTATION_PREFIX, Buffer.from(room, 'utf8'), SEPARATOR, epochBytes(nextEpoch), nextAuthPub]);
}

/**
 * §3.6: utf8("smc/v3 reset") || 0x00 || utf8(challenge) || 0x00 || utf8(room) || 0x00 || u64be(epoch)
 * || authPub_epoch || u64be(refuse). The connection's challenge makes a reset good on that
 * connection only (never replayed); `refuse` is 0 at creation, the refused commit's seq in a repair.
 */
export function resetMessage(challenge: string, room: string, epoch: bigint, authPub: Uint8Array, refuse: bigint): Buffer {
  return Buffer.concat([
    RESET_PREFIX, Buffer.from(challenge, 'utf8'), SEPARATOR, Buffer.from(room, 'utf8'), SEPARATOR, epochBytes(epoch), authPub, epochBytes(refuse),
  ]);
}

/** §3.6: the `owner`, `auth` and `sig` of a reset: the owner key sets the room's current epoch key. */
export function makeReset(
  owner: RoomAuthKey, challenge: string, room: string, epoch: bigint, auth: RoomAuthKey, refuse = 0n,
): { owner: string; auth: string; sig: string } {
  return {
    owner: encodeB64u(owner.publicKey),
    auth: encodeB64u(auth.publicKey),
    sig: encodeB64u(ed25519Sign(owner.privateKey, resetMessage(challenge, room, epoch, auth.publicKey, refuse))),
  };
}

/** §3.6: the relay's check of a reset: the owner key is the room's, and it signed this epoch key on this connection. */
export function verifyReset(
  ownerPub: Uint8Array, challenge: string, room: string, epoch: bigint, authPub: Uint8Array, refuse: bigint, sig: Uint8Array,
): boolean {
  if (authPub.length !== ED25519_PUBLIC_KEY_BYTES || privateRoomId(ownerPub) !== room) return false;
  return ed25519Verify(ownerPub, resetMessage(challenge, room, epoch, authPub, refuse), sig);
}

/** §3.6: the `next` and `rot` fields of a commit's send: the current epoch's key vouches for the next. */
export function makeRotation(current: RoomAuthKey, room: string, nextEpoch: bigint, next: RoomAuthKey): { next: string; rot: string } {
  return { next: encodeB64u(next.publicKey), rot: encodeB64u(ed25519Sign(current.privateKey, rotationMessage(room, nextEpoch, next.publicKey))) };
}

/** §3.6: the relay's check of a rotation against the room's current auth public key. */
export function verifyRotation(currentAuthPub: Uint8Array, room: string, nextEpoch: bigint, nextAuthPub: Uint8Array, rot: Uint8Array): boolean {
  if (nextAuthPub.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  return ed25519Verify(currentAuthPub, rotationMessage(room, nextEpoch, nextAuthPub), rot);
}
