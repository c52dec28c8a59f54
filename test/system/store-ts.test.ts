// A message's `ts` never goes below its predecessor's (docs/protocol.md §1.4, §1.5: `ts` is the
// relay's clock when the message was stored, and seq order is time order). The wall clock can
// step back (NTP, a VM restored, a relay moved to another machine with the same data); the
// store then keeps the newest ts it wrote instead, across appends and across a reopen of the
// directory, whether the reopen loads the index checkpoint or scans the log.

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/relay/store/fileStore';
import { CHECKPOINT_FILE } from '../../src/relay/store/checkpoint';

const newId = (): string => randomBytes(16).toString('base64url');

describe('FileStore: ts is monotonic in seq when the clock steps back', function () {
  this.timeout(30_000);
  let dir: string;
  let clockMs: number;
  const open: FileStore[] = [];

  const openStore = async (): Promise<FileStore> => {
    const store = new FileStore({ dir, retain: 1000, clock: () => clockMs });
    await store.open();
    open.push(store);
    return store;
  };
  const closeAll = async (): Promise<void> => { for (const s of open.splice(0)) await s.close(); };

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'smc-store-ts-')); clockMs = 1_900_000_000_000; });
  afterEach(async () => { await closeAll(); rmSync(dir, { recursive: true, force: true }); });

  it('within one process: a later batch never gets an earlier ts', async () => {
    const store = await openStore();
    const room = newId();
    const first = await store.append(room, newId(), 'a');
    clockMs -= 60_000;
    const second = await store.append(room, newId(), 'b');
    assert.equal(second.seq, first.seq + 1);
    assert.ok(second.ts >= first.ts, `seq ${second.seq} has ts ${second.ts} < ${first.ts} of seq ${first.seq}`);
    clockMs += 120_000;
    const third = await store.append(room, newId(), 'c');
    assert.equal(third.ts, clockMs, 'once the clock is past the newest ts, ts is the clock again');
  });

  for (const how of ['checkpoint', 'scan'] as const) {
    it(`after a reopen that ${how === 'checkpoint' ? 'loads the checkpoint' : 'scans the log'}, in every room`, async () => {
      let store = await openStore();
      const rooms = [newId(), newId(), newId()];
      let newest = 0;
      for (let i = 0; i < 30; i++) newest = Math.max(newest, (await store.append(rooms[i % 3] as string, newId(), `m${i}`)).ts);
      await closeAll();
      if (how === 'scan') rmSync(join(dir, CHECKPOINT_FILE), { force: true });
      clockMs -= 3_600_000;
      store = await openStore();
      for (const room of [...rooms, newId()]) {
        const r = await store.append(room, newId(), 'after the clock stepped back');
        assert.ok(r.ts >= newest, `room ${room}: ts ${r.ts} is below the newest stored ts ${newest}`);
      }
      const all = await store.range(rooms[0] as string, 0, Number.MAX_SAFE_INTEGER, 1000);
      for (let i = 1; i < all.length; i++) {
        assert.ok((all[i] as { ts: number }).ts >= (all[i - 1] as { ts: number }).ts, `seq ${all[i]?.seq} went back in time`);
      }
    });
  }
});
