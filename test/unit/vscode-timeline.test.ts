// The host's copy of a room's timeline (src/vscode/timeline.ts), which the panel pages through.
import { strict as assert } from 'node:assert';
import type { ChatMessage } from '../../src/core/client/types';
import { MAX_TIMELINE_ITEMS, Timeline, itemFromMessage } from '../../src/vscode/timeline';

const ROOM = 'R'.repeat(22);
function msg(seq: number | undefined, id: string, own = false): ChatMessage {
  const m: ChatMessage = {
    room: ROOM, ts: 1000 + (seq ?? 0), id, name: 'alice', fingerprint: 'AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA',
    shortFingerprint: 'AAAA AAAA', type: 'text', text: `t${id}`, verified: true, keyChanged: false, own, history: false,
  };
  if (seq !== undefined) m.seq = seq;
  return m;
}
const id = (n: number): string => `id${n}`.padEnd(22, '_');

describe('host timeline', () => {
  it('keeps seq order whatever the arrival order, and says where an item went', () => {
    const t = new Timeline();
    assert.equal(t.add(itemFromMessage(msg(5, id(5)), 'received')), 'appended');
    assert.equal(t.add(itemFromMessage(msg(7, id(7)), 'received')), 'appended');
    assert.equal(t.add(itemFromMessage(msg(6, id(6)), 'received')), 'inserted');
    assert.equal(t.add(itemFromMessage(msg(1, id(1)), 'received')), 'inserted');
    assert.equal(t.add(itemFromMessage(msg(6, id(6)), 'received')), 'updated', 'a replay is not shown twice');
    assert.deepEqual(t.tail(10).map((x) => x.seq), [1, 5, 6, 7]);
  });

  it('own messages wait at the end until acked, then take their place', () => {
    const t = new Timeline();
    t.add(itemFromMessage(msg(1, id(1)), 'received'));
    t.add(itemFromMessage(msg(undefined, id(100), true), 'sending'));
    t.add(itemFromMessage(msg(2, id(2)), 'received'));
    assert.deepEqual(t.tail(10).map((x) => x.key), [id(1), id(2), id(100)]);
    const acked = t.applyOutgoing({ room: ROOM, id: id(100), state: 'sent', seq: 3 });
    assert.equal(acked?.state, 'sent');
    assert.equal(acked?.seq, 3);
    const failed = t.applyOutgoing({ room: ROOM, id: id(100), state: 'failed', error: 'x' });
    assert.equal(failed?.error, 'x');
    assert.equal(t.applyOutgoing({ room: ROOM, id: id(999), state: 'sent' }), undefined);
    assert.equal(t.size, 3);
  });

  it('a received copy does not downgrade the state of an own message', () => {
    const t = new Timeline();
    t.add(itemFromMessage(msg(1, id(1), true), 'sent'));
    t.add({ ...itemFromMessage(msg(1, id(1), false), 'received') });
    assert.equal(t.get(id(1))?.state, 'sent');
  });

  it('pages older and newer around a key', () => {
    const t = new Timeline();
    for (let i = 1; i <= 250; i++) t.add(itemFromMessage(msg(i, id(i)), 'received'));
    const older = t.olderThan(id(150), 100);
    assert.deepEqual([older.items[0]?.seq, older.items.at(-1)?.seq, older.hasOlder], [50, 149, true]);
    const oldest = t.olderThan(id(50), 100);
    assert.deepEqual([oldest.items.length, oldest.hasOlder], [49, false]);
    t.relayHasOlder = true;
    assert.equal(t.olderThan(id(50), 100).hasOlder, true, 'the relay may hold more');
    const newer = t.newerThan(id(100), 100);
    assert.deepEqual([newer.items[0]?.seq, newer.items.at(-1)?.seq, newer.hasNewer], [101, 200, true]);
    assert.equal(t.newerThan(id(200), 100).hasNewer, false);
  });

  it('counts unread messages of others after a seq', () => {
    const t = new Timeline();
    for (let i = 1; i <= 10; i++) t.add(itemFromMessage(msg(i, id(i), i % 2 === 0), i % 2 === 0 ? 'sent' : 'received'));
    assert.equal(t.countUnreadAfter(4), 3);
    assert.equal(t.countUnreadAfter(10), 0);
  });

  it('records unverifiable messages once, without content', () => {
    const t = new Timeline();
    assert.equal(t.addUnverifiable({ room: ROOM, seq: 3, id: id(3) }, 5), 'appended');
    assert.equal(t.addUnverifiable({ room: ROOM, seq: 3, id: id(3) }, 5), 'ignored');
    const x = t.get(id(3));
    assert.equal(x?.kind, 'unverifiable');
    assert.equal(x?.text, undefined);
  });

  it('stays bounded', () => {
    const t = new Timeline();
    for (let i = 1; i <= MAX_TIMELINE_ITEMS + 10; i++) t.add(itemFromMessage(msg(i, id(i)), 'received'));
    assert.equal(t.size, MAX_TIMELINE_ITEMS);
    assert.equal(t.oldestSeq(), 11);
    assert.equal(t.relayHasOlder, true);
  });

  it('gives a range from a key on, inclusive, and undefined for an unknown key', () => {
    const t = new Timeline();
    for (let n = 1; n <= 10; n++) t.add(itemFromMessage(msg(n, id(n)), 'received'));
    const r = t.range(id(3), 4);
    assert.deepEqual(r?.items.map((x) => x.seq), [3, 4, 5, 6]);
    assert.equal(r?.hasOlder, true);
    assert.equal(r?.hasNewer, true);
    const end = t.range(id(8), 50);
    assert.deepEqual(end?.items.map((x) => x.seq), [8, 9, 10]);
    assert.equal(end?.hasNewer, false);
    assert.equal(t.range(id(99), 5), undefined);
  });

  it('marks an own message that failed only because the relay was unreachable as waiting, until it is sent', () => {
    const t = new Timeline();
    t.add(itemFromMessage(msg(undefined, id(100), true), 'sending'));
    assert.equal(t.applyOutgoing({ room: ROOM, id: id(100), state: 'failed', error: 'x' }, true)?.waiting, true);
    assert.equal(t.applyOutgoing({ room: ROOM, id: id(100), state: 'sending' })?.waiting, undefined);
    assert.equal(t.applyOutgoing({ room: ROOM, id: id(100), state: 'failed', error: 'refused' }, false)?.waiting, undefined);
    assert.equal(t.applyOutgoing({ room: ROOM, id: id(100), state: 'sent', seq: 4 }, true)?.waiting, undefined, 'only a failure waits');
    t.applyOutgoing({ room: ROOM, id: id(100), state: 'failed', error: 'x' }, true);
    // The relay's copy of the own message (on rejoin) arrives before or instead of the ack.
    t.add(itemFromMessage(msg(4, id(100), true), 'sent'));
    assert.equal(t.get(id(100))?.waiting, undefined, 'a stored message still shown as waiting');
  });
});
