// What `smc chat` hands to its two front ends (chatTty.ts, chatJson.ts) once the room is
// resolved. A module of its own so that chat.ts imports the front ends and they import only
// this, not chat.ts back (no import cycle).
import type { RelayClient } from '../core/client/index';
import type { HomeStores } from './homeStores';

export interface ChatContext {
  client: RelayClient;
  session: HomeStores;
  room: string;
  roomName: string;
  relay: string;
  key: Buffer;
  lastSeq: number;
  flags: { history: number; own: boolean; timeoutMs: number };
  /** The key came from --passphrase-file: an empty room may mean a mistyped name or passphrase. */
  fromPassphrase: boolean;
}
