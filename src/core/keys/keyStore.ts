// The secrets of docs/protocol.md §2.1 in a SecretStore: the identity seed, created on first use,
// under `smc.identity`, and each room key under `smc.room.<roomId>`, all as base64url. The
// non-secret room list lives apart, in a StateStore (roomList.ts).
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { generateIdentity, Identity, identityFromSeed } from '../crypto/identity';
import { ED25519_SEED_BYTES } from '../crypto/primitives';
import { deriveRoomId, deriveRoomIdV1, ROOM_KEY_BYTES } from '../crypto/roomKey';
import { isIdForm } from '../wire/validate';
import { SecretStore } from './stores';

export const IDENTITY_SECRET = 'smc.identity';
export const ROOM_SECRET_PREFIX = 'smc.room.';

/**
 * What KeyStoreError reports: a stored secret that cannot be used (`damaged_secret`), or a
 * caller's room id or key that breaks the rules (`invalid_room_id`, `invalid_room_key`,
 * `key_not_of_room`).
 */
export type KeyStoreErrorCode = 'damaged_secret' | 'invalid_room_id' | 'invalid_room_key' | 'key_not_of_room';

/** A stored secret that cannot be used, or a key that does not belong to its room. */
export class KeyStoreError extends Error {
  constructor(readonly code: KeyStoreErrorCode, message: string) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

function checkRoomId(room: string): void {
  if (!isIdForm(room)) throw new KeyStoreError('invalid_room_id', 'a room id is 22 base64url characters');
}

function decodeSecret(value: string, bytes: number): Buffer | undefined {
  try {
    const b = decodeB64u(value);
    return b.length === bytes ? b : undefined;
  } catch {
    return undefined;
  }
}

export class KeyStore {
  private identityPromise: Promise<Identity> | undefined;

  constructor(private readonly secrets: SecretStore) {}

  /**
   * This installation's identity, created and stored on first use. Concurrent first calls
   * share one creation, so an installation never has two identities. A damaged stored seed
   * is an error, never silently replaced: a new identity shows as a key change to everyone.
   */
  identity(): Promise<Identity> {
    this.identityPromise ??= this.loadOrCreateIdentity().catch((e: unknown) => {
      this.identityPromise = undefined;
      throw e;
    });
    return this.identityPromise;
  }

  private async loadOrCreateIdentity(): Promise<Identity> {
    const stored = await this.secrets.get(IDENTITY_SECRET);
    if (stored !== undefined) {
      const seed = decodeSecret(stored, ED25519_SEED_BYTES);
      if (seed === undefined) {
        throw new KeyStoreError('damaged_secret',
          `The identity key stored as '${IDENTITY_SECRET}' is damaged (it is not a 32-byte base64url seed). ` +
            'SMC does not replace it on its own; remove that entry to create a new identity ' +
            '(the members of your rooms will then see a key change).');
      }
      return identityFromSeed(seed);
    }
    const identity = generateIdentity();
    await this.secrets.store(IDENTITY_SECRET, encodeB64u(identity.seed));
    return identity;
  }

  /** The key of a room, or undefined if this installation does not hold it. */
  async roomKey(room: string): Promise<Buffer | undefined> {
    checkRoomId(room);
    const stored = await this.secrets.get(ROOM_SECRET_PREFIX + room);
    if (stored === undefined) return undefined;
    const key = decodeSecret(stored, ROOM_KEY_BYTES);
    if (key === undefined || deriveRoomId(key) !== room) {
      throw new KeyStoreError('damaged_secret', `The key stored for room ${room} is damaged; join the room again from its invite.`);
    }
    return key;
  }

  /** Stores a room key. `room` must be the room id derived from `key` (§2.2). */
  async setRoomKey(room: string, key: Uint8Array): Promise<void> {
    checkRoomId(room);
    if (key.length !== ROOM_KEY_BYTES) throw new KeyStoreError('invalid_room_key', `a room key is ${ROOM_KEY_BYTES} bytes`);
    if (deriveRoomId(key) !== room) throw new KeyStoreError('key_not_of_room', 'this key does not belong to that room');
    await this.secrets.store(ROOM_SECRET_PREFIX + room, encodeB64u(key));
  }

  /**
   * Protocol v1 → v2 (docs/protocol.md §2.2): if `room` is the v1 id of the key stored under it,
   * stores that key under its v2 id too and returns the v2 id (the caller then moves the room's
   * entry and deletes the v1 key). Anything else (a v2 id, no key, a damaged one): undefined.
   */
  async copyV1RoomKey(room: string): Promise<string | undefined> {
    checkRoomId(room);
    const stored = await this.secrets.get(ROOM_SECRET_PREFIX + room);
    const key = stored === undefined ? undefined : decodeSecret(stored, ROOM_KEY_BYTES);
    if (key === undefined || deriveRoomIdV1(key) !== room) return undefined;
    const v2 = deriveRoomId(key);
    await this.secrets.store(ROOM_SECRET_PREFIX + v2, encodeB64u(key));
    return v2;
  }

  async deleteRoomKey(room: string): Promise<void> {
    checkRoomId(room);
    await this.secrets.delete(ROOM_SECRET_PREFIX + room);
  }
}
