// The private room's outbox and its saves (src/core/private/privateRoom.ts, docs/protocol.md §3.3,
// §3.8), over the in-memory Delivery Service (test/helpers/privateDs.ts): a burst of messages is
// sealed behind one save of the MLS state, and none leaves before that save; own messages the
// history holds without an ack go out again after a restart, under their id in the epoch they
// were written in and under a new one (the old marked gone) after it.
import { strict as assert } from 'node:assert';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, newPrivateRoom, type PrivateMeta } from '../../src/core/private';
import type { MlsGroup } from '../../src/core/mls';
import type { TransportFactory } from '../../src/core/client/types';
import { PrivateDs } from '../helpers/privateDs';
import { untilTrue } from '../helpers/until';

/** Waits until `cond` holds, 20 s at most (test/helpers/until.ts). */
const until = (cond: () => boolean, what: string, ms = 20_000): Promise<void> => untilTrue(cond, what, ms);

interface Setup {
  ds: PrivateDs;
  id: Identity;
  roomId: string;
  group: MlsGroup;
  meta: PrivateMeta;
  log: MemoryHistoryLog;
  history: HistoryStore;
  /** Every frame the client wrote, with the number of saves completed at that moment. */
  writes: { t: string; id?: string; saves: number }[];
  saves: () => number;
  /** While true, every save fails as on a full disk (ENOSPC). */
  disk: { full: boolean };
  open(): PrivateRoom;
}

async function setup(): Promise<Setup> {
  const ds = new PrivateDs();
  const id = generateIdentity();
  const created = await newPrivateRoom(id);
  const log = new MemoryHistoryLog();
  const history = new HistoryStore(created.room, Buffer.alloc(32, 3), log);
  const writes: Setup['writes'] = [];
  let saves = 0;
  const disk = { full: false };
  const factory: TransportFactory = (host, port) => {
    const t = ds.factory(host, port);
    const write = t.write.bind(t);
    t.write = (line: string): void => {
      const f = JSON.parse(line) as { t: string; id?: string };
      writes.push({ t: f.t, ...(f.id !== undefined ? { id: f.id } : {}), saves });
      write(line);
    };
    return t;
  };
  const s: Setup = {
    ds, id, roomId: created.room, group: created.group, meta: created.meta, log, history, writes, saves: () => saves, disk,
    open: () => new PrivateRoom({
      room: created.room, name: 'team', host: '127.0.0.1', port: 7878, agent: 'test', transport: factory, identity: id, displayName: 'alice',
      group: created.group, meta: created.meta, history,
      // A slow disk: a send that did not wait for the save would overtake it.
      save: async () => {
        await new Promise((resolve) => setTimeout(resolve, 15));
        if (disk.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        saves++;
      },
      tuning: { reconnectBaseMs: 10, reconnectMaxMs: 50, saveRetryMs: 50 },
    }),
  };
  return s;
}

async function synced(room: PrivateRoom): Promise<void> {
  await new Promise<void>((resolve) => {
    room.once('synced', () => resolve());
    room.connect();
  });
}

describe('private room outbox and saves (docs/protocol.md §3.3, §3.8)', function () {
  this.timeout(60_000);

  it('100 messages written at once are sealed behind one save, and none is sent before it', async () => {
    const s = await setup();
    const room = s.open();
    await synced(room);
    const before = s.saves();
    const ids = Array.from({ length: 100 }, (_, i) => room.sendText(`m${i}`).id);
    await room.drain();
    const sends = s.writes.filter((w) => w.t === 'send' && w.id !== undefined && ids.includes(w.id));
    assert.equal(sends.length, 100);
    for (const w of sends) assert.ok(w.saves > before, 'a message left before the state that sealed it was saved');
    assert.ok(s.saves() - before <= 3, `saves for the burst: ${s.saves() - before}`);
    // Each is in the history with its ack (the outbox is empty after a restart).
    const stored = await s.history.load();
    assert.deepEqual(stored.records.filter((r) => ids.includes(r.id) && r.seq > 0).length, 100);
    await room.disconnect();
  });

  it('a full disk: a message sealed under a state that could not be saved does not leave until a save succeeds (§3.8)', async () => {
    // The same rule as test/system/private-attacks.test.ts's full-disk case, without a tmpfs.
    const s = await setup();
    const room = s.open();
    const errors: string[] = [];
    room.on('error', (e) => errors.push(e.message));
    await synced(room);
    s.disk.full = true;
    const m1 = room.sendText('written on a full disk').id;
    await until(() => errors.some((m) => m.includes('ENOSPC')), 'the failed save reported');
    // It is tried again by itself (not only when something else happens in the room), and no
    // later pass over the outbox sends it while the save fails.
    const retriesBefore = errors.length;
    await until(() => errors.length >= retriesBefore + 2, 'two more failed retries');
    assert.ok(!s.writes.some((w) => w.t === 'send' && w.id === m1), 'm1 left while its state could not be saved');
    const savesBefore = s.saves();
    s.disk.full = false;
    await until(() => s.writes.some((w) => w.t === 'send' && w.id === m1), 'm1 sent once the disk has room');
    const sent = s.writes.find((w) => w.t === 'send' && w.id === m1)!;
    assert.ok(sent.saves > savesBefore, 'm1 left before the save that covers it');
    await room.drain();
    await room.disconnect();
  });

  it('after a restart, own messages without an ack go again: under their id in the epoch they were written in, under a new id after (the old one gone)', async () => {
    const s = await setup();
    const self = s.id.publicKey.toString('hex');
    const payload = (id: string, text: string): string => JSON.stringify({ id, ts: 1, name: 'alice', type: 'text', text });
    const same = 'S'.repeat(22);
    await s.history.append({ seq: 0, ts: 1, id: same, epoch: 0, sender: self, p: payload(same, 'written in epoch 0') });
    const room = s.open();
    room.restorePending((await s.history.load()).records);
    assert.equal(room.pendingCount, 1);
    await synced(room);
    await room.drain();
    assert.ok(s.writes.some((w) => w.t === 'send' && w.id === same), 'sent again under its id');
    // The group moves on (an update); a message recorded in epoch 0 and never acked goes under a new id.
    room.update();
    await until(() => room.epoch === 1 && !room.committing, 'epoch 1');
    await room.disconnect();
    const old = 'O'.repeat(22);
    await s.history.append({ seq: 0, ts: 2, id: old, epoch: 0, sender: self, p: payload(old, 'written in epoch 0, sent in 1') });
    const again = s.open();
    again.restorePending((await s.history.load()).records);
    await synced(again);
    await again.drain();
    assert.ok(!s.writes.some((w) => w.t === 'send' && w.id === old), 'not under the old id');
    const r = s.ds.rooms.get(s.roomId)!;
    assert.equal(r.messages.filter((m) => m.id === same).length, 1);
    const loaded = await s.history.load();
    assert.ok(!loaded.records.some((x) => x.id === old), 'the old id is gone from the history');
    const fresh = loaded.records.filter((x) => x.p.includes('written in epoch 0, sent in 1'));
    assert.equal(fresh.length, 1);
    assert.ok(fresh[0]!.seq > 0 && fresh[0]!.id !== old, JSON.stringify(fresh));
    assert.equal(again.pendingCount, 0);
    await again.disconnect();
  });
});
