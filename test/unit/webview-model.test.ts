// The chat panel's view model (webview/model.ts): grouping by sender, own-message states,
// unread marker and count, the bounded window, typing expiry.
import { strict as assert } from 'node:assert';
import type { ChatItem, PanelSnapshot } from '../../src/shared/messages';
import { WEBVIEW_LIMITS } from '../../src/shared/messages';
import {
  GROUP_GAP_MS, TYPING_SHOWN_MS, groupItems, initialState, newestSeq, reduce, unreadCount, unreadMarkerKey, type ViewState,
} from '../../webview/model';

const ROOM = 'R'.repeat(22);
const FP_A = 'AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA';
const FP_B = 'BBBB BBBB BBBB BBBB BBBB BBBB BBBB BBBB';
const T0 = 1_764_100_000_000;

function item(seq: number | undefined, over: Partial<ChatItem> = {}): ChatItem {
  const key = over.key ?? `k${seq ?? 'p'}${over.name ?? ''}`.padEnd(22, '0').slice(0, 22);
  const base: ChatItem = {
    key, kind: 'message', ts: T0 + (seq ?? 0) * 1000, name: 'alice', fingerprint: FP_A, shortFingerprint: 'AAAA AAAA',
    type: 'text', text: `m${seq ?? ''}`, own: false, state: 'received', keyChanged: false,
  };
  if (seq !== undefined) base.seq = seq;
  return { ...base, ...over, key };
}

function snapshot(items: ChatItem[], over: Partial<PanelSnapshot> = {}): PanelSnapshot {
  return {
    room: { room: ROOM, name: 'Team', relay: '127.0.0.1:7878' }, connection: 'connected', relay: '127.0.0.1:7878',
    items, hasOlder: false, presence: { online: 1, members: [] }, lastReadSeq: 0, selfName: 'me', ...over,
  };
}

function start(items: ChatItem[], over: Partial<PanelSnapshot> = {}): ViewState {
  return reduce(initialState(), { type: 'snapshot', snapshot: snapshot(items, over) });
}

describe('chat view model', () => {
  it('groups consecutive messages of one sender, and splits on sender, gap, key change and kind', () => {
    const items = [
      item(1), item(2), item(3, { name: 'bob', fingerprint: FP_B }),
      item(4, { name: 'bob', fingerprint: FP_B, ts: T0 + 4000 + GROUP_GAP_MS + 1 }),
      item(5, { name: 'bob', fingerprint: FP_B, ts: T0 + 4000 + GROUP_GAP_MS + 2, keyChanged: true }),
      item(6, { kind: 'unverifiable', name: '', fingerprint: '' }), item(7, { kind: 'unverifiable', name: '', fingerprint: '' }),
      item(8, { name: 'alice', fingerprint: FP_B }),
    ];
    const groups = groupItems(items);
    assert.deepEqual(groups.map((g) => g.items.map((x) => x.seq)), [[1, 2], [3], [4], [5], [6], [7], [8]]);
  });

  it('a name claimed with another key is another sender', () => {
    const groups = groupItems([item(1), item(2, { fingerprint: FP_B })]);
    assert.equal(groups.length, 2);
  });

  it('the unread marker starts a new group', () => {
    const groups = groupItems([item(1), item(2), item(3)], item(2).key);
    assert.deepEqual(groups.map((g) => g.items.length), [1, 2]);
  });

  it('tracks own messages from sending to sent (with their seq) or failed', () => {
    let s = start([item(1)]);
    const own = item(undefined, { key: 'own0000000000000000000', own: true, state: 'sending', name: 'me' });
    s = reduce(s, { type: 'item', room: ROOM, item: own });
    assert.equal(s.items.at(-1)?.state, 'sending');
    s = reduce(s, { type: 'item', room: ROOM, item: item(2) });
    assert.deepEqual(s.items.map((x) => x.seq ?? 'pending'), [1, 2, 'pending'], 'pending stays last');
    s = reduce(s, { type: 'item', room: ROOM, item: { ...own, state: 'sent', seq: 3 } });
    assert.deepEqual(s.items.map((x) => `${x.seq}:${x.state}`), ['1:received', '2:received', '3:sent']);
    const other = item(undefined, { key: 'own1111111111111111111', own: true, state: 'sending' });
    s = reduce(s, { type: 'item', room: ROOM, item: other });
    s = reduce(s, { type: 'item', room: ROOM, item: { ...other, state: 'failed', error: 'rate limited' } });
    assert.equal(s.items.at(-1)?.state, 'failed');
    assert.equal(s.items.at(-1)?.error, 'rate limited');
    assert.equal(s.items.length, 4, 'updates replace, never duplicate');
  });

  it('an item acked ahead of an earlier pending one moves before it', () => {
    const a = item(undefined, { key: 'a'.repeat(22), own: true, state: 'sending' });
    const b = item(undefined, { key: 'b'.repeat(22), own: true, state: 'sending' });
    let s = start([item(1)]);
    s = reduce(s, { type: 'item', room: ROOM, item: a });
    s = reduce(s, { type: 'item', room: ROOM, item: b });
    s = reduce(s, { type: 'item', room: ROOM, item: { ...b, seq: 2, state: 'sent' } });
    assert.deepEqual(s.items.map((x) => x.key[0]), ['k', 'b', 'a']);
  });

  it('ignores events of another room', () => {
    const s = start([item(1)]);
    assert.equal(reduce(s, { type: 'item', room: 'other', item: item(2) }), s);
    assert.equal(reduce(s, { type: 'presence', room: 'other', presence: { online: 9, members: [] } }), s);
  });

  it('places the unread marker before the first unread message of someone else and counts unread', () => {
    let s = start([item(1), item(2), item(3, { own: true, state: 'sent' }), item(4), item(5)], { lastReadSeq: 2 });
    assert.equal(unreadMarkerKey(s), item(4).key, 'own messages are never unread');
    assert.equal(unreadCount(s), 2);
    s = reduce(s, { type: 'read', seq: newestSeq(s) });
    assert.equal(unreadCount(s), 0);
    assert.equal(unreadMarkerKey(s), item(4).key, 'the marker stays where it was until the next snapshot');
    s = reduce(s, { type: 'read', seq: 1 });
    assert.equal(s.lastReadSeq, 5, 'reading never goes backwards');
  });

  it('keeps a bounded window: live messages push the oldest out, paging older pushes the newest out', () => {
    const max = WEBVIEW_LIMITS.windowSize;
    const many = Array.from({ length: max }, (_, i) => item(i + 1001));
    let s = start(many);
    assert.equal(s.items.length, max);
    s = reduce(s, { type: 'item', room: ROOM, item: item(1001 + max) });
    assert.equal(s.items.length, max);
    assert.equal(s.items[0]?.seq, 1002);
    assert.equal(s.hasOlder, true);
    const older = Array.from({ length: 100 }, (_, i) => item(i + 902));
    s = reduce(s, { type: 'older', items: older, hasOlder: true });
    assert.equal(s.items.length, max);
    assert.equal(s.items[0]?.seq, 902);
    assert.equal(s.hasNewer, true);
    // While cut at the newest end, live messages are counted, not shown.
    s = reduce(s, { type: 'item', room: ROOM, item: item(5000) });
    assert.equal(s.items.some((x) => x.seq === 5000), false);
    assert.equal(s.pendingNewer, 1);
    const newer = Array.from({ length: 101 }, (_, i) => item(i + 1502));
    s = reduce(s, { type: 'newer', items: newer, hasNewer: false });
    assert.equal(s.items.length, max);
    assert.equal(s.items.at(-1)?.seq, 1602);
    assert.equal(s.hasNewer, false);
    assert.equal(s.pendingNewer, 0);
  });

  it('drops duplicates when a page overlaps the window', () => {
    let s = start([item(3), item(4)], { hasOlder: true });
    s = reduce(s, { type: 'older', items: [item(1), item(2), item(3)], hasOlder: false });
    assert.deepEqual(s.items.map((x) => x.seq), [1, 2, 3, 4]);
    assert.equal(s.hasOlder, false);
  });

  it('a snapshot larger than the window keeps its newest items and knows older exist', () => {
    const s = start(Array.from({ length: WEBVIEW_LIMITS.windowSize + 5 }, (_, i) => item(i + 1)));
    assert.equal(s.items[0]?.seq, 6);
    assert.equal(s.hasOlder, true);
  });

  it('shows typing indicators until they expire or the typist sends', () => {
    let s = start([item(1)]);
    s = reduce(s, { type: 'typing', room: ROOM, name: 'bob', shortFingerprint: 'BBBB BBBB', now: 0 });
    s = reduce(s, { type: 'typing', room: ROOM, name: 'bob', shortFingerprint: 'BBBB BBBB', now: 10 });
    assert.equal(s.typing.length, 1, 'one entry per typist');
    assert.equal(reduce(s, { type: 'tick', now: TYPING_SHOWN_MS - 1 }).typing.length, 1);
    assert.equal(reduce(s, { type: 'tick', now: TYPING_SHOWN_MS + 11 }).typing.length, 0);
    const sent = reduce(s, { type: 'item', room: ROOM, item: item(2, { name: 'bob', fingerprint: FP_B, shortFingerprint: 'BBBB BBBB' }) });
    assert.equal(sent.typing.length, 0);
  });

  it('keeps a typist\'s "key changed" flag (issue 11: presence and typing show it as messages do)', () => {
    let s = start([item(1)]);
    s = reduce(s, { type: 'typing', room: ROOM, name: 'bob', shortFingerprint: 'DDDD DDDD', keyChanged: true, now: 0 });
    s = reduce(s, { type: 'typing', room: ROOM, name: 'carol', shortFingerprint: 'CCCC CCCC', now: 0 });
    assert.deepEqual(s.typing.map((t) => [t.name, t.keyChanged === true]), [['bob', true], ['carol', false]]);
  });

  it('follows the connection state', () => {
    const s = reduce(start([]), { type: 'connection', state: 'connecting', relay: 'h:1' });
    assert.equal(s.connection, 'connecting');
    assert.equal(s.relay, 'h:1');
  });

  it('an item seen as it arrives (reader at the live end) gets no unread marker (issue 11)', () => {
    let s = start([item(1), item(2)], { lastReadSeq: 2 });
    s = reduce(s, { type: 'item', room: ROOM, item: item(3), seen: true });
    assert.equal(unreadMarkerKey(s), undefined);
    // Not watching: the marker shows before it.
    s = reduce(s, { type: 'item', room: ROOM, item: item(4) });
    assert.equal(unreadMarkerKey(s), item(4).key);
    // Once a marker is there, a later seen item does not move it.
    s = reduce(s, { type: 'item', room: ROOM, item: item(5), seen: true });
    assert.equal(unreadMarkerKey(s), item(4).key);
  });

  it('"newest" replaces a window cut at the newest end with the tail at once', () => {
    const many = Array.from({ length: WEBVIEW_LIMITS.windowSize }, (_, i) => item(i + 1, { key: `w${i + 1}`.padEnd(22, '_') }));
    let s = start(many.slice(-10));
    s = reduce(s, { type: 'older', items: many.slice(0, -10), hasOlder: true });
    s = reduce(s, { type: 'older', items: [item(0, { key: 'z'.repeat(22) })], hasOlder: false });
    assert.equal(s.hasNewer, true);
    const tail = Array.from({ length: 60 }, (_, i) => item(10_000 + i, { key: `t${i}`.padEnd(22, '_') }));
    s = reduce(s, { type: 'newest', items: tail, hasOlder: true });
    assert.equal(s.hasNewer, false);
    assert.equal(s.pendingNewer, 0);
    assert.deepEqual(s.items.map((x) => x.seq), tail.map((x) => x.seq));
    assert.equal(s.hasOlder, true);
  });

  it('"refresh" swaps in fresh copies of the window and keeps its range and marker', () => {
    let s = start([item(1), item(2), item(3)], { lastReadSeq: 1 });
    const marker = unreadMarkerKey(s);
    s = reduce(s, { type: 'refresh', snapshot: snapshot([item(3)], { connection: 'connected', lastReadSeq: 2 }), items: [item(1), item(2, { identityVerified: true }), item(3)], hasOlder: false, hasNewer: true });
    assert.deepEqual(s.items.map((x) => x.seq), [1, 2, 3]);
    assert.equal(s.items[1]?.identityVerified, true);
    assert.equal(s.hasNewer, true);
    assert.equal(s.lastReadSeq, 2);
    assert.equal(unreadMarkerKey(s), marker);
  });
});
