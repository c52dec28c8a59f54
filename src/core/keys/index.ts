// Key storage (docs/protocol.md §2.1, docs/security.md "Where keys live"): secrets in a SecretStore, the room list and known keys in a StateStore.
export type { SecretStore, StateStore } from './stores';
export { MemorySecretStore, MemoryStateStore } from './stores';
export { KeyStore, KeyStoreError, IDENTITY_SECRET, ROOM_SECRET_PREFIX } from './keyStore';
export type { RoomEntry } from './roomList';
export { RoomList, ROOM_LIST_STATE } from './roomList';
export type { KeyCheck } from './knownKeys';
export { KnownKeys, KNOWN_KEYS_STATE, MAX_KNOWN_NAMES_PER_ROOM, VERIFIED_KEYS_STATE, nameKey } from './knownKeys';
export { displayNameFromLogin, displayNameProblem, nameShapeKey, namesLookAlike } from './displayName';
export { ShownIdsState, SHOWN_IDS_STATE_PREFIX } from './shownIds';
export { migrateV1RoomIds } from './roomIdMigration';
