// An admin of a private room run in this process (src/core/private: PrivateRoom and LobbyDesk,
// as `smc chat` runs them) over real TCP to a real relay, with a group of any size made in
// process through src/core/mls: the other members exist only as the leaves of the group (no
// process each), which is what a joiner's Welcome and the admin's commits cost.
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage } from '../../src/core/client/types';
import { MlsGroup, createKeyPackage } from '../../src/core/mls/index';
import { HistoryStore, LOBBY_ADMIN_NAME, LobbyDesk, MemoryHistoryLog, PrivateRoom, newPrivateRoom, type MembershipEvent } from '../../src/core/private/index';
import { createTcpTransport } from '../../src/node/tcpTransport';

export interface PrivateAdmin {
  room: PrivateRoom;
  desk: LobbyDesk;
  identity: Identity;
  /** The other members' identities (leaves of the group, no client each). */
  others: Identity[];
  /** The group of the other member `i`, from the Welcome of the first add (for attacks from inside). */
  memberGroup(i: number): Promise<MlsGroup>;
  messages: ChatMessage[];
  added: MembershipEvent[];
  logs: string[];
  stop(): Promise<void>;
}

/**
 * A private room of `members` members (the admin included) on the relay at `port`, its admin
 * online in the room and in the lobbies of its invites.
 */
export async function startPrivateAdmin(port: number, members: number, name = 'team'): Promise<PrivateAdmin> {
  const identity = generateIdentity();
  const created = await newPrivateRoom(identity);
  const others = Array.from({ length: members - 1 }, () => generateIdentity());
  const group: MlsGroup = created.group;
  const kps = await Promise.all(others.map((id) => createKeyPackage(id)));
  let welcome: Uint8Array | undefined;
  if (others.length > 0) {
    welcome = (await group.commit({ kind: 'add', keyPackages: kps.map((k) => k.publicBytes) })).welcome;
    group.confirmOwnCommit();
  }
  // The members made in process are named as member_added would name them.
  for (const [i, id] of others.entries()) created.meta.names[id.publicKey.toString('hex')] = `member${i + 1}`;
  const logs: string[] = [];
  const log = (event: string, fields?: Record<string, unknown>): void => void logs.push(`${event} ${JSON.stringify(fields ?? {})}`);
  const room = new PrivateRoom({
    room: created.room, name, host: '127.0.0.1', port, agent: 'smc-test/0', transport: createTcpTransport, identity, displayName: 'alice',
    group, meta: created.meta, save: () => Promise.resolve(), history: new HistoryStore(created.room, Buffer.alloc(32, 9), new MemoryHistoryLog()), log,
  });
  const desk = new LobbyDesk(room, new RelayClient({
    host: '127.0.0.1', port, agent: 'smc-test/0', identity, displayName: LOBBY_ADMIN_NAME, transport: createTcpTransport, log,
  }), log);
  const admin: PrivateAdmin = {
    room, desk, identity, others, messages: [], added: [], logs,
    memberGroup: (i) => MlsGroup.join(others[i]!, kps[i]!, welcome!),
    async stop() {
      await desk.stop();
      await room.disconnect();
    },
  };
  room.on('message', (m) => admin.messages.push(m));
  room.on('member_added', (e) => admin.added.push(e));
  room.on('error', (e) => void logs.push(`error ${e.message}`));
  room.connect();
  desk.start();
  return admin;
}

/** The invite link an admin makes, once its room is caught up with the relay. */
export async function makeInvite(admin: PrivateAdmin, until: <T>(what: string, check: () => T | undefined | false) => Promise<T>): Promise<string> {
  await until('the admin in its room', () => admin.room.state === 'connected' && !admin.room.committing);
  const link = new Promise<string>((resolve) => admin.room.once('invite', (e) => resolve(e.invite)));
  void admin.room.invite();
  return link;
}
