// The client's pacing bucket (src/core/client/tokenBucket.ts, docs/protocol.md §1.7): `burst`
// at once, then `rate` a second; several tokens at once for a message in parts; rate 0 paces
// nothing. A clock the test moves, no timers.
import { strict as assert } from 'node:assert';
import { TokenBucket } from '../../src/core/client/tokenBucket';

describe('TokenBucket (client pacing, docs/protocol.md §1.7)', () => {
  it('gives burst tokens at once, then rate per second, and says how long until the next', () => {
    let now = 1_000;
    const b = new TokenBucket(80, 100, () => now);
    for (let i = 0; i < 100; i++) assert.ok(b.take(), `token ${i}`);
    assert.equal(b.take(), false);
    assert.equal(b.waitMs(), 13); // 1/80 s, rounded up
    now += 12;
    assert.equal(b.take(), false);
    now += 1;
    assert.ok(b.take());
    // Never more than the burst, however long it waited.
    now += 3_600_000;
    for (let i = 0; i < 100; i++) assert.ok(b.take());
    assert.equal(b.take(), false);
  });

  it('takes n tokens at once; more than the burst go once it is full, and the debt holds back what follows', () => {
    let now = 0;
    const b = new TokenBucket(10, 5, () => now);
    assert.ok(b.take(3));
    assert.equal(b.take(3), false);
    assert.equal(b.waitMs(3), 100);
    now += 100;
    assert.ok(b.take(3));
    now += 500;
    assert.ok(b.take(8), 'a full bucket lets 8 go (more than its burst)');
    assert.equal(b.waitMs(), 400, 'three tokens owed, then one');
  });

  it('rate 0 paces nothing', () => {
    const b = new TokenBucket(0, 1, () => 0);
    for (let i = 0; i < 1_000; i++) assert.ok(b.take());
    assert.equal(b.waitMs(), 0);
  });
});
