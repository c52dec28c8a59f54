// The cluster adapter of the relay's rooms (src/relay/store/pg/clusterRooms.ts) on a real
// PostgreSQL: two relays (each a PgStore with its own connections, its own Room objects and its
// own members) serving one room. Every member on either relay receives every message once and in
// seq order, except the sender, who is the message's origin; a member that enters is positioned
// at the head its `joined` would announce; presence frames list the members of both relays and
// follow joins and leaves; the frame keeps the §1.4 bounds (256 entries, maxFrame).
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { postgresPerTest } from '../helpers/postgres';
import { PgStore } from '../../src/relay/store/pg/pgStore';
import { ClusterRooms, type ClusterSink } from '../../src/relay/store/pg/clusterRooms';
import { encodeEphemeralMsg, encodePresence, encodeStoredMsg } from '../../src/core/wire/relayFrames';
import type { RoomPresence } from '../../src/relay/store/pg/types';
import { Room, type Member, type RoomPeer } from '../../src/relay/room';
import { until } from '../helpers/until';

const key = (): string => randomBytes(16).toString('base64url');
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

type Frame = Record<string, unknown> & { t: string };

/** A member's connection as the room sees it: the frames written to it, parsed. */
class Peer implements RoomPeer {
  readonly frames: Frame[] = [];
  readonly outputLimit = 8 * 1024 * 1024;
  aborted: string | undefined;
  write(data: string | Buffer): void {
    for (const line of data.toString().split('\n')) if (line !== '') this.frames.push(JSON.parse(line) as Frame);
  }
  abort(reason: string): void {
    this.aborted = reason;
  }
  seqs(room: string): number[] {
    return this.frames.filter((f) => f.t === 'msg' && f.room === room).map((f) => f.seq as number);
  }
  lastPresence(room: string): Frame | undefined {
    return this.frames.filter((f) => f.t === 'presence' && f.room === room).at(-1);
  }
}

/** One relay: its store, its rooms, the adapter, and the sink as the relay's protocol layer is. */
class Relay implements ClusterSink {
  readonly rooms = new Map<string, Room>();
  readonly cluster: ClusterRooms;
  constructor(readonly store: PgStore<RoomPeer>) {
    this.cluster = new ClusterRooms(store, { log: () => undefined });
    this.cluster.attach(this);
  }

  publish(roomId: string, seq: number, ts: number, id: string, body: string, origin: RoomPeer | undefined): void {
    this.rooms.get(roomId)?.fanOut(Buffer.from(encodeStoredMsg(roomId, seq, ts, id, body)), origin, seq);
  }

  publishEphemeral(roomId: string, id: string, body: string, origin?: RoomPeer): void {
    this.rooms.get(roomId)?.fanOut(Buffer.from(encodeEphemeralMsg(roomId, id, body)), origin);
  }

  presence(roomId: string, presence: RoomPresence): void {
    this.rooms.get(roomId)?.fanOut(Buffer.from(encodePresence(roomId, presence.online, presence.members, 65_536)), undefined);
  }

  hasMembers(roomId: string): boolean {
    return (this.rooms.get(roomId)?.size ?? 0) > 0;
  }

  /** §3.6 private rooms: this suite keeps to link rooms (pg-private-cluster covers rekey). */
  rekey(): void {
    throw new Error('no private room in this suite');
  }

  /** What the relay does with an ephemeral send: its own members now, the others through the store. */
  ephemeral(roomId: string, id: string, body: string, origin: RoomPeer): void {
    this.publishEphemeral(roomId, id, body, origin);
    this.cluster.ephemeral(roomId, id, body);
  }

  /** What the relay does on a join: enter the room, then register the member in one step. */
  async join(roomId: string, peer: Peer, tag?: string): Promise<{ member: Member; head: number }> {
    await this.cluster.enter(roomId);
    let room = this.rooms.get(roomId);
    if (room === undefined) this.rooms.set(roomId, (room = new Room(roomId)));
    const { member } = room.add(peer);
    member.tag = tag;
    const head = this.cluster.head(roomId);
    this.cluster.present(roomId, member.sid, tag);
    return { member, head };
  }

  leave(roomId: string, peer: Peer): void {
    const room = this.rooms.get(roomId);
    const member = room?.members.get(peer);
    if (room === undefined || member === undefined) return;
    room.remove(peer);
    if (room.size === 0) this.rooms.delete(roomId);
    this.cluster.exit(roomId, member.sid);
  }
}

describe('PostgreSQL cluster rooms (the relay adapter)', function () {
  this.timeout(90_000);
  const postgres = postgresPerTest();

  const open = async (): Promise<Relay> => {
    const relay = new Relay(new PgStore<RoomPeer>({ url: postgres.url, retain: 10_000, pollMs: 200, presenceTtlMs: 2_000 }));
    postgres.closeAfter(relay, (r) => r.cluster.close());
    await relay.cluster.open();
    return relay;
  };

  it('fans out what either relay stores to every member once, in seq order, the sender excepted', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    const [a1, a2, b1] = [new Peer(), new Peer(), new Peer()];
    await a.join(room, a1);
    await a.join(room, a2);
    await b.join(room, b1);
    const sentBy = new Map<number, Peer>();
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 300; i++) {
      const [relay, peer] = i % 3 === 0 ? [a, a1] : i % 3 === 1 ? [a, a2] : [b, b1];
      sends.push(relay.cluster.append(room, key(), `body${i}`, peer).then((r) => {
        assert.equal(r.duplicate, false);
        sentBy.set(r.seq, peer);
      }));
    }
    await Promise.all(sends);
    for (const peer of [a1, a2, b1]) {
      const expected = oneTo(300).filter((s) => sentBy.get(s) !== peer);
      await until('every message but its own', () => (peer.seqs(room).length >= expected.length ? true : undefined));
      assert.deepEqual(peer.seqs(room), expected, 'in seq order, once each, none of its own');
    }
    // A duplicate on the other relay is answered with the original seq and reaches no one again.
    const id = key();
    const first = await a.cluster.append(room, id, 'x', a1);
    const again = await b.cluster.append(room, id, 'x', b1);
    assert.deepEqual([again.seq, again.duplicate], [first.seq, true]);
    await until('the first copy at b1', () => (b1.seqs(room).includes(first.seq) ? true : undefined));
    await a.cluster.append(room, key(), 'after', a1);
    await until('the next message at b1', () => (b1.seqs(room).includes(first.seq + 1) ? true : undefined));
    assert.equal(b1.seqs(room).filter((s) => s === first.seq).length, 1, 'the duplicate was not fanned out');
  });

  it('gives a message stored by one relay to the sender of its duplicate on the other, which was still waiting for its answer', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    const [pa, pb, watcher] = [new Peer(), new Peer(), new Peer()];
    await a.join(room, pa);
    await b.join(room, pb);
    await b.join(room, watcher);
    await a.cluster.append(room, key(), 'the room exists', pa);
    // Both relays' appends of each id wait behind one lock on the room's row, then one stores it
    // and the other finds the copy: its own append is still unanswered when its feed reads the row.
    const results: Array<{ seq: number; dupAt: Peer; storedBy: Peer }> = [];
    for (let i = 0; i < 10; i++) {
      const id = key();
      const locker = new Client({ connectionString: postgres.url });
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM smc_rooms WHERE room = $1 FOR UPDATE', [room]);
      const both = Promise.all([a.cluster.append(room, id, 'same', pa), b.cluster.append(room, id, 'same', pb)]);
      await new Promise((r) => setTimeout(r, 30));
      await locker.query('COMMIT');
      await locker.end();
      const [ra, rb] = await both;
      assert.equal(ra.seq, rb.seq);
      assert.equal(ra.duplicate !== rb.duplicate, true, 'one stored it, the other found it');
      results.push(ra.duplicate ? { seq: ra.seq, dupAt: pa, storedBy: pb } : { seq: rb.seq, dupAt: pb, storedBy: pa });
    }
    const lastSeq = (results.at(-1) as { seq: number }).seq;
    await until('every seq at the watcher', () => (watcher.seqs(room).includes(lastSeq) ? true : undefined));
    for (const r of results) {
      await until(`seq ${r.seq} at the duplicate's sender`, () => (r.dupAt.seqs(room).includes(r.seq) ? true : undefined));
      assert.ok(!r.storedBy.seqs(room).includes(r.seq), 'the sender of the stored copy gets the ack only');
    }
    for (const p of [pa, pb, watcher]) assert.deepEqual(p.seqs(room), [...new Set(p.seqs(room))].sort((x, y) => x - y), 'in order, once');
  });

  it('positions an entering member at the head: older messages are the catch-up\'s, newer come live', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    for (let i = 0; i < 5; i++) await a.cluster.append(room, key(), 'old', new Peer());
    const late = new Peer();
    const { head } = await b.join(room, late);
    assert.equal(head, 5);
    assert.equal(await b.cluster.log.oldest(room), 1);
    assert.deepEqual((await b.cluster.log.range(room, 0, head + 1, 100)).map((m) => m.seq), oneTo(5));
    await a.cluster.append(room, key(), 'new', new Peer());
    await until('seq 6 live', () => (late.seqs(room).length > 0 ? true : undefined));
    assert.deepEqual(late.seqs(room), [6]);
    assert.equal(b.cluster.log.head(room), 6);
  });

  it('lists the members of both relays in presence, and follows joins and leaves', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    const [pa, pb] = [new Peer(), new Peer()];
    const { member: ma } = await a.join(room, pa, 'tagA');
    const { member: mb } = await b.join(room, pb, 'tagB');
    const both = (f: Frame | undefined): boolean => f?.online === 2 && (f.members as unknown[]).length === 2;
    await until('both members listed at a', () => (both(pa.lastPresence(room)) ? true : undefined));
    await until('both members listed at b', () => (both(pb.lastPresence(room)) ? true : undefined));
    const listed = (pa.lastPresence(room)?.members as Array<{ sid: string; tag?: string }>).map((m) => `${m.sid}:${m.tag}`).sort();
    assert.deepEqual(listed, [`${ma.sid}:tagA`, `${mb.sid}:tagB`].sort());
    b.leave(room, pb);
    await until('a sees b leave', () => (pa.lastPresence(room)?.online === 1 ? true : undefined));
    assert.deepEqual(pa.lastPresence(room)?.members, [{ sid: ma.sid, tag: 'tagA' }]);
  });

  it('passes ephemeral messages to the other relay\'s members, once, and never back to the sender', async () => {
    const [a, b] = [await open(), await open()];
    const room = key();
    const [sender, sameRelay, otherRelay] = [new Peer(), new Peer(), new Peer()];
    await a.join(room, sender);
    await a.join(room, sameRelay);
    await b.join(room, otherRelay);
    const ephs = (p: Peer): Frame[] => p.frames.filter((f) => f.t === 'msg' && f.eph === true);
    const id = key();
    a.ephemeral(room, id, 'typing', sender);
    await until('the ephemeral on the other relay', () => (ephs(otherRelay).length > 0 ? true : undefined));
    assert.deepEqual(ephs(otherRelay), [{ t: 'msg', room, id, body: 'typing', eph: true }]);
    // A body too long for a NOTIFY reaches this relay's members only; then a short one again.
    a.ephemeral(room, key(), 'A'.repeat(9_000), sender);
    const last = key();
    a.ephemeral(room, last, 'short', sender);
    await until('the next ephemeral', () => (ephs(otherRelay).some((f) => f.id === last) ? true : undefined));
    assert.equal(ephs(otherRelay).length, 2, 'the long one was not passed on');
    assert.equal(ephs(sameRelay).length, 3, 'every one, delivered here once (the NOTIFY is not delivered twice)');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ephs(sameRelay).length, 3);
    assert.equal(ephs(sender).length, 0, 'the sender gets none of its own');
    assert.ok(a.store.stats().ephemeralDropped >= 1);
  });
});
