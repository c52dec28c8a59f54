// ShownWindow (issue 7 §2.1): the ids shown per room that survive a restart, bounded and
// compact; its record through a real state.json (FileStateStore); a damaged record loses only
// the protection, never the file. And formatMessageTime: the date is shown when not today.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateMessageId } from '../../src/core/crypto/index';
import { KEY_CHARS, ShownWindow } from '../../src/core/client/shownWindow';
import { ShownIdsState, SHOWN_IDS_STATE_PREFIX } from '../../src/core/keys/index';
import { FileStateStore } from '../../src/node/fileStores';
import { formatMessageTime } from '../../src/shared/messageTime';

describe('ShownWindow (ids shown, across restarts)', () => {
  it('remembers each id with its seq and the highest seq, and survives its own record', () => {
    const w = new ShownWindow(100);
    const ids = Array.from({ length: 10 }, () => generateMessageId());
    ids.forEach((id, i) => w.record(id, i + 1));
    w.record(generateMessageId(), 40);
    const { window: back, damaged } = ShownWindow.fromRecord(100, JSON.parse(JSON.stringify(w.toRecord())));
    assert.equal(damaged, undefined);
    assert.equal(back.top, 40);
    ids.forEach((id, i) => assert.equal(back.seqOf(id), i + 1));
    assert.equal(back.seqOf(generateMessageId()), undefined);
    assert.equal(w.toRecord().seqs, '1-10,40');
  });

  it('keeps the newest `capacity` by seq, whatever the arrival order, and stays bounded', () => {
    const w = new ShownWindow(1_000);
    const ids: string[] = [];
    for (let s = 5_000; s >= 1; s--) {
      const id = generateMessageId();
      ids[s] = id;
      w.record(id, s);
    }
    assert.ok(w.size <= 1_100);
    const r = w.toRecord();
    assert.equal(w.size, 1_000);
    assert.equal(r.seqs, '4001-5000');
    assert.equal(r.ids.length, 1_000 * KEY_CHARS);
    assert.equal(w.seqOf(ids[5_000]!), 5_000);
    assert.equal(w.seqOf(ids[4_000]!), undefined);
  });

  it('an id or a seq already kept keeps its first record; malformed ids only move top', () => {
    const w = new ShownWindow(10);
    const a = generateMessageId();
    w.record(a, 3);
    w.record(a, 9);
    w.record(generateMessageId(), 3);
    w.record('short', 12);
    assert.equal(w.seqOf(a), 3);
    assert.equal(w.size, 1);
    assert.equal(w.top, 12);
  });

  it('a damaged record gives an empty window and the reason, never a throw', () => {
    const good = new ShownWindow(10);
    good.record(generateMessageId(), 1);
    const r = good.toRecord();
    const bad: unknown[] = [
      null, 'x', [], { ...r, v: 2 }, { ...r, top: -1 }, { ...r, ids: r.ids + 'A' }, { ...r, ids: '!'.repeat(KEY_CHARS) },
      { ...r, seqs: '2-1' }, { ...r, seqs: '5' }, { ...r, seqs: '1,1' }, { ...r, seqs: '' }, { ...r, seqs: '1-9007199254740991' },
      { ...r, top: 1, seqs: '1-99999999999' },
    ];
    for (const b of bad) {
      const { window, damaged } = ShownWindow.fromRecord(10, b);
      assert.equal(typeof damaged, 'string', JSON.stringify(b));
      assert.equal(window.size, 0);
      assert.equal(window.top, 0);
    }
    assert.equal(ShownWindow.fromRecord(10, undefined).damaged, undefined);
  });

  it('a full room costs about 80 kB in state.json, written through FileStateStore (measured)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smc-shown-'));
    try {
      const state = new FileStateStore(dir);
      const store = new ShownIdsState(state);
      const w = new ShownWindow(10_000);
      for (let s = 1; s <= 12_000; s++) w.record(generateMessageId(), s);
      const before = statSync(join(dir, 'state.json'), { throwIfNoEntry: false })?.size ?? 0;
      await store.save('room-a', w.toRecord());
      const bytes = statSync(join(dir, 'state.json')).size - before;
      // 10 000 × 8 id chars, plus the seq ranges and the JSON around them.
      assert.ok(bytes > 80_000 && bytes < 81_000, `${bytes} bytes`);
      const stored = (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>)[`${SHOWN_IDS_STATE_PREFIX}room-a`];
      const back = ShownWindow.fromRecord(10_000, stored);
      assert.equal(back.damaged, undefined);
      assert.equal(back.window.size, 10_000);
      assert.equal(back.window.top, 12_000);
      process.stdout.write(`      (one full room: ${bytes} bytes in state.json)\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('formatMessageTime', () => {
  const now = new Date(2026, 4, 20, 15, 30).getTime();
  it('shows only the time today, the date otherwise, and the year when it is not this one', () => {
    assert.equal(formatMessageTime(new Date(2026, 4, 20, 9, 5).getTime(), now), '09:05');
    assert.equal(formatMessageTime(new Date(2026, 4, 19, 23, 59).getTime(), now), '19 May 23:59');
    assert.equal(formatMessageTime(new Date(2026, 4, 21, 0, 1).getTime(), now), '21 May 00:01');
    assert.equal(formatMessageTime(new Date(2025, 4, 20, 15, 30).getTime(), now), '20 May 2025 15:30');
    assert.equal(formatMessageTime(Number.NaN, now), '--:--');
  });
});
