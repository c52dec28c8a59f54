// A private room as the relay sees it (docs/protocol.md §3.6), for the tests that speak to a real
// relay over a line connection: the owner key, a random Ed25519 key per epoch, and the frames
// its owner's client signs with them. No MLS: the relay sees only keys and signatures.
import { randomBytes } from 'node:crypto';
import { makeJoinProof, type RoomAuthKey } from '../../src/core/crypto/roomAuth';
import { epochAuthKey, makeReset, makeRotation, privateRoomId } from '../../src/core/mls/epochAuth';
import { randomId, type LineClient } from './lineClient';

/** A fresh random epoch (or owner) key. */
export function newKey(): RoomAuthKey {
  return epochAuthKey(randomBytes(32));
}

/** A private room as its owner's client sees it: the owner key, and a key per epoch. */
export class PrivateRoomKeys {
  readonly owner = newKey();
  readonly room = privateRoomId(this.owner.publicKey);
  readonly keys: RoomAuthKey[] = [];

  key(epoch: number): RoomAuthKey {
    while (this.keys.length <= epoch) this.keys.push(newKey());
    return this.keys[epoch] as RoomAuthKey;
  }

  /** §3.6: a reset signed by `owner` over `c`'s challenge; `refuse` > 0 makes it a repair. */
  resetFrame(c: LineClient, epoch: number, { owner = this.owner, refuse = 0 }: { owner?: RoomAuthKey; refuse?: number } = {}): Record<string, unknown> {
    return {
      t: 'reset', room: this.room, epoch, ...(refuse > 0 ? { refuse } : {}),
      ...makeReset(owner, c.challenge, this.room, BigInt(epoch), this.key(epoch), BigInt(refuse)),
    };
  }

  joinFrame(c: LineClient, epoch: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { t: 'join', room: this.room, ...makeJoinProof(this.key(epoch), c.challenge, this.room), ...extra };
  }

  /**
   * A commit that ends `epoch`, signed by `signer` (default: that epoch's key), and starts
   * epoch + 1 with `next` (default: the room's key for it).
   */
  commitFrame(epoch: number, { id = randomId(), signer = this.key(epoch), next = this.key(epoch + 1) }: { id?: string; signer?: RoomAuthKey; next?: RoomAuthKey } = {}): Record<string, unknown> {
    return {
      t: 'send', room: this.room, id, body: 'AgAB' + randomBytes(12).toString('base64url'), epoch: epoch + 1,
      ...makeRotation(signer, this.room, BigInt(epoch + 1), next),
    };
  }
}
