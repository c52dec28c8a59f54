// The envelope cryptography of docs/protocol.md §2, for the client core, the CLI and the extension.
export { encodeB64u, decodeB64u } from './b64u';
// The §1.2 form check has one home, next to the frame parser that applies it.
export { isB64uForm as isB64u } from '../wire/validate';
export {
  generateRoomKey, roomKeyFromPassphrase, deriveRoomId, deriveRoomIdV1, deriveMessageKey, isWeakPassphrase,
  PASSPHRASE_WARN_LENGTH, ROOM_KEY_BYTES,
} from './roomKey';
export type { Identity } from './identity';
export { generateIdentity, identityFromSeed, fingerprint, shortFingerprint, shortOfFingerprint } from './identity';
export type { PayloadType, Snippet, Payload } from './payload';
export {
  PayloadError, PayloadTooLargeError,
  MAX_PAYLOAD_BYTES, MAX_TEXT_BYTES, MAX_NAME_CHARS, hasNameLength,
} from './payload';
export type { OpenResult, PreparedOpen, PrepareResult } from './envelope';
export type { SignatureItem, SignatureVerifier } from './signatureVerifier';
export { inThreadVerifier, verifySignature } from './signatureVerifier';
export { RoomCipher, PRESENCE_ID, MAX_TAG_CHARS, isMessageId, generateMessageId } from './roomCipher';
export type { Invite } from './invite';
export { formatInvite, parseInvite, InviteError, normalizeCertFingerprint, MAX_ROOM_NAME_CHARS } from './invite';
export type { RoomAuthKey } from './roomAuth';
export {
  deriveRoomAuthKey, roomIdForAuthKey, generateChallenge, makeJoinProof, verifyJoinProof, joinProofMessage,
  CHALLENGE_BYTES, CHALLENGE_CHARS,
} from './roomAuth';
