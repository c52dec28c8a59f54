// The room sync (src/core/client/roomSync.ts) with the real opener and link over a scripted
// transport, against a relay that follows docs/protocol.md §1.4/§1.6 and one that does not:
// catch-up in seq order with live messages held, prefetched pages, the bounds of a catch-up
// (a flood of live messages, seqs outside since..head, pages over their limit or without
// progress), gap filling, the last seq saved, and a reconnect in the middle of a catch-up.
import { strict as assert } from 'node:assert';
import { RoomCipher, generateIdentity, generateMessageId, generateRoomKey, type Identity } from '../../src/core/crypto/index';
import { KnownKeys } from '../../src/core/keys/knownKeys';
import { MemoryStateStore } from '../../src/core/keys/stores';
import { RelayLink } from '../../src/core/client/link';
import { Opener } from '../../src/core/client/opener';
import { RecentIds } from '../../src/core/client/recentIds';
import { DEFAULT_TUNING } from '../../src/core/client/relayClient';
import type { RoomState } from '../../src/core/client/roomState';
import { LIVE_DURING_SYNC, LIVE_GAP_THRESHOLD, RoomSync } from '../../src/core/client/roomSync';
import { SeqSaver } from '../../src/core/client/seqSaver';
import { SeqTracker } from '../../src/core/client/seqTracker';
import { ShownWindow } from '../../src/core/client/shownWindow';
import type { ClientError, ClientTuning, SyncedEvent } from '../../src/core/client/types';
import { ScriptedNetwork, type ScriptedTransport, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

const key = generateRoomKey();
const cipher = new RoomCipher(key);
const alice = generateIdentity();

/** Stored message `seq` as the relay sends it, sealed by alice. */
function msg(seq: number, id = generateMessageId(), who: Identity = alice): Record<string, unknown> {
  return { t: 'msg', room: cipher.room, seq, ts: seq, id, body: cipher.seal({ id, ts: seq, name: 'alice', type: 'text', text: `m${seq}` }, who) };
}

function setup(opts: { lastSeq?: number; tuning?: Partial<ClientTuning> } = {}) {
  const net = new ScriptedNetwork();
  const tuning: ClientTuning = { ...DEFAULT_TUNING, reconnectBaseMs: 5, reconnectMaxMs: 10, lastSeqFlushMs: 10_000, ...opts.tuning };
  const last = opts.lastSeq ?? 0;
  const rs: RoomState = {
    room: cipher.room, name: 'r', cipher, seqs: new SeqTracker(last), savedSeq: last, seen: new RecentIds(1_000),
    shown: new ShownWindow(1_000), joined: false, head: 0, oldest: Infinity, more: false, lastTypingAt: 0, gapFilling: false,
  };
  const rooms = new Map([[rs.room, rs]]);
  const shown: string[] = [];
  const synced: SyncedEvent[] = [];
  const errors: ClientError[] = [];
  const saved: number[] = [];
  const log: string[] = [];
  const parts: { sync?: RoomSync } = {};
  const link = new RelayLink({ host: 'h', port: 1, agent: 'a', transport: net.factory, tuning }, {
    log: (e) => log.push(e), state: () => undefined, error: (e) => errors.push(e),
    welcomed: () => parts.sync!.join(rs),
    frame: (f) => {
      if (f.t === 'joined') parts.sync!.onJoined(f);
      else if (f.t === 'synced') parts.sync!.onSynced(f);
      else if (f.t === 'page') parts.sync!.onPage(f);
      else if (f.t === 'msg' && f.eph !== true) parts.sync!.onStored(rs, f.id, f.body, f.seq);
    },
    ignored: () => undefined,
    lost: () => parts.sync!.lost(), closed: () => undefined,
  });
  const opener = new Opener({ ownPublicKey: generateIdentity().publicKey, displayName: () => 'me', knownKeys: new KnownKeys(new MemoryStateStore()) }, {
    log: (e) => log.push(e), message: (m) => shown.push(`${m.seq} ${m.text}${m.history ? '' : ' live'}`),
    unverifiable: (u) => shown.push(`bad ${u.seq}`), typing: () => undefined, presence: () => undefined,
    counted: (r, seq) => parts.sync!.counted(r, seq),
  });
  const saver = new SeqSaver({ saveLastSeq: (_r, s) => saved.push(s), shownCapacity: 1_000, flushMs: tuning.lastSeqFlushMs, log: () => undefined }, rooms);
  const sync = new RoomSync(link, rooms, opener, tuning, saver, {
    log: (e) => log.push(e), synced: (e) => synced.push(e), error: (e) => errors.push(e), joined: () => undefined,
    refused: () => undefined, rateDelay: () => 0, presenceTag: (r) => r.cipher.sealPresence('me', alice),
  });
  parts.sync = sync;
  return { net, link, sync, rs, shown, synced, errors, saved, log, connect: (): ScriptedTransport => connect(link, net) };
}

function connect(link: RelayLink, net: ScriptedNetwork): ScriptedTransport {
  link.connect();
  net.last.open();
  net.last.frame(welcomeFrame());
  return net.last;
}

/** Welcomed on a new transport after the old one dropped. */
async function reconnect(net: ScriptedNetwork): Promise<ScriptedTransport> {
  const n = net.transports.length;
  await until('a reconnect', () => (net.transports.length > n ? true : undefined));
  net.last.open();
  net.last.frame(welcomeFrame());
  return net.last;
}

describe('client room sync (scripted transport)', () => {
  it('a fresh join asks for initialHistory, shows the catch-up in seq order, says synced and saves lastSeq', async () => {
    const s = setup({ tuning: { initialHistory: 5 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    assert.equal(join.since, 0);
    assert.equal(join.limit, 5);
    assert.equal(typeof join.proof, 'string');
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 3, sid: 's1' });
    for (const seq of [1, 2, 3]) t.frame(msg(seq));
    assert.deepEqual(s.shown, [], 'nothing is shown before synced');
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 3, from: 1 });
    assert.deepEqual(s.shown, ['1 m1', '2 m2', '3 m3']);
    assert.deepEqual(s.synced, [{ room: cipher.room, head: 3, lastSeq: 3, more: false }]);
    assert.deepEqual(s.saved, [3]);
    assert.equal(s.rs.joined, true);
    await s.link.disconnect();
  });

  it('resuming: prefetches the page below the catch-up, holds a live message while paging, then shows all in order', async () => {
    const s = setup({ lastSeq: 2, tuning: { joinLimit: 3 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    assert.equal(join.since, 2);
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
    for (const seq of [8, 9, 10]) t.frame(msg(seq));
    const page = t.of('history')[0]!;
    assert.deepEqual({ before: page.before, limit: page.limit }, { before: 8, limit: 5 }, 'asked on the first catch-up message');
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 10, from: 8 });
    t.frame(msg(11));
    for (const seq of [3, 4, 5, 6, 7]) t.frame(msg(seq));
    assert.deepEqual(s.shown, []);
    t.frame({ t: 'page', rid: page.rid, room: cipher.room, from: 3, to: 7, more: false });
    assert.deepEqual(s.shown, ['3 m3', '4 m4', '5 m5', '6 m6', '7 m7', '8 m8', '9 m9', '10 m10', '11 m11 live']);
    assert.equal(s.rs.seqs.last, 11);
    await s.link.disconnect();
  });

  it(`a flood of live messages during a catch-up (over ${LIVE_DURING_SYNC}) is a protocol error, and nothing of it is shown`, async () => {
    const s = setup({ lastSeq: 2, tuning: { joinLimit: 1 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
    t.frame(msg(10));
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 10, from: 10 });
    const body = msg(11).body;
    for (let i = 0; i <= LIVE_DURING_SYNC && !t.closed; i++) t.frame({ t: 'msg', room: cipher.room, seq: 11 + i, ts: 0, id: generateMessageId(), body });
    assert.equal(t.closed, true);
    assert.equal(s.errors[0]?.code, 'protocol_error');
    assert.deepEqual(s.shown, []);
    assert.equal(s.rs.sync, undefined, 'the catch-up is void with its connection');
    await s.link.disconnect();
  });

  for (const [what, seq] of [['at or below since', 2], ['above head', 11]] as const) {
    it(`a catch-up message ${what} is a protocol error`, async () => {
      const s = setup({ lastSeq: 2 });
      const t = s.connect();
      const join = t.of('join')[0]!;
      t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
      t.frame(msg(seq));
      assert.equal(t.closed, true);
      assert.equal(s.errors[0]?.code, 'protocol_error');
      await s.link.disconnect();
    });
  }

  it('a catch-up over the join\'s limit, and a history page over its own, are protocol errors', async () => {
    const s = setup({ lastSeq: 2, tuning: { joinLimit: 2 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
    for (const seq of [8, 9, 10]) t.frame(msg(seq));
    assert.equal(t.closed, true, 'three messages for a limit of 2');
    const t2 = await reconnect(s.net);
    const join2 = t2.of('join')[0]!;
    t2.frame({ t: 'joined', rid: join2.rid, room: cipher.room, head: 10, sid: 's2' });
    t2.frame(msg(9));
    t2.frame(msg(10));
    const page = t2.of('history')[0]!;
    assert.equal(page.limit, 6, 'the rest down to since');
    t2.frame({ t: 'synced', rid: join2.rid, room: cipher.room, head: 10, from: 9 });
    for (const seq of [3, 4, 5, 6, 7, 8]) t2.frame(msg(seq));
    assert.equal(t2.closed, false);
    t2.frame(msg(3));
    assert.equal(t2.closed, true, 'seven page messages for a limit of 6');
    assert.deepEqual(s.shown, []);
    await s.link.disconnect();
  });

  it('a page that says more remain but sent nothing stops the paging (logged), the catch-up is shown', async () => {
    const s = setup({ lastSeq: 2, tuning: { joinLimit: 1 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
    t.frame(msg(10));
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 10, from: 10 });
    const page = t.of('history')[0]!;
    t.frame({ t: 'page', rid: page.rid, room: cipher.room, from: 0, to: 0, more: true });
    assert.ok(s.log.includes('protocol_violation'));
    assert.equal(t.of('history').length, 1, 'not asked again');
    assert.deepEqual(s.shown, ['10 m10']);
    assert.equal(s.synced[0]?.more, false);
    await s.link.disconnect();
  });

  it(`asks for a hole in the live stream once more than ${LIVE_GAP_THRESHOLD} seqs wait above it, and closes it with the page`, async () => {
    const s = setup({ tuning: { initialHistory: 1 } });
    const t = s.connect();
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 0, sid: 's1' });
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 0, from: 0 });
    t.frame(msg(1));
    const body = msg(1).body;
    for (let seq = 3; seq <= 3 + LIVE_GAP_THRESHOLD; seq++) t.frame({ t: 'msg', room: cipher.room, seq, ts: 0, id: generateMessageId(), body });
    const gap = t.of('history');
    assert.equal(gap.length, 1);
    assert.deepEqual({ before: gap[0]!.before, limit: gap[0]!.limit }, { before: 3, limit: 1 });
    assert.equal(s.rs.seqs.last, 1);
    t.frame(msg(2));
    t.frame({ t: 'page', rid: gap[0]!.rid, room: cipher.room, from: 2, to: 2, more: false });
    assert.equal(s.rs.seqs.last, 3 + LIVE_GAP_THRESHOLD);
    await s.link.disconnect();
  });

  it('a reconnect in the middle of a catch-up joins again from the last seq shown; nothing is shown twice', async () => {
    const s = setup({ lastSeq: 2, tuning: { joinLimit: 3 } });
    const t = s.connect();
    const ids = new Map<number, string>();
    const m = (seq: number): Record<string, unknown> => {
      if (!ids.has(seq)) ids.set(seq, generateMessageId());
      return msg(seq, ids.get(seq));
    };
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 10, sid: 's1' });
    for (const seq of [8, 9]) t.frame(m(seq));
    t.end(new Error('reset'));
    assert.equal(s.rs.sync, undefined);
    assert.equal(s.rs.joined, false);
    const t2 = await reconnect(s.net);
    const join2 = t2.of('join')[0]!;
    assert.equal(join2.since, 2, 'nothing of the void catch-up counted');
    t2.frame({ t: 'joined', rid: join2.rid, room: cipher.room, head: 10, sid: 's2' });
    for (const seq of [8, 9, 10]) t2.frame(m(seq));
    t2.frame({ t: 'synced', rid: join2.rid, room: cipher.room, head: 10, from: 8 });
    const page = t2.of('history')[0]!;
    for (const seq of [3, 4, 5, 6, 7]) t2.frame(m(seq));
    t2.frame({ t: 'page', rid: page.rid, room: cipher.room, from: 3, to: 7, more: false });
    assert.deepEqual(s.shown.map((x) => Number(x.split(' ')[0])), [3, 4, 5, 6, 7, 8, 9, 10]);
    await s.link.disconnect();
  });

  it('a synced or joined for another rid (an earlier join) is ignored; since > head syncs again from 0', async () => {
    const s = setup({ lastSeq: 20 });
    const t = s.connect();
    const join = t.of('join')[0]!;
    t.frame({ t: 'joined', rid: 999, room: cipher.room, head: 5, sid: 'x' });
    assert.equal(s.rs.joined, false);
    t.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 5, sid: 's1' });
    assert.ok(s.log.includes('relay_behind'));
    for (const seq of [1, 2, 3, 4, 5]) t.frame(msg(seq));
    t.frame({ t: 'synced', rid: 999, room: cipher.room, head: 5, from: 1 });
    assert.deepEqual(s.shown, []);
    t.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 5, from: 1 });
    assert.equal(s.shown.length, 5);
    assert.equal(s.rs.seqs.last, 5);
    await s.link.disconnect();
  });
});
