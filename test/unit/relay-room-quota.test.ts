// RoomQuota (docs/protocol.md §1.7 `room_quota`): a room's budget of stored bytes per hour,
// all there at first, refilled continuously, shared by every connection of the room, with a
// map that cannot grow without bound.
import { strict as assert } from 'node:assert';
import { RoomQuota } from '../../src/relay/roomQuota';

describe('RoomQuota (§1.7 room_quota)', () => {
  it('takes bytes until the budget is spent, refuses without taking, refills with time', () => {
    const q = new RoomQuota(3_600_000); // 1 000 bytes a second
    assert.equal(q.take('r', 3_000_000, 0), true);
    assert.equal(q.take('r', 600_001, 0), false, 'over the budget');
    assert.equal(q.take('r', 600_000, 0), true, 'a refused take took nothing');
    assert.equal(q.take('r', 1, 0), false);
    assert.equal(q.waitFor('r', 5_000, 0), 5_000);
    assert.equal(q.take('r', 5_000, 4_999), false);
    assert.equal(q.take('r', 5_000, 5_000), true);
    // Never more than the budget, however long it waited.
    assert.equal(q.take('r', 3_600_001, 10 * 3_600_000), false);
    assert.equal(q.take('r', 3_600_000, 10 * 3_600_000), true);
  });

  it('rooms have budgets of their own; 0 lifts the bound', () => {
    const q = new RoomQuota(1_000);
    assert.equal(q.take('a', 1_000, 0), true);
    assert.equal(q.take('a', 1, 0), false);
    assert.equal(q.take('b', 1_000, 0), true);
    const free = new RoomQuota(0);
    assert.equal(free.take('a', Number.MAX_SAFE_INTEGER, 0), true);
    assert.equal(free.size, 0);
  });

  it('past maxRooms the refilled budgets are forgotten, then the others share one (the map stays bounded)', () => {
    const q = new RoomQuota(1_000, 3);
    for (const r of ['a', 'b', 'c']) assert.equal(q.take(r, 1_000, 0), true);
    // None refilled: d and e share the overflow budget.
    assert.equal(q.take('d', 600, 0), true);
    assert.equal(q.take('e', 600, 0), false);
    assert.ok(q.size <= 4);
    // An hour later every budget is full again: forgotten, and f gets one of its own.
    assert.equal(q.take('f', 1_000, 3_600_000), true);
    assert.ok(q.size <= 2, `entries: ${q.size}`);
  });
});
