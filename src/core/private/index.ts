// Private rooms (docs/protocol.md §3) for the CLI and the extension: one PrivateRoom per room,
// the lobby flows of invites (lobby.ts), the local history store, and what is saved.
export { PrivateRoom, type Actor, type MembershipEvent, type PrivateMemberInfo, type PrivateRoomEvents, type PrivateRoomOptions } from './privateRoom';
export { newPrivateRoom } from './create';
export { HistoryStore, MemoryHistoryLog, HISTORY_KEY_BYTES, type HistoryLog, type HistoryRecord } from './historyStore';
export { decodeSaved, encodeSaved, freshMeta, type PrivateMeta, type SavedPrivateRoom, type InviteRecord } from './meta';
export { formatPrivateInvite, isPrivateInvite, parsePrivateInvite, type PrivateInvite } from './privateInvite';
export { parseRoomContent } from './content';
export { LobbyDesk, JoinRefusedError, joinByInvite, refusalText, LOBBY_ADMIN_NAME, type JoinOutcome, type KeyPackageKeeper, type RefusalReason } from './lobby';
