// Where `smc` keeps a private room (docs/protocol.md §3.8): the MLS state with its meta under
// `smc.mls.<room>` and the history key under `smc.history.<room>`, both in secrets.json (mode
// 0600, like room keys); the history itself in $SMC_HOME/history/<room>.log (mode 0600); and
// in state.json which stored rooms are private (the room list is shared with link rooms).
import { decodeB64u, encodeB64u } from '../core/crypto/b64u';
import { secureRandom } from '../core/crypto/primitives';
import type { Identity } from '../core/crypto/index';
import { MlsGroup } from '../core/mls/index';
import { HISTORY_KEY_BYTES, HistoryStore, decodeSaved, type PrivateMeta } from '../core/private/index';
import { FileHistoryLog } from '../node/historyFile';
import type { HomeStores } from './homeStores';

export const PRIVATE_ROOMS_STATE = 'smc.cli.privateRooms';
export const mlsSecret = (room: string): string => `smc.mls.${room}`;
export const historySecret = (room: string): string => `smc.history.${room}`;

export function isPrivateRoom(session: HomeStores, room: string): boolean {
  const all = session.state.get<Record<string, unknown>>(PRIVATE_ROOMS_STATE);
  return all !== undefined && Object.hasOwn(all, room) && all[room] === true;
}

export async function markPrivate(session: HomeStores, room: string, on: boolean): Promise<void> {
  const all = { ...(session.state.get<Record<string, boolean>>(PRIVATE_ROOMS_STATE) ?? {}) };
  if (on) Object.defineProperty(all, room, { value: true, enumerable: true, writable: true, configurable: true });
  else delete all[room];
  await session.state.update(PRIVATE_ROOMS_STATE, all);
}

export function savePrivate(session: HomeStores, room: string, text: string): Promise<void> {
  return session.secrets.store(mlsSecret(room), text);
}

/** The stored group (for `identity`) and its meta, or undefined when none is stored. */
export async function loadPrivate(session: HomeStores, room: string, identity: Identity): Promise<{ group: MlsGroup; meta: PrivateMeta } | undefined> {
  const text = await session.secrets.get(mlsSecret(room));
  if (text === undefined) return undefined;
  const saved = decodeSaved(text);
  return { group: await MlsGroup.import(saved.state, identity), meta: saved.meta };
}

/** The room's history store; its key is made on first use and kept as the other secrets are. */
export async function historyStoreFor(session: HomeStores, room: string): Promise<HistoryStore> {
  let key = await session.secrets.get(historySecret(room));
  if (key === undefined) {
    key = encodeB64u(secureRandom(HISTORY_KEY_BYTES));
    await session.secrets.store(historySecret(room), key);
  }
  return new HistoryStore(room, decodeB64u(key), new FileHistoryLog(room, session.home));
}

/** §3.8: forgetting a room deletes its state, its history and the history's key. */
export async function forgetPrivate(session: HomeStores, room: string): Promise<void> {
  await session.secrets.delete(mlsSecret(room));
  await session.secrets.delete(historySecret(room));
  await new FileHistoryLog(room, session.home).remove();
  await markPrivate(session, room, false);
}

/** Private room invites stored by `smc room join`, waiting for `smc chat NAME` to ask to join (§3.4). */
export const PENDING_JOINS_SECRET = 'smc.cli.pendingJoins';

export interface PendingJoin { name: string; relay: string; invite: string }

export async function pendingJoins(session: HomeStores): Promise<PendingJoin[]> {
  const text = await session.secrets.get(PENDING_JOINS_SECRET);
  if (text === undefined) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.filter((x): x is PendingJoin => typeof x === 'object' && x !== null && typeof (x as PendingJoin).name === 'string'
      && typeof (x as PendingJoin).relay === 'string' && typeof (x as PendingJoin).invite === 'string') : [];
  } catch {
    return [];
  }
}

export async function setPendingJoin(session: HomeStores, join: PendingJoin, on: boolean): Promise<void> {
  const rest = (await pendingJoins(session)).filter((j) => !(j.name === join.name && j.relay === join.relay));
  await session.secrets.store(PENDING_JOINS_SECRET, JSON.stringify(on ? [...rest, join] : rest));
}
