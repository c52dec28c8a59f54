// The local history store of a private room (docs/protocol.md §3.8): records encrypted at rest
// under the history key, bound to their room and seq; own messages stored before they are sent
// and given their seq by the ack's record; a damaged or moved record is skipped, never shown.
import { strict as assert } from 'node:assert';
import { HistoryStore, MemoryHistoryLog, type HistoryRecord } from '../../src/core/private';

const ROOM = 'A'.repeat(22);
const KEY = Buffer.alloc(32, 3);
const rec = (seq: number, id: string, text: string): HistoryRecord => ({ seq, ts: 1, id, epoch: 2, sender: 'ab'.repeat(32), p: JSON.stringify({ id, type: 'text', text }) });

describe('private room history store (§3.8)', () => {
  it('round trip; own messages take their acked seq; nothing in clear', async () => {
    const log = new MemoryHistoryLog();
    const h = new HistoryStore(ROOM, KEY, log);
    await h.append(rec(0, 'own-1', 'mine'));
    await h.append(rec(5, 'm5', 'theirs'));
    await h.acked('own-1', 6);
    const { records, damaged } = await h.load();
    assert.equal(damaged, 0);
    assert.deepEqual(records.map((r) => [r.seq, r.id]), [[5, 'm5'], [6, 'own-1']]);
    assert.ok(!log.lines.join('\n').includes('theirs') && !log.lines.join('\n').includes('mine'));
  });

  it('a record altered, moved to another seq or room, or read with another key is skipped', async () => {
    const log = new MemoryHistoryLog();
    await new HistoryStore(ROOM, KEY, log).append(rec(7, 'm7', 'x'));
    const line = log.lines[0]!;
    const flipped = line.slice(0, 20) + (line[20] === 'A' ? 'B' : 'A') + line.slice(21);
    const moved = line.replace(/\.7$/, '.8');
    const other = new MemoryHistoryLog();
    other.lines = [flipped, moved, line];
    assert.deepEqual((await new HistoryStore(ROOM, KEY, other).load()).damaged, 2);
    assert.deepEqual((await new HistoryStore('B'.repeat(22), KEY, other).load()).damaged, 3);
    assert.deepEqual((await new HistoryStore(ROOM, Buffer.alloc(32, 4), other).load()).damaged, 3);
  });
});
