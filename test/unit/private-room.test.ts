// The private-room part of the client (src/core/private/privateRoom.ts, docs/protocol.md §3.3,
// §3.5, §3.6) over scripted transports to an in-memory Delivery Service (test/helpers/privateDs.ts):
// messages in seq order, an own commit kept pending until its seq, a lost race retried, a
// non-admin's commit ignored by everyone, the re-join after every rekey under the new epoch's key.
import { strict as assert } from 'node:assert';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { epochAuthKey, createKeyPackage, MlsGroup, makeRotation } from '../../src/core/mls';
import { encodeB64u } from '../../src/core/crypto/b64u';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import {
  HistoryStore, MemoryHistoryLog, PrivateRoom, decodeSaved, freshMeta, newPrivateRoom, type PrivateMeta,
} from '../../src/core/private';
import { encodeMlsBody } from '../../src/core/private/body';
import type { ChatMessage } from '../../src/core/client/types';
import { PrivateDs } from '../helpers/privateDs';
import { untilTrue } from '../helpers/until';

interface Member {
  id: Identity;
  name: string;
  group: MlsGroup;
  room: PrivateRoom;
  meta: PrivateMeta;
  saved: string[];
  log: MemoryHistoryLog;
  messages: ChatMessage[];
  events: string[];
}

/** Waits until `cond` holds, 20 s at most (test/helpers/until.ts). */
const until = (cond: () => boolean, what: string, ms = 20_000): Promise<void> => untilTrue(cond, what, ms);

function member(ds: PrivateDs, roomId: string, id: Identity, name: string, group: MlsGroup, meta: PrivateMeta): Member {
  const saved: string[] = [];
  const log = new MemoryHistoryLog();
  const room = new PrivateRoom({
    room: roomId, name: 'team', host: '127.0.0.1', port: 7878, agent: 'test', transport: ds.factory, identity: id, displayName: name,
    group, meta, save: (t) => { saved.push(t); return Promise.resolve(); },
    history: new HistoryStore(roomId, Buffer.alloc(32, 7), log),
    tuning: { reconnectBaseMs: 10, reconnectMaxMs: 50 },
  });
  const m: Member = { id, name, group, room, meta, saved, log, messages: [], events: [] };
  room.on('message', (msg) => m.messages.push(msg));
  room.on('member_added', (e) => m.events.push(`added ${e.name ?? e.fingerprint} by ${e.by.name ?? e.by.fingerprint}`));
  room.on('member_removed', (e) => m.events.push(`removed ${e.name ?? e.fingerprint} by ${e.by.name ?? e.by.fingerprint}`));
  room.on('removed', (e) => m.events.push(`i was removed by ${e.by.name ?? e.by.fingerprint}`));
  room.on('epoch', (e) => m.events.push(`epoch ${e.epoch}`));
  return m;
}

/** alice creates the room; each other name is added by alice and joins from the Welcome. */
async function roomOf(ds: PrivateDs, names: string[]): Promise<{ roomId: string; members: Member[] }> {
  const aliceId = generateIdentity();
  const created = await newPrivateRoom(aliceId);
  const alice = member(ds, created.room, aliceId, names[0]!, created.group, created.meta);
  alice.room.connect();
  await until(() => alice.room.state === 'connected' && ds.rooms.has(created.room), 'the reset');
  const members = [alice];
  for (const name of names.slice(1)) {
    const id = generateIdentity();
    const kp = await createKeyPackage(id);
    const committed = new Promise<{ seq: number; welcome: Uint8Array | undefined }>((resolve) => alice.room.once('committed', (e) => resolve(e)));
    alice.room.add(kp.publicBytes);
    const { seq, welcome } = await committed;
    assert.ok(welcome);
    // §3.4 step 3, as the lobby desk does it: the admin names the new member to the room.
    alice.room.announceAdded('I'.repeat(22), id.publicKey, name);
    const group = await MlsGroup.join(id, kp, welcome);
    const meta = freshMeta(Date.now());
    meta.applied = seq;
    const m = member(ds, created.room, id, name, group, meta);
    m.room.connect();
    members.push(m);
    await until(() => members.every((x) => x.room.epoch === members.length - 1), 'every member in the epoch');
  }
  await until(() => members.every((x) => x.room.epoch === members.length - 1), 'all in the last epoch');
  return { roomId: created.room, members };
}

async function settle(members: Member[]): Promise<void> {
  for (const m of members) if (!m.room.removed) await m.room.drain();
}

describe('private room client (docs/protocol.md §3.3-§3.6)', function () {
  this.timeout(60_000);
  let ds: PrivateDs;
  let all: Member[] = [];

  beforeEach(() => {
    ds = new PrivateDs();
    all = [];
  });

  afterEach(async () => {
    for (const m of all) await m.room.disconnect();
  });

  it('the creator resets the room at the relay (epoch 0), joins under the epoch key, and its messages are acked in order', async () => {
    const { members } = await roomOf(ds, ['alice']);
    all = members;
    const [alice] = members;
    const sent = ['one', 'two', 'three'].map((t) => alice!.room.sendText(t));
    await settle(members);
    const stored = ds.rooms.get(alice!.room.room)!.messages;
    assert.deepEqual(stored.map((m) => m.id), sent.map((m) => m.id));
    // Every body is an MLS message (0x02) and never the text.
    for (const m of stored) {
      assert.equal(Buffer.from(m.body, 'base64url')[0], 0x02);
      assert.ok(!Buffer.from(m.body, 'base64url').toString('latin1').includes('two'));
    }
    // §3.8: own messages are in the history store before they are sent, then with their seq.
    const { records } = await new HistoryStore(alice!.room.room, Buffer.alloc(32, 7), alice!.log).load();
    assert.deepEqual(records.map((r) => [r.seq, JSON.parse(r.p).text]), [[1, 'one'], [2, 'two'], [3, 'three']]);
  });

  it('three members: messages flow in seq order, membership events name who did it', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    for (let i = 0; i < 5; i++) {
      alice!.room.sendText(`a${i}`);
      bob!.room.sendText(`b${i}`);
      carol!.room.sendText(`c${i}`);
    }
    await settle(members);
    await until(() => members.every((m) => m.messages.length >= 10), 'every message');
    const order = (m: Member): string[] => m.messages.map((x) => `${x.seq}:${x.text}`);
    // Each sees the others' messages, by ascending seq.
    for (const m of members) {
      const seqs = m.messages.map((x) => x.seq!);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(m.messages.length, 10);
    }
    assert.deepEqual(order(alice!).filter((s) => s.includes('c')), order(bob!).filter((s) => s.includes('c')));
    // bob saw carol added by alice (carol's name is unknown to him until she speaks).
    assert.ok(bob!.events.some((e) => e.startsWith('added ') && e.endsWith(' by alice')), bob!.events.join('; '));
  });

  it('an own commit is pending until its seq: the epoch changes only once the relay ordered it', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob']);
    all = members;
    const [alice, bob] = members;
    ds.hold();
    alice!.room.update();
    await until(() => ds.heldCount === 1, 'the commit at the relay');
    // Sent, not ordered: the group is still in its epoch, and the saved state holds the pending commit.
    assert.equal(alice!.room.epoch, 1);
    assert.equal(alice!.room.committing, true);
    const last = decodeSaved(alice!.saved[alice!.saved.length - 1]!);
    assert.ok(last.state.length > 0);
    ds.release();
    await until(() => alice!.room.epoch === 2 && bob!.room.epoch === 2, 'both in epoch 2');
    // §3.6 rekey: both joined again under the key of epoch 2.
    await until(() => ds.conns.filter((c) => !c.closed).every((c) => c.rooms.size === 1), 'the re-joins');
    const key2 = ds.rooms.get(alice!.room.room)!.keys.get(2);
    for (const c of ds.conns.filter((x) => !x.closed)) {
      const joins = c.sent.filter((f) => f.t === 'join');
      assert.equal(joins[joins.length - 1]!.auth, key2);
    }
    bob!.room.sendText('after the update');
    await until(() => alice!.messages.some((m) => m.text === 'after the update'), 'a message in epoch 2');
  });

  it('two admins commit at the same moment (the relay stores them in one batch): one wins, the loser gets stale_epoch and retries in the next epoch, all end in one epoch', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    alice!.room.promote(bob!.room.members().find((m) => m.self)!.identityKey);
    await until(() => members.every((m) => m.room.epoch === 3), 'the promotion');
    assert.ok(carol!.room.members().find((m) => m.name === 'bob' || m.identityKey === bob!.id.publicKey.toString('hex'))!.admin);
    ds.hold();
    alice!.room.update();
    bob!.room.update();
    await until(() => ds.heldCount === 2, 'both commits at the relay');
    ds.release(true);
    await until(() => members.every((m) => m.room.epoch === 5 && !m.room.committing), 'both commits applied, one after the other');
    // The race happened: the relay refused the second commit for epoch 3 (§3.3).
    const stale = ds.conns.flatMap((c) => c.received).filter((f) => f.t === 'error' && f.code === 'stale_epoch');
    assert.equal(stale.length, 1);
    assert.equal(stale[0]!.epoch, 4);
    const auths = members.map((m) => encodeB64u(Buffer.from((m.room as unknown as { group: MlsGroup }).group.epochAuthenticator())));
    assert.equal(new Set(auths).size, 1);
    // Nothing is lost: a message from each after the race.
    alice!.room.sendText('from alice');
    carol!.room.sendText('from carol');
    await until(() => bob!.messages.some((m) => m.text === 'from alice') && bob!.messages.some((m) => m.text === 'from carol'), 'the messages');
  });

  it('two admins commit at the same moment (the relay rekeys between them): the loser meets the winner first and retries, all end in one epoch', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    alice!.room.promote(bob!.room.members().find((m) => m.self)!.identityKey);
    await until(() => members.every((m) => m.room.epoch === 3), 'the promotion');
    assert.ok(carol!.room.members().find((m) => m.name === 'bob' || m.identityKey === bob!.id.publicKey.toString('hex'))!.admin);
    ds.hold();
    alice!.room.update();
    bob!.room.update();
    await until(() => ds.heldCount === 2, 'both commits at the relay');
    ds.release();
    await until(() => members.every((m) => m.room.epoch === 5 && !m.room.committing), 'both commits applied, one after the other');
    // The second commit came after the rekey: not_joined, and its author met the winner first.
    const refused = ds.conns.flatMap((c) => c.received).filter((f) => f.t === 'error' && f.code === 'not_joined');
    assert.ok(refused.length >= 1);
    const auths = members.map((m) => encodeB64u(Buffer.from((m.room as unknown as { group: MlsGroup }).group.epochAuthenticator())));
    assert.equal(new Set(auths).size, 1);
    // Nothing is lost: a message from each after the race.
    alice!.room.sendText('from alice');
    carol!.room.sendText('from carol');
    await until(() => bob!.messages.some((m) => m.text === 'from alice') && bob!.messages.some((m) => m.text === 'from carol'), 'the messages');
  });

  it("a non-admin's commit removing someone is ignored by every member: the epoch does not end, the member stays", async () => {
    const { members, roomId } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    // bob (not an admin) builds a commit removing carol with his own group, behind his client's back.
    const bobGroup = (bob!.room as unknown as { group: MlsGroup }).group;
    await bob!.room.disconnect();
    const pending = await bobGroup.commit({ kind: 'remove', identityKeys: [carol!.id.publicKey] });
    const cur = epochAuthKey(await bobGroup.epochAuthSeed());
    const next = epochAuthKey((await bobGroup.pendingEpochAuthSeed())!);
    const rot = makeRotation(cur, roomId, bobGroup.epoch + 1n, next);
    const conn = ds.factory('127.0.0.1', 1) as unknown as { write(l: string): void; on(e: string, l: (x: string) => void): void };
    const lines: string[] = [];
    conn.on('line', (l) => lines.push(l));
    await new Promise((r) => setTimeout(r, 20));
    conn.write(JSON.stringify({ t: 'hello', v: 2 }));
    await until(() => lines.length > 0, 'welcome');
    const challenge = (JSON.parse(lines[0]!) as { challenge: string }).challenge;
    conn.write(JSON.stringify({ t: 'join', rid: 1, room: roomId, since: 0, ...makeJoinProof(cur, challenge, roomId) }));
    await until(() => lines.some((l) => l.includes('"synced"')), 'joined');
    conn.write(JSON.stringify({ t: 'send', rid: 2, room: roomId, id: 'X'.repeat(22), body: encodeMlsBody(pending.message), epoch: Number(bobGroup.epoch) + 1, ...rot }));
    await until(() => lines.some((l) => l.includes('"ack"')), 'the relay stored it (it cannot read roles)');
    // Every member refuses it: same epoch, carol still a member, and the room speaks on in that epoch.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(alice!.room.epoch, 2);
    assert.equal(carol!.room.epoch, 2);
    assert.ok(alice!.room.members().some((m) => m.identityKey === carol!.id.publicKey.toString('hex')));
    assert.equal(carol!.room.removed, false);
    assert.ok(!carol!.events.some((e) => e.startsWith('i was removed')));
  });

  it('an admin removes a member: it is told, the others move on, its join under the old key ends at the removal', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    alice!.room.remove(bob!.id.publicKey.toString('hex'));
    await until(() => bob!.room.removed, 'bob told');
    assert.ok(bob!.events.some((e) => e === 'i was removed by alice'), bob!.events.join('; '));
    await until(() => alice!.room.epoch === 3 && carol!.room.epoch === 3, 'the others in epoch 3');
    assert.ok(carol!.events.some((e) => e.startsWith('removed') && e.endsWith('by alice')));
    alice!.room.sendText('bob cannot read this');
    await until(() => carol!.messages.some((m) => m.text === 'bob cannot read this'), 'carol reads');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!bob!.messages.some((m) => m.text === 'bob cannot read this'));
    // bob's client does not try to join again: it has no key of the new epoch (§3.6).
    const bobJoins = ds.conns.flatMap((c) => c.sent).filter((f) => f.t === 'join' && f.auth === ds.rooms.get(alice!.room.room)!.keys.get(3));
    assert.equal(bobJoins.length, 2);
  });

  it('a member offline through two commits catches up epoch by epoch (read-only joins under the old keys, §3.6)', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob', 'carol']);
    all = members;
    const [alice, bob, carol] = members;
    await carol!.room.disconnect();
    alice!.room.update();
    await until(() => alice!.room.epoch === 3 && bob!.room.epoch === 3, 'epoch 3');
    alice!.room.sendText('in epoch 3');
    bob!.room.update();
    await until(() => alice!.room.epoch === 4 && bob!.room.epoch === 4, 'epoch 4');
    alice!.room.sendText('in epoch 4');
    await settle([alice!, bob!]);
    // carol comes back with her saved state (as after a restart).
    const saved = decodeSaved(carol!.saved[carol!.saved.length - 1]!);
    const group = await MlsGroup.import(saved.state, carol!.id);
    assert.equal(Number(group.epoch), 2);
    const back = member(ds, alice!.room.room, carol!.id, 'carol', group, saved.meta);
    all = [alice!, bob!, back];
    back.room.connect();
    await until(() => back.room.epoch === 4, 'carol in epoch 4');
    await until(() => back.messages.some((m) => m.text === 'in epoch 4'), 'the message of epoch 4');
    assert.deepEqual(back.messages.map((m) => m.text), ['in epoch 3', 'in epoch 4']);
    back.room.sendText('carol is back');
    await until(() => alice!.messages.some((m) => m.text === 'carol is back'), 'carol heard');
  });

  it('a crash after sending a commit and before its ack: the restarted member recognises it at its seq (§3.3, §3.8)', async () => {
    const { members } = await roomOf(ds, ['alice', 'bob']);
    all = members;
    const [alice, bob] = members;
    ds.hold();
    alice!.room.update();
    await until(() => ds.heldCount === 1, 'the commit at the relay');
    const saved = decodeSaved(alice!.saved[alice!.saved.length - 1]!);
    // alice's process dies; the relay stores the commit it had received.
    await alice!.room.disconnect();
    ds.release();
    await until(() => bob!.room.epoch === 2, 'bob applied it');
    const group = await MlsGroup.import(saved.state, alice!.id);
    assert.ok(group.pendingCommit, 'the pending commit was saved before it was sent');
    const back = member(ds, alice!.room.room, alice!.id, 'alice', group, saved.meta);
    all = [bob!, back];
    back.room.connect();
    await until(() => back.room.epoch === 2 && !back.room.committing, 'alice in epoch 2 with her own commit');
    back.room.sendText('alice is back');
    await until(() => bob!.messages.some((m) => m.text === 'alice is back'), 'bob reads');
  });

  it('a relay that replays a message under a new seq changes nothing (its MLS key is used up)', async () => {
    const { members, roomId } = await roomOf(ds, ['alice', 'bob']);
    all = members;
    const [alice, bob] = members;
    alice!.room.sendText('once');
    await until(() => bob!.messages.some((m) => m.text === 'once'), 'bob reads');
    const r = ds.rooms.get(roomId)!;
    const original = r.messages.find((m) => m.epoch === undefined && m.seq === r.messages.length)!;
    // The same body again, under a new id and seq, pushed to bob as the relay would.
    const seq = r.messages.length + 1;
    r.messages.push({ seq, ts: 1, id: 'R'.repeat(22), body: original.body });
    const bobConn = ds.conns.filter((c) => !c.closed && c.rooms.get(roomId) === 'full').pop()!;
    bobConn.deliver({ t: 'msg', room: roomId, seq, ts: 1, id: 'R'.repeat(22), body: original.body });
    alice!.room.sendText('twice?');
    await until(() => bob!.messages.some((m) => m.text === 'twice?'), 'the next message');
    assert.equal(bob!.messages.filter((m) => m.text === 'once').length, 1);
  });
});
