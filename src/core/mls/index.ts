// SMC's interface to MLS (RFC 9420) for private rooms (docs/protocol.md §3). Everything outside
// src/core/mls/ uses only these names; ts-mls itself is imported by library.ts alone.
export { MlsError, type MlsErrorCode } from './errors';
export type { MlsMember } from './credential';
export { createKeyPackage, readKeyPackage, exportOwnKeyPackage, importOwnKeyPackage, type OwnKeyPackage } from './keyPackage';
export { MlsGroup, roleRule, type CommitIntent, type CommitRule, type CommitSummary, type Incoming, type PendingCommit } from './group';
export {
  EPOCH_AUTH_LABEL, deriveEpochAuthSeed, epochAuthKey, privateRoomId, rotationMessage, makeRotation, verifyRotation,
  resetMessage, makeReset, verifyReset,
} from './epochAuth';
export { CIPHER_SUITE_ID, CIPHER_SUITE_NAME } from './library';
export { ROSTER_EXTENSION_TYPE, checkRoles, decodeRoster, effectiveAdmins, encodeRoster, type RoleCheck } from './roles';
export { INVITE_SECRET_BYTES, generateInviteSecret, inviteId, inviteLobbyKey } from './inviteSecret';
