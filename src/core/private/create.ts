// Making a private room (docs/protocol.md §3.6): the creator makes a random owner key, whose
// public half names the room at the relay, and a group with itself as the only member and admin.
import { encodeB64u } from '../crypto/b64u';
import type { Identity } from '../crypto/identity';
import { secureRandom } from '../crypto/primitives';
import { MlsGroup, epochAuthKey, privateRoomId } from '../mls/index';
import { freshMeta, type PrivateMeta } from './meta';

export async function newPrivateRoom(identity: Identity, now: number = Date.now()): Promise<{ room: string; group: MlsGroup; meta: PrivateMeta }> {
  const ownerSeed = secureRandom(32);
  const room = privateRoomId(epochAuthKey(ownerSeed).publicKey);
  const group = await MlsGroup.create(identity);
  const meta = freshMeta(now);
  // A secret of the creator's (stored with the group state): with it the room can be reset.
  meta.ownerSeed = encodeB64u(ownerSeed);
  meta.resetDone = false;
  return { room, group, meta };
}
