// The client core's small parts, without a relay: backoff with full jitter, the contiguous
// seq tracker behind `since` (§1.4), the bounded replay set (§2.8), the outbox order (§1.5).
import { strict as assert } from 'node:assert';
import { Backoff } from '../../src/core/client/backoff';
import { SeqTracker } from '../../src/core/client/seqTracker';
import { RecentIds } from '../../src/core/client/recentIds';
import { Outbox, type OutboxEntry } from '../../src/core/client/outbox';

describe('client core parts', () => {
  it('Backoff: delays stay within a doubling ceiling, capped, and reset', () => {
    const b = new Backoff(100, 1_000);
    const ceilings: number[] = [];
    for (let i = 0; i < 8; i++) {
      const c = b.ceiling;
      ceilings.push(c);
      const d = b.next();
      assert.ok(Number.isInteger(d) && d >= 0 && d <= c, `${d} within [0, ${c}]`);
    }
    assert.deepEqual(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000]);
    b.reset();
    assert.equal(b.ceiling, 100);
  });

  it('Backoff: full jitter spreads delays over the whole range', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const b = new Backoff(1_000, 1_000);
      seen.add(Math.floor(b.next() / 100));
    }
    assert.ok(seen.size >= 8, `delays fall into ${seen.size} of 11 buckets`);
  });

  it('SeqTracker: advances only over a contiguous prefix', () => {
    const t = new SeqTracker(10);
    t.see(12);
    t.see(14);
    assert.equal(t.last, 10);
    assert.equal(t.firstAhead, 12);
    t.see(11);
    assert.equal(t.last, 12);
    t.see(13);
    assert.equal(t.last, 14);
    assert.equal(t.aheadCount, 0);
    t.see(5);
    assert.equal(t.last, 14);
    t.see(20);
    t.jumpTo(18);
    assert.equal(t.last, 18);
    t.see(19);
    assert.equal(t.last, 20);
  });

  it('RecentIds: remembers the newest ids up to its capacity', () => {
    const r = new RecentIds(3);
    assert.equal(r.add('a'), true);
    assert.equal(r.add('a'), false);
    r.add('b');
    r.add('c');
    r.add('d');
    assert.equal(r.size, 3);
    assert.equal(r.has('a'), false);
    assert.equal(r.has('d'), true);
  });

  it('Outbox: keeps send order, drops a left room, counts held entries apart', () => {
    const o = new Outbox();
    const entry = (room: string, id: string): OutboxEntry => ({
      room, id, body: 'b', state: 'sending', held: false,
      message: { room, id, ts: 0, name: 'n', fingerprint: 'f', shortFingerprint: 'f', type: 'text', verified: true, keyChanged: false, own: true, history: false },
    });
    o.add(entry('r1', 'x'));
    o.add(entry('r2', 'y'));
    o.add(entry('r1', 'z'));
    assert.deepEqual([...o.values()].map((e) => e.id), ['x', 'y', 'z']);
    o.hold(o.get('r2', 'y')!, true);
    assert.equal(o.sendable, 2);
    o.dropRoom('r1');
    assert.deepEqual([...o.values()].map((e) => e.id), ['y']);
    assert.equal(o.sendable, 0);
    o.hold(o.get('r2', 'y')!, false);
    assert.equal(o.sendable, 1);
    o.hold(o.get('r2', 'y')!, true);
    o.delete('r2', 'y');
    assert.equal(o.sendable, 0);
    assert.equal(o.size, 0);
  });
});
