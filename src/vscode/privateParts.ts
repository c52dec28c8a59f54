// The parts of private rooms that carry MLS (ts-mls and the room's state machine), loaded on
// first use by src/vscode/privateSession.ts rather than at activation: activation reads no
// secret and stays within its budget (src/vscode/extension.ts), and these double the bundle.
export { JoinRefusedError, LobbyDesk, LOBBY_ADMIN_NAME, PrivateRoom, joinByInvite, newPrivateRoom } from '../core/private/index';
export { MlsGroup } from '../core/mls/index';
