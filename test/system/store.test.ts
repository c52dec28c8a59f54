// Tests of the relay's embedded store (issue 2 §2 "Storage", PROTOCOL.md §1.5/§1.6 semantics):
// append/range/head/oldest, dedup, group commit, recovery of torn and corrupt logs, retention
// and compaction, the directory lock, and a model-based property test.

import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, readdirSync, statSync, writeFileSync, readFileSync, openSync, writeSync, closeSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import fc from 'fast-check';
import { FileStore } from '../../src/relay/store/fileStore';
import { segmentName } from '../../src/relay/store/segment';
import { encodeRecord, SEGMENT_MAGIC } from '../../src/relay/store/record';
import { Gate } from '../../src/relay/store/gate';

const b64u = (n: number): string => randomBytes(n).toString('base64url');
const newId = (): string => b64u(16);
const ROOM_A = b64u(16);
const ROOM_B = b64u(16);

interface LogLine { event: string; fields?: Record<string, unknown> }

describe('FileStore', function () {
  this.timeout(20_000);
  let root: string;
  let dir: string;
  let logs: LogLine[];
  const open: FileStore[] = [];

  async function openStore(opts: { retain?: number; segmentBytes?: number } = {}): Promise<FileStore> {
    const s = new FileStore({ dir, retain: opts.retain ?? 10_000, segmentBytes: opts.segmentBytes, log: (event, fields) => logs.push({ event, fields }) });
    await s.open();
    open.push(s);
    return s;
  }

  async function reopen(s: FileStore, opts: { retain?: number; segmentBytes?: number } = {}): Promise<FileStore> {
    await s.close();
    return openStore(opts);
  }

  const segPath = (no: number): string => join(dir, segmentName(no));

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'smc-store-'));
    dir = join(root, 'data');
    mkdirSync(dir);
    logs = [];
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Opens the store in a child process, runs `work` (source using `s` and `ROOM`), then SIGKILLs it. */
  const crashAfter = (options: { retain: number; segmentBytes?: number }, work: string, vars: Record<string, unknown> = {}): void => {
    const storePath = join(__dirname, '../../src/relay/store/fileStore.js');
    const code = `const { FileStore } = require(${JSON.stringify(storePath)});
      const ROOM = ${JSON.stringify(ROOM_A)};
      const newId = () => require('node:crypto').randomBytes(16).toString('base64url');
      const VARS = ${JSON.stringify(vars)};
      (async () => {
        const s = new FileStore({ dir: ${JSON.stringify(dir)}, retain: ${options.retain}, segmentBytes: ${options.segmentBytes ?? 4096} });
        await s.open();
        ${work}
        process.kill(process.pid, 'SIGKILL');
      })();`;
    const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
  };

  describe('append, head, range, oldest', () => {
    it('numbers messages per room from 1 and reads them back oldest first', async () => {
      const s = await openStore();
      assert.equal(s.head(ROOM_A), 0);
      assert.equal(s.oldest(ROOM_A), 1);
      const ids = [newId(), newId(), newId()];
      const r1 = await s.append(ROOM_A, ids[0] as string, 'b1');
      const r2 = await s.append(ROOM_B, ids[1] as string, 'b2');
      const r3 = await s.append(ROOM_A, ids[2] as string, 'b3');
      assert.deepEqual([r1.seq, r2.seq, r3.seq], [1, 1, 2]);
      assert.equal(r1.duplicate, false);
      assert.ok(Math.abs(r1.ts - Date.now()) < 60_000);
      assert.equal(s.head(ROOM_A), 2);
      assert.equal(s.head(ROOM_B), 1);
      const all = await s.range(ROOM_A, 0, Infinity, 100);
      assert.deepEqual(all.map((m) => [m.seq, m.id, m.body, m.ts]), [[1, ids[0], 'b1', r1.ts], [2, ids[2], 'b3', r3.ts]]);
    });

    it('range returns the newest `limit` of after < seq < before, oldest first', async () => {
      const s = await openStore();
      for (let i = 1; i <= 20; i++) await s.append(ROOM_A, newId(), `m${i}`);
      const seqs = async (after: number, before: number, limit: number): Promise<number[]> => (await s.range(ROOM_A, after, before, limit)).map((m) => m.seq);
      assert.deepEqual(await seqs(0, 21, 5), [16, 17, 18, 19, 20]);
      assert.deepEqual(await seqs(0, 10, 3), [7, 8, 9]);
      assert.deepEqual(await seqs(5, 9, 100), [6, 7, 8]);
      assert.deepEqual(await seqs(19, 100, 100), [20]);
      assert.deepEqual(await seqs(20, 100, 100), []);
      assert.deepEqual(await seqs(3, 4, 100), []);
      assert.deepEqual(await seqs(0, 21, 0), []);
      assert.deepEqual(await s.range(ROOM_B, 0, 100, 10), []);
    });

    it('keeps bodies and ids of any length and content byte for byte', async () => {
      const s = await openStore();
      const bodies = ['x', b64u(40_000), 'ünïcödé ✓ 𝄞', ''.padEnd(65_000, 'A')];
      for (const b of bodies) await s.append(ROOM_A, newId(), b);
      const s2 = await reopen(s);
      assert.deepEqual((await s2.range(ROOM_A, 0, 100, 100)).map((m) => m.body), bodies);
    });

    it('rejects a room or id that cannot be encoded, and stores nothing', async () => {
      const s = await openStore();
      await assert.rejects(s.append('', newId(), 'b'), /room/);
      await assert.rejects(s.append(ROOM_A, 'x'.repeat(300), 'b'), /id/);
      assert.equal(s.head(ROOM_A), 0);
    });

    it('a close during open waits for the open, then closes cleanly', async () => {
      const s = new FileStore({ dir, retain: 10 });
      const opened = s.open();
      await s.close();
      await opened;
      await assert.rejects(s.append(ROOM_A, newId(), 'b'), /not open/);
      const again = await openStore();
      assert.equal(again.head(ROOM_A), 0);
    });

    it('rejects appends after close', async () => {
      const s = await openStore();
      await s.close();
      await assert.rejects(s.append(ROOM_A, newId(), 'b'), /not open/);
    });

    it('keeps everything across a clean reopen', async () => {
      const s = await openStore();
      const sent: string[] = [];
      for (let i = 0; i < 50; i++) {
        const id = newId();
        sent.push(id);
        await s.append(i % 2 ? ROOM_A : ROOM_B, id, `body${i}`);
      }
      const s2 = await reopen(s);
      assert.equal(s2.head(ROOM_A), 25);
      assert.equal(s2.head(ROOM_B), 25);
      const a = await s2.range(ROOM_A, 0, 100, 100);
      assert.deepEqual(a.map((m) => m.id), sent.filter((_, i) => i % 2));
    });
  });

  describe('idempotence (§1.5)', () => {
    it('a second append of a stored id returns the first seq/ts with duplicate: true and stores nothing', async () => {
      const s = await openStore();
      const id = newId();
      const first = await s.append(ROOM_A, id, 'one');
      await s.append(ROOM_A, newId(), 'two');
      const again = await s.append(ROOM_A, id, 'different body');
      assert.deepEqual(again, { seq: first.seq, ts: first.ts, duplicate: true });
      assert.equal(s.head(ROOM_A), 2);
      const s2 = await reopen(s);
      assert.deepEqual(await s2.append(ROOM_A, id, 'x'), { seq: 1, ts: first.ts, duplicate: true });
      assert.equal(s2.head(ROOM_A), 2);
      assert.equal(s2.stats().appended, 0);
    });

    it('the same id in another room is another message', async () => {
      const s = await openStore();
      const id = newId();
      await s.append(ROOM_A, id, 'a');
      const r = await s.append(ROOM_B, id, 'b');
      assert.deepEqual([r.seq, r.duplicate], [1, false]);
    });

    it('a duplicate that arrives before the first copy is synced waits for it and gets its seq', async () => {
      const s = await openStore();
      const id = newId();
      const order: string[] = [];
      const p1 = s.append(ROOM_A, id, 'first').then((r) => { order.push('first'); return r; });
      const p2 = s.append(ROOM_A, id, 'second').then((r) => { order.push('dup'); return r; });
      const [r1, r2] = await Promise.all([p1, p2]);
      assert.deepEqual(order, ['first', 'dup']);
      assert.equal(r1.duplicate, false);
      assert.deepEqual(r2, { seq: r1.seq, ts: r1.ts, duplicate: true });
      assert.equal(s.head(ROOM_A), 1);
      assert.equal((await s.range(ROOM_A, 0, 10, 10))[0]?.body, 'first');
    });

    it('dedup covers every retained message after many appends (hash table growth)', async () => {
      const s = await openStore({ retain: 100_000 });
      const ids: string[] = [];
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 3000; i++) {
        const id = newId();
        ids.push(id);
        batch.push(s.append(ROOM_A, id, 'b'));
      }
      await Promise.all(batch);
      const again = await Promise.all(ids.map((id) => s.append(ROOM_A, id, 'again')));
      assert.deepEqual(again.map((r) => r.seq), ids.map((_, i) => i + 1));
      assert.ok(again.every((r) => r.duplicate));
      assert.equal(s.head(ROOM_A), 3000);
    });
  });

  describe('group commit', () => {
    it('many concurrent appends share few syncs, and all are durable when they resolve', async () => {
      const s = await openStore();
      const before = s.stats().syncs;
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => s.append(i % 3 ? ROOM_A : ROOM_B, newId(), 'x'.repeat(200))));
      const syncs = s.stats().syncs - before;
      assert.ok(syncs >= 1 && syncs <= 5, `500 appends took ${syncs} syncs`);
      const seqsA = results.filter((_, i) => i % 3).map((r) => r.seq);
      assert.deepEqual(seqsA, Array.from({ length: seqsA.length }, (_, i) => i + 1));
      // Durable: a copy of the directory taken now (as after a crash) holds every record.
      const copy = mkdtempSync(join(tmpdir(), 'smc-store-copy-'));
      try {
        for (const f of readdirSync(dir)) if (f.endsWith('.seg')) writeFileSync(join(copy, f), readFileSync(join(dir, f)));
        const c = new FileStore({ dir: copy, retain: 10_000 });
        await c.open();
        assert.equal(c.head(ROOM_A), seqsA.length);
        assert.equal(c.head(ROOM_B), 500 - seqsA.length);
        await c.close();
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });

    it('a seq is visible in head and range only once its append resolved', async () => {
      const s = await openStore();
      const p = s.append(ROOM_A, newId(), 'x');
      assert.equal(s.head(ROOM_A), 0);
      assert.deepEqual(await s.range(ROOM_A, 0, 10, 10).then((r) => r.length), 0);
      const r = await p;
      assert.equal(s.head(ROOM_A), r.seq);
    });

    it('a large burst is written in several groups of bounded size', async () => {
      const s = await openStore();
      const body = b64u(45_000); // 60 000 chars
      const results = await Promise.all(Array.from({ length: 200 }, () => s.append(ROOM_A, newId(), body)));
      assert.deepEqual(results.map((r) => r.seq), results.map((_, i) => i + 1));
      assert.ok(s.stats().syncs >= 3, `12 MB took ${s.stats().syncs} syncs`);
      // Memory holds an index, never bodies (§1.6): 12 MB stored, a few KiB of index.
      assert.ok(s.stats().indexBytes < 32 * 1024, `index of ${s.stats().indexBytes} bytes`);
    });

    it('recovery reads records that straddle its read chunks, small and larger than the chunk margin', async () => {
      const s = await openStore();
      const sent: Array<{ id: string; body: string }> = [];
      // 60 000-char records (within the 64 KiB margin) and 150 000-char ones (beyond it), 14 MB.
      for (let i = 0; i < 160; i++) sent.push({ id: newId(), body: b64u(i % 4 === 3 ? 112_500 : 45_000) });
      await Promise.all(sent.map((m) => s.append(ROOM_A, m.id, m.body)));
      await s.close();
      rmSync(join(dir, 'index.ckpt'));
      const s2 = await openStore();
      const got = await s2.range(ROOM_A, 0, 1000, 1000);
      assert.equal(got.length, 160);
      assert.ok(got.every((m, i) => m.id === sent[i]?.id && m.body === sent[i]?.body));
    });

    it('close waits for appends in flight, which all become durable', async () => {
      const s = await openStore();
      const pending = Array.from({ length: 100 }, (_, i) => s.append(ROOM_A, newId(), `m${i}`));
      await s.close();
      const results = await Promise.all(pending);
      assert.deepEqual(results.map((r) => r.seq), results.map((_, i) => i + 1));
      const s2 = await openStore();
      assert.equal(s2.head(ROOM_A), 100);
    });

    it('acks of one room resolve in seq order', async () => {
      const s = await openStore();
      const seen: number[] = [];
      await Promise.all(Array.from({ length: 200 }, () => s.append(ROOM_A, newId(), 'x').then((r) => seen.push(r.seq))));
      assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i + 1));
    });
  });

  describe('recovery', () => {
    async function fill(n: number, room = ROOM_A): Promise<{ ids: string[]; sizes: number[] }> {
      const s = await openStore();
      const ids: string[] = [];
      const sizes: number[] = [];
      let last = statSync(segPath(1)).size;
      for (let i = 0; i < n; i++) {
        const id = newId();
        ids.push(id);
        await s.append(room, id, `body-${i}-${'z'.repeat(100)}`);
        const now = statSync(segPath(1)).size;
        sizes.push(now - last);
        last = now;
      }
      await s.close();
      // As after a crash: no index checkpoint, so recovery reads and checks every record.
      rmSync(join(dir, 'index.ckpt'));
      return { ids, sizes };
    }

    const events = (name: string): LogLine[] => logs.filter((l) => l.event === name);

    it('cuts a torn tail (a record cut mid-way), keeps the cut bytes aside, and goes on appending', async () => {
      const { ids, sizes } = await fill(10);
      const full = statSync(segPath(1)).size;
      const lastLen = sizes[9] as number;
      truncateSync(segPath(1), full - 7);
      const s = await openStore();
      assert.equal(s.head(ROOM_A), 9);
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.id), ids.slice(0, 9));
      const torn = readdirSync(dir).filter((f) => f.startsWith('torn-'));
      assert.equal(torn.length, 1);
      assert.equal(statSync(join(dir, torn[0] as string)).size, lastLen - 7);
      assert.equal(statSync(segPath(1)).size, full - lastLen);
      assert.equal(events('store.torn_tail').length, 1);
      const r = await s.append(ROOM_A, ids[9] as string, 'resent');
      assert.deepEqual([r.seq, r.duplicate], [10, false]);
      const s2 = await reopen(s);
      assert.equal(s2.head(ROOM_A), 10);
      assert.equal(events('store.torn_tail').length, 1);
    });

    it('cuts garbage appended after the last record and keeps it aside byte for byte', async () => {
      const { ids } = await fill(5);
      const size = statSync(segPath(1)).size;
      const garbage = randomBytes(1000);
      const fd = openSync(segPath(1), 'a');
      writeSync(fd, garbage);
      closeSync(fd);
      const s = await openStore();
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.id), ids);
      assert.equal(statSync(segPath(1)).size, size);
      const torn = readdirSync(dir).filter((f) => f.startsWith('torn-'));
      assert.deepEqual(readFileSync(join(dir, torn[0] as string)), garbage);
    });

    it('skips a corrupt record in the middle (flipped byte), keeps every intact one and the bad bytes aside', async () => {
      const { ids, sizes } = await fill(10);
      const offsetOf = (i: number): number => 8 + sizes.slice(0, i).reduce((a, b) => a + b, 0);
      const buf = readFileSync(segPath(1));
      const at = offsetOf(4) + 60; // inside record 5's payload
      buf[at] = (buf[at] as number) ^ 0x01;
      writeFileSync(segPath(1), buf);
      const s = await openStore();
      assert.equal(s.head(ROOM_A), 10);
      const got = await s.range(ROOM_A, 0, 100, 100);
      assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 6, 7, 8, 9, 10]);
      assert.deepEqual(got.map((m) => m.id), ids.filter((_, i) => i !== 4));
      const corrupt = events('store.corrupt_region');
      assert.equal(corrupt.length, 1);
      assert.equal(corrupt[0]?.fields?.offset, offsetOf(4));
      assert.equal(corrupt[0]?.fields?.bytes, sizes[4]);
      const aside = readdirSync(dir).filter((f) => f.startsWith('corrupt-'));
      assert.deepEqual(readFileSync(join(dir, aside[0] as string)), buf.subarray(offsetOf(4), offsetOf(5)));
      assert.equal(events('store.seq_gap').length, 1);
      assert.equal((await s.append(ROOM_A, ids[7] as string, 'x')).duplicate, true);
      assert.equal((await s.append(ROOM_A, newId(), 'x')).seq, 11);
    });

    it('finds the next intact record after a corrupt length field', async () => {
      const { ids, sizes } = await fill(6);
      const buf = readFileSync(segPath(1));
      const at = 8 + (sizes[0] as number) + (sizes[1] as number);
      buf.writeUInt32LE(0xfffffff0, at);
      writeFileSync(segPath(1), buf);
      const s = await openStore();
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.id), ids.filter((_, i) => i !== 2));
    });

    it('skips second copies of records (a compaction stopped between its rename and its deletes)', async () => {
      const { ids } = await fill(8);
      writeFileSync(segPath(2), readFileSync(segPath(1)));
      const s = await openStore();
      assert.equal(s.head(ROOM_A), 8);
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.id), ids);
      assert.equal((await s.append(ROOM_A, newId(), 'x')).seq, 9);
    });

    it('a seq gap in what is retained is reported; older gaps are dead records and are not', async () => {
      const write = (no: number, seqs: number[]): void => {
        const buf = Buffer.alloc(64 * 1024);
        SEGMENT_MAGIC.copy(buf);
        let pos = SEGMENT_MAGIC.length;
        for (const seq of seqs) pos += encodeRecord(buf, pos, { room: ROOM_A, id: `id-${seq}`, body: `b${seq}`, seq, ts: 1000 + seq });
        writeFileSync(segPath(no), buf.subarray(0, pos));
      };
      mkdirSync(dir, { recursive: true });
      write(1, [1, 2, 3]);
      write(2, [50, 51, 52]);
      let s = await openStore({ retain: 100 });
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.seq), [1, 2, 3, 50, 51, 52]);
      assert.deepEqual(events('store.seq_gap').map((e) => [e.fields?.missingFrom, e.fields?.missingTo]), [[4, 49]]);
      logs.length = 0;
      await s.close();
      rmSync(join(dir, 'index.ckpt'));
      s = await openStore({ retain: 10 });
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.seq), [50, 51, 52]);
      assert.equal(s.oldest(ROOM_A), 50);
      assert.deepEqual(events('store.seq_gap'), []);
      assert.deepEqual(await s.append(ROOM_A, 'id-51', 'again'), { seq: 51, ts: 1051, duplicate: true });
    });

    it('opens a log whose last segment was created but never written, and drops unfinished compaction output', async () => {
      const { ids } = await fill(3);
      writeFileSync(segPath(2), Buffer.alloc(0));
      writeFileSync(join(dir, segmentName(1) + '.compact'), randomBytes(100));
      const s = await openStore();
      assert.deepEqual((await s.range(ROOM_A, 0, 100, 100)).map((m) => m.id), ids);
      assert.equal((await s.append(ROOM_A, newId(), 'x')).seq, 4);
      assert.ok(!readdirSync(dir).some((f) => f.endsWith('.compact')));
      const s2 = await reopen(s);
      assert.equal(s2.head(ROOM_A), 4);
    });
  });

  describe('index checkpoint', () => {
    const events = (name: string): LogLine[] => logs.filter((l) => l.event === name);
    it('a clean close writes it; the next open uses it and has the same index and dedup', async () => {
      const s = await openStore();
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        ids.push(newId());
        await s.append(i % 4 ? ROOM_A : ROOM_B, ids[i] as string, `m${i}`);
      }
      const before = await s.range(ROOM_A, 0, 100, 100);
      const s2 = await reopen(s);
      assert.equal(events('store.checkpoint_written').length, 1);
      assert.equal(events('store.checkpoint_loaded').length, 1);
      assert.deepEqual(await s2.range(ROOM_A, 0, 100, 100), before);
      assert.equal(s2.head(ROOM_B), 10);
      assert.deepEqual(await s2.append(ROOM_A, ids[1] as string, 'x'), { seq: 1, ts: before[0]?.ts, duplicate: true });
      assert.equal((await s2.append(ROOM_A, newId(), 'x')).seq, 31);
    });

    it('after a crash, records written since the checkpoint are checked: a torn tail after it is cut', async () => {
      const s = await openStore({ segmentBytes: 1 << 20 });
      for (let i = 0; i < 10; i++) await s.append(ROOM_A, newId(), `m${i}`);
      await s.close();
      // A relay that uses the checkpoint, stores five more and is killed; the last write is torn.
      crashAfter({ retain: 10_000, segmentBytes: 1 << 20 }, `
        const later = [];
        for (let i = 0; i < 5; i++) { later.push(newId()); await s.append(ROOM, later[i], 'n' + i); }
        require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'later.json'))}, JSON.stringify(later));`);
      const later = JSON.parse(readFileSync(join(dir, 'later.json'), 'utf8')) as string[];
      const fd = openSync(segPath(1), 'a');
      writeSync(fd, randomBytes(40));
      closeSync(fd);
      const s3 = await openStore({ segmentBytes: 1 << 20 });
      assert.equal(events('store.checkpoint_loaded').length, 1);
      assert.equal(events('store.torn_tail').length, 1);
      assert.equal(s3.head(ROOM_A), 15);
      assert.deepEqual((await s3.range(ROOM_A, 10, 100, 100)).map((m) => m.id), later);
      assert.equal((await s3.append(ROOM_A, later[2] as string, 'again')).seq, 13);
    });

    it('a damaged record inside the checkpointed part is caught when read, and left out', async () => {
      const s = await openStore();
      for (let i = 0; i < 5; i++) await s.append(ROOM_A, newId(), `body-${i}`);
      await s.close();
      const buf = readFileSync(segPath(1));
      const at = buf.indexOf('body-2');
      buf[at] = 0x58;
      writeFileSync(segPath(1), buf);
      const s2 = await openStore();
      assert.deepEqual((await s2.range(ROOM_A, 0, 100, 100)).map((m) => m.seq), [1, 2, 4, 5]);
      assert.equal(events('store.read_corrupt').length, 1);
    });

    it('is not used when it no longer matches the log: compaction ran after it, a segment was replaced, its checksum fails, or retain was raised', async () => {
      const s = await openStore({ retain: 5, segmentBytes: 4096 });
      for (let i = 0; i < 60; i += 10) await Promise.all(Array.from({ length: 10 }, () => s.append(ROOM_A, newId(), b64u(100))));
      await s.close();
      const reasons = (): unknown[] => events('store.checkpoint_unused').map((e) => e.fields?.reason);
      // Compaction after the checkpoint was written, then a crash before the next clean close:
      // the compaction deleted the checkpoint before it changed a file.
      crashAfter({ retain: 5 }, "for (let i = 0; i < 60; i += 10) await Promise.all(Array.from({ length: 10 }, () => s.append(ROOM, newId(), 'x'.repeat(130)))); await s.compactNow();");
      assert.ok(!readdirSync(dir).includes('index.ckpt'));
      const s3 = await openStore({ retain: 5, segmentBytes: 4096 });
      assert.equal(events('store.checkpoint_loaded').length, 0);
      assert.equal(s3.head(ROOM_A), 120);
      assert.deepEqual((await s3.range(ROOM_A, 0, 1000, 100)).map((m) => m.seq), [116, 117, 118, 119, 120]);
      await s3.close();
      // A segment file replaced behind the store's back (a restored copy: another inode).
      const [firstSeg] = readdirSync(dir).filter((n) => n.endsWith('.seg')).sort();
      const segFile = join(dir, firstSeg as string);
      writeFileSync(segFile + '.copy', readFileSync(segFile));
      renameSync(segFile + '.copy', segFile);
      const s3b = await openStore({ retain: 5, segmentBytes: 4096 });
      assert.match(String(reasons()[0]), /replaced/);
      assert.equal(s3b.head(ROOM_A), 120);
      await s3b.close();
      const ck = readFileSync(join(dir, 'index.ckpt'));
      ck[20] = (ck[20] as number) ^ 0xff;
      writeFileSync(join(dir, 'index.ckpt'), ck);
      const s4 = await openStore({ retain: 5, segmentBytes: 4096 });
      assert.match(String(reasons()[1]), /checksum/);
      assert.equal(s4.head(ROOM_A), 120);
      await s4.close();
      const s5 = await openStore({ retain: 50, segmentBytes: 4096 });
      assert.match(String(reasons()[2]), /retain raised/);
      assert.equal(s5.head(ROOM_A), 120);
    });
  });

  describe('retention and compaction (§1.6)', () => {
    const segBytes = (): number => readdirSync(dir).filter((f) => f.endsWith('.seg')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

    it('keeps the newest `retain` per room, and compaction gives the disk back', async () => {
      const s = await openStore({ retain: 20, segmentBytes: 8192 });
      const ids: Record<string, string[]> = { [ROOM_A]: [], [ROOM_B]: [] };
      for (let i = 0; i < 600; i += 5) {
        const batch = [ROOM_B, ROOM_A, ROOM_A, ROOM_A, ROOM_A].map((room) => {
          const id = newId();
          (ids[room] as string[]).push(id);
          return s.append(room, id, b64u(150));
        });
        await Promise.all(batch);
      }
      assert.equal(s.head(ROOM_A), 480);
      assert.equal(s.oldest(ROOM_A), 461);
      assert.equal(s.oldest(ROOM_B), 101);
      const grown = s.stats().appended * 200;
      await s.compactNow();
      const after = segBytes();
      assert.ok(after < grown / 5, `disk ${after} bytes after compaction of ${grown}`);
      assert.ok(s.stats().segments <= 4, `${s.stats().segments} segments left`);
      const check = async (st: FileStore): Promise<void> => {
        assert.deepEqual((await st.range(ROOM_A, 0, 1000, 1000)).map((m) => m.id), (ids[ROOM_A] as string[]).slice(-20));
        assert.deepEqual((await st.range(ROOM_B, 0, 1000, 1000)).map((m) => m.id), (ids[ROOM_B] as string[]).slice(-20));
        assert.equal((await st.append(ROOM_A, (ids[ROOM_A] as string[])[470] as string, 'x')).duplicate, true);
      };
      await check(s);
      const s2 = await reopen(s, { retain: 20, segmentBytes: 8192 });
      await check(s2);
      assert.equal(s2.oldest(ROOM_A), 461);
    });

    it('a slow room keeps its messages while a busy room rolls many segments', async () => {
      const s = await openStore({ retain: 10, segmentBytes: 4096 });
      const slow: string[] = [];
      for (let i = 0; i < 400; i += 10) {
        if (i % 80 === 0) {
          const id = newId();
          slow.push(id);
          await s.append(ROOM_B, id, 'slow');
        }
        await Promise.all(Array.from({ length: 10 }, () => s.append(ROOM_A, newId(), b64u(100))));
      }
      await s.compactNow();
      assert.ok(segBytes() < 4 * 4096, `disk ${segBytes()}`);
      const s2 = await reopen(s, { retain: 10, segmentBytes: 4096 });
      assert.deepEqual((await s2.range(ROOM_B, 0, 100, 100)).map((m) => m.id), slow);
      assert.equal(s2.head(ROOM_A), 400);
      assert.equal(s2.oldest(ROOM_A), 391);
      assert.ok(!logs.some((l) => l.event === 'store.seq_gap' || l.event === 'store.corrupt_region'));
    });

    it('reads and appends stay correct while compaction runs', async () => {
      const s = await openStore({ retain: 50, segmentBytes: 4096 });
      for (let i = 0; i < 300; i++) await s.append(ROOM_A, newId(), b64u(120));
      const work = Promise.all([
        s.compactNow(),
        ...Array.from({ length: 20 }, () => s.range(ROOM_A, 0, 1000, 1000)),
        ...Array.from({ length: 20 }, (_, i) => s.append(ROOM_B, newId(), `b${i}`)),
      ]);
      const [, ...rest] = await work;
      for (const r of rest.slice(0, 20)) {
        const seqs = (r as Array<{ seq: number }>).map((m) => m.seq);
        assert.ok(seqs.length >= 50, `range returned ${seqs.length}`);
        assert.equal(seqs[seqs.length - 1], 300);
      }
      assert.equal(s.head(ROOM_B), 20);
    });

    it('a crash at any point of compaction loses no retained message (child processes killed at random times)', async function () {
      this.timeout(40_000);
      const retain = 15;
      const rooms = [ROOM_A, ROOM_B];
      const journal = join(root, 'journal');
      writeFileSync(journal, '');
      for (let round = 0; round < 5; round++) {
        crashAfter({ retain }, `
          const fs = require('node:fs');
          for (let i = 0; i < 120; i += 12) {
            // Twelve in flight; each is journaled once acked (acks come in seq order).
            await Promise.all(Array.from({ length: 12 }, (_, k) => {
              const room = VARS.rooms[(i + k) % 9 === 0 ? 1 : 0];
              const id = newId();
              return s.append(room, id, 'x'.repeat(100 + k)).then(() => fs.appendFileSync(VARS.journal, room + ' ' + id + '\\n'));
            }));
          }
          setTimeout(() => process.kill(process.pid, 'SIGKILL'), VARS.killAfterMs);
          await s.compactNow();`, { rooms, journal, killAfterMs: randomInt(0, 25) });
        const acked = readFileSync(journal, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]);
        logs.length = 0;
        const s = await openStore({ retain, segmentBytes: 4096 });
        for (const room of rooms) {
          const ids = acked.filter(([r]) => r === room).map(([, id]) => id);
          const got = await s.range(room, 0, Infinity, 1000);
          assert.equal(s.head(room), ids.length);
          assert.deepEqual(got.map((m) => m.id), ids.slice(-retain), `round ${round}`);
          assert.deepEqual(got.map((m) => m.seq), got.map((_, i) => ids.length - got.length + i + 1));
        }
        assert.ok(!logs.some((l) => l.event === 'store.seq_gap' || l.event === 'store.corrupt_region'), JSON.stringify(logs));
        await s.close();
      }
    });

    it('a lower retain at reopen trims at once', async () => {
      const s = await openStore({ retain: 100 });
      for (let i = 0; i < 30; i++) await s.append(ROOM_A, newId(), 'x');
      const s2 = await reopen(s, { retain: 5 });
      assert.equal(s2.oldest(ROOM_A), 26);
      assert.equal((await s2.range(ROOM_A, 0, 100, 100)).length, 5);
    });
  });

  // The lock's own tests are in store-lock.test.ts; these also cover the `lock` file of relays
  // before the socket lock, which is respected while its holder lives.
  describe('lock', () => {
    it('a second store on the same directory fails with ELOCKED', async () => {
      await openStore();
      const other = new FileStore({ dir, retain: 10 });
      await assert.rejects(other.open(), (err: NodeJS.ErrnoException) => err.code === 'ELOCKED' && /in use/.test(err.message));
    });

    it('a second store on the same directory under another name (symlink) fails too', async () => {
      await openStore();
      const link = join(root, 'link');
      symlinkSync(dir, link);
      await assert.rejects(new FileStore({ dir: link, retain: 10 }).open(), { code: 'ELOCKED' });
    });

    it('a lock held by another live process is respected', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        const start = Number(readFileSync(`/proc/${child.pid}/stat`, 'latin1').split(') ')[1]?.split(' ')[19]);
        writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: child.pid, start, host: hostname(), token: 'other' }));
        const s = new FileStore({ dir, retain: 10 });
        await assert.rejects(s.open(), { code: 'ELOCKED' });
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('a stale lock of a dead process is taken over, and released on close', async () => {
      const dead = spawnSync(process.execPath, ['-e', '0']);
      writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: dead.pid, start: 1, host: hostname(), token: 'old' }));
      const s = await openStore();
      const locks = (): string[] => readdirSync(dir).filter((n) => n.startsWith('lock'));
      assert.equal(locks().length, 1);
      assert.ok(statSync(join(dir, locks()[0] as string)).isSocket(), 'the lock is a socket');
      await s.close();
      assert.deepEqual(locks(), []);
    });

    it('a lock whose pid was reused by a younger process is stale', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: child.pid, start: 1, host: hostname(), token: 'old' }));
        await openStore();
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('a lock naming this process but not held by it (a restart as the same pid, e.g. pid 1 in a container) is stale', async () => {
      writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: process.pid, start: 1, host: hostname(), token: 'old' }));
      await openStore();
    });

    it('a lock file without a holder is not taken over', async () => {
      writeFileSync(join(dir, 'lock'), 'garbage');
      await assert.rejects(new FileStore({ dir, retain: 10 }).open(), { code: 'ELOCKED' });
    });
  });

  describe('read gate', () => {
    it('lets at most `limit` in at once, the others in arrival order', async () => {
      const gate = new Gate(2);
      let inside = 0;
      let most = 0;
      const order: number[] = [];
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        await gate.enter();
        inside++;
        most = Math.max(most, inside);
        order.push(i);
        await new Promise((r) => setImmediate(r));
        inside--;
        gate.release();
      }));
      assert.equal(most, 2);
      assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });

  describe('property: agrees with a simple model', () => {
    it('random appends, duplicates, reopens, compactions and reads', async function () {
      this.timeout(60_000);
      const rooms = [ROOM_A, ROOM_B, b64u(16)];
      const idPool = Array.from({ length: 6 }, newId);
      type Op =
        | { k: 'append'; room: number; id: number; fresh: boolean; body: string; concurrent: number }
        | { k: 'reopen'; checkpoint: boolean }
        | { k: 'compact' }
        | { k: 'range'; room: number; after: number; before: number; limit: number };
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 8, arbitrary: fc.record({ k: fc.constant('append' as const), room: fc.nat(2), id: fc.nat(5), fresh: fc.boolean(), body: fc.string({ maxLength: 300 }), concurrent: fc.integer({ min: 1, max: 4 }) }) },
        { weight: 2, arbitrary: fc.record({ k: fc.constant('reopen' as const), checkpoint: fc.boolean() }) },
        { weight: 1, arbitrary: fc.constant({ k: 'compact' as const }) },
        { weight: 3, arbitrary: fc.record({ k: fc.constant('range' as const), room: fc.nat(2), after: fc.nat(40), before: fc.nat(60), limit: fc.integer({ min: 0, max: 20 }) }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), async (ops, retain) => {
          dir = mkdtempSync(join(root, 'run-'));
          const model = rooms.map(() => [] as Array<{ id: string; body: string; ts: number }>);
          let s = await openStore({ retain, segmentBytes: 4096 });
          for (const o of ops) {
            if (o.k === 'reopen') {
              await s.close();
              // Without the checkpoint, recovery reads the whole log (as after a crash).
              if (!o.checkpoint) rmSync(join(dir, 'index.ckpt'));
              s = await openStore({ retain, segmentBytes: 4096 });
            } else if (o.k === 'compact') {
              await s.compactNow();
            } else if (o.k === 'append') {
              const msgs = model[o.room] as Array<{ id: string; body: string; ts: number }>;
              const id = o.fresh ? newId() : (idPool[o.id] as string);
              const results = await Promise.all(Array.from({ length: o.concurrent }, () => s.append(rooms[o.room] as string, id, o.body)));
              const retained = msgs.slice(-retain);
              const at = retained.findIndex((m) => m.id === id);
              const [first, ...dups] = results;
              if (at >= 0) {
                const seq = msgs.length - retained.length + at + 1;
                for (const r of results) assert.deepEqual(r, { seq, ts: retained[at]?.ts, duplicate: true });
              } else {
                assert.deepEqual([first?.seq, first?.duplicate], [msgs.length + 1, false]);
                for (const r of dups) assert.deepEqual(r, { seq: first?.seq, ts: first?.ts, duplicate: true });
                msgs.push({ id, body: o.body, ts: first?.ts as number });
              }
            } else {
              const msgs = model[o.room] as Array<{ id: string; body: string; ts: number }>;
              const head = msgs.length;
              const oldest = Math.max(1, head - retain + 1);
              const room = rooms[o.room] as string;
              assert.equal(s.head(room), head);
              assert.equal(s.oldest(room), head === 0 ? 1 : oldest);
              const want: Array<{ seq: number; ts: number; id: string; body: string }> = [];
              for (let seq = Math.max(o.after + 1, oldest); seq < Math.min(o.before, head + 1); seq++) {
                const m = msgs[seq - 1] as { id: string; body: string; ts: number };
                want.push({ seq, ts: m.ts, id: m.id, body: m.body });
              }
              assert.deepEqual(await s.range(room, o.after, o.before, o.limit), want.slice(Math.max(0, want.length - o.limit)));
            }
          }
          await s.close();
        }),
        { numRuns: 40 },
      );
    });
  });
});
