// A delete, and an acked edit, purge the local history store of a private room (issue 12;
// docs/protocol.md §2.3 "Order", §3.8 "Deletes and edits at rest"): what they remove is in no
// record of the log any more (decrypted with the history key), only under the rules of §2.3
// "Who may act on a message"; the ids and seqs stay; a flood of deletes costs a bounded number
// of rewrites; a rewrite that fails before its rename leaves the old file whole.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryStore, MemoryHistoryLog, type HistoryRecord } from '../../src/core/private/historyStore';
import { FileHistoryLog } from '../../src/node/historyFile';

const ROOM = 'A'.repeat(22);
const KEY = Buffer.alloc(32, 3);
const ALICE = 'aa'.repeat(32);
const BOB = 'bb'.repeat(32);
const FP = Array(8).fill('ABCD').join(' ');
let n = 0;
const id = (): string => `m${String(n++).padStart(21, '0')}`;

function rec(seq: number, sender: string, payload: Record<string, unknown>): HistoryRecord {
  const mid = typeof payload.id === 'string' ? payload.id : id();
  return { seq, ts: 1, id: mid, epoch: 2, sender, p: JSON.stringify({ id: mid, ts: 1, name: sender === ALICE ? 'alice' : 'bob', ...payload }) };
}

/** Every decrypted record of the log, as one string (what someone with HK and the file reads). */
async function everything(h: HistoryStore): Promise<string> {
  const all = await h.decryptAll();
  assert.equal(all.damaged, 0);
  return all.values.map((v) => JSON.stringify(v)).join('\n');
}

describe('private room history: deletes and edits purge the store (§2.3 "Order", §3.8)', () => {
  it('a delete by the sender purges the text, its edits, reactions, file chunks and quotes of it; ids and seqs stay', async () => {
    const h = new HistoryStore(ROOM, KEY, new MemoryHistoryLog());
    const secret = rec(1, ALICE, { type: 'text', text: 'SECRET-TEXT', mentions: [FP] });
    const file = rec(2, ALICE, { type: 'file', text: 'SECRET-CAPTION', file: { name: 'secret-name.txt', size: 3, mime: 'text/plain', sha256: '0'.repeat(64), chunks: 1 } });
    await h.append(secret);
    await h.append(file);
    await h.append(rec(3, ALICE, { type: 'file-chunk', target: file.id, index: 0, data: 'U0VD' }));
    await h.append(rec(4, BOB, { type: 'text', text: 'ok', reply: { to: secret.id, from: FP, quote: 'SECRET-TEXT' } }));
    await h.append(rec(5, BOB, { type: 'reaction', target: secret.id, emoji: '👍' }));
    await h.append(rec(6, ALICE, { type: 'edit', target: secret.id, text: 'SECRET-EDIT' }));
    await h.append(rec(7, ALICE, { type: 'text', text: 'stays' }));
    assert.match(await everything(h), /SECRET-TEXT/);
    await h.append(rec(8, ALICE, { type: 'delete', target: secret.id }));
    await h.append(rec(9, ALICE, { type: 'delete', target: file.id }));
    await h.flush();
    const all = await everything(h);
    for (const s of ['SECRET', 'secret-name', 'U0VD', '👍']) assert.ok(!all.includes(s), `${s} in ${all}`);
    const { records } = await h.load();
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(JSON.parse(records[0]!.p), { id: secret.id, ts: 1, name: 'alice', type: 'text', text: '' });
    assert.equal(records[0]!.deleted, true);
    assert.equal(records[6]!.deleted, undefined);
    assert.equal(JSON.parse(records[3]!.p).reply.to, secret.id);
    assert.match(records[6]!.p, /"stays"/);
    assert.equal(h.rewrites, 1);
  });

  it('a delete under another key than the sender\'s, or of a non-content message, purges nothing', async () => {
    const h = new HistoryStore(ROOM, KEY, new MemoryHistoryLog());
    const secret = rec(1, ALICE, { type: 'text', text: 'KEPT' });
    const reaction = rec(2, ALICE, { type: 'reaction', target: secret.id, emoji: '👍' });
    await h.append(secret);
    await h.append(reaction);
    await h.append(rec(3, BOB, { type: 'delete', target: secret.id }));
    await h.append(rec(4, ALICE, { type: 'delete', target: reaction.id }));
    await h.flush();
    assert.match(await everything(h), /KEPT/);
    assert.match(await everything(h), /👍/);
    assert.equal(h.rewrites, 0);
  });

  it('an own message deleted before its ack: purged at once, and the ack still gives it its seq', async () => {
    const h = new HistoryStore(ROOM, KEY, new MemoryHistoryLog());
    const own = rec(0, ALICE, { type: 'text', text: 'TYPO-SECRET' });
    await h.append(own);
    await h.append(rec(0, ALICE, { type: 'delete', target: own.id }));
    await h.flush();
    assert.ok(!(await everything(h)).includes('TYPO-SECRET'));
    await h.acked(own.id, 12);
    const { records } = await h.load();
    assert.equal(records.find((r) => r.id === own.id)!.seq, 12);
  });

  it('an acked edit purges the text it replaces; an own edit not acked yet purges only once acked', async () => {
    const h = new HistoryStore(ROOM, KEY, new MemoryHistoryLog());
    const m = rec(1, ALICE, { type: 'text', text: 'FIRST' });
    await h.append(m);
    await h.append(rec(2, ALICE, { type: 'edit', target: m.id, text: 'SECOND' }));
    await h.append(rec(3, ALICE, { type: 'edit', target: m.id, text: 'THIRD' }));
    await h.flush();
    let all = await everything(h);
    assert.ok(!all.includes('FIRST') && !all.includes('SECOND') && all.includes('THIRD'), all);
    // The message itself shows the winning text (for a UI that does not replay the edits).
    assert.equal(JSON.parse((await h.load()).records[0]!.p).text, 'THIRD');
    const own = rec(0, ALICE, { type: 'edit', target: m.id, text: 'FOURTH' });
    await h.append(own);
    await h.flush();
    assert.ok((await everything(h)).includes('THIRD'), 'an edit not acked may still be refused: THIRD stays');
    await h.acked(own.id, 9);
    await h.flush();
    all = await everything(h);
    assert.ok(!all.includes('THIRD') && all.includes('FOURTH'), all);
    // Another key's edit is refused (§2.3.4): it purges nothing.
    const b = rec(10, BOB, { type: 'text', text: 'BOBS' });
    await h.append(b);
    await h.append(rec(11, ALICE, { type: 'edit', target: b.id, text: 'HIJACK' }));
    await h.flush();
    assert.ok((await everything(h)).includes('BOBS'));
  });

  it('a flood of deletes costs a bounded number of rewrites (one per interval), and every one is purged', async () => {
    const log = new MemoryHistoryLog();
    let replaced = 0;
    const replaceAll = log.replaceAll.bind(log);
    log.replaceAll = (lines) => {
      replaced++;
      return replaceAll(lines);
    };
    const h = new HistoryStore(ROOM, KEY, log, { purgeIntervalMs: 600_000 });
    const ids: string[] = [];
    for (let seq = 1; seq <= 2_000; seq++) {
      const r = rec(seq, ALICE, { type: 'text', text: `FLOOD-${seq}-` });
      ids.push(r.id);
      await h.append(r);
    }
    for (let i = 0; i < 500; i++) await h.append(rec(2_001 + i, ALICE, { type: 'delete', target: ids[i * 2]! }));
    await h.flush();
    assert.ok(replaced <= 2, `${replaced} rewrites for 500 deletes`);
    const all = await everything(h);
    for (let i = 0; i < 500; i++) assert.ok(!all.includes(`FLOOD-${i * 2 + 1}-`));
    assert.ok(all.includes('FLOOD-2-'));
  });

  it('a rewrite that fails before its rename leaves the old file whole (and the deleted hidden); the next purge succeeds', async () => {
    const home = mkdtempSync(join(tmpdir(), 'smc-history-purge-'));
    try {
      let fail = true;
      const log = new FileHistoryLog(ROOM, home, { beforeRename: () => { if (fail) throw new Error('disk full'); } });
      const h = new HistoryStore(ROOM, KEY, log);
      const secret = rec(1, ALICE, { type: 'text', text: 'SECRET-TEXT' });
      await h.append(secret);
      await h.append(rec(2, ALICE, { type: 'text', text: 'kept' }));
      await h.append(rec(3, ALICE, { type: 'delete', target: secret.id }));
      const before = readFileSync(log.path, 'utf8');
      await assert.rejects(h.flush(), /disk full/);
      assert.equal(readFileSync(log.path, 'utf8'), before);
      assert.deepEqual(readdirSync(join(home, 'history')), [`${ROOM}.log`]);
      // Still hidden from what a UI loads, and the purge is due again.
      const { records } = await new HistoryStore(ROOM, KEY, new FileHistoryLog(ROOM, home)).load();
      assert.ok(!records.some((r) => r.p.includes('SECRET')));
      assert.equal(records.length, 3);
      fail = false;
      await h.append(rec(4, ALICE, { type: 'text', text: 'later' }));
      await h.flush();
      assert.ok(!(await everything(h)).includes('SECRET'));
      assert.equal((await h.load()).records.length, 4);
      assert.equal(statSync(log.path).mode & 0o777, 0o600);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a store opened after a crash that left a delete unpurged purges it at its load()', async () => {
    const log = new MemoryHistoryLog();
    const first = new HistoryStore(ROOM, KEY, log, { purgeIntervalMs: 600_000 });
    const secret = rec(1, ALICE, { type: 'text', text: 'SECRET-TEXT' });
    await first.append(secret);
    // As if the process died right after the delete's record was written: its purge never ran.
    const lines = [...log.lines];
    await first.append(rec(2, ALICE, { type: 'delete', target: secret.id }));
    log.lines = [...lines, log.lines[log.lines.length - 1]!];
    const again = new HistoryStore(ROOM, KEY, log);
    assert.ok((await everything(again)).includes('SECRET-TEXT'));
    await again.load();
    await again.flush();
    assert.ok(!(await everything(again)).includes('SECRET-TEXT'));
  });
});
