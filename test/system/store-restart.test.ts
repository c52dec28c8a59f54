// Dedup of the store across processes (PROTOCOL.md §1.5 idempotence; docs/storage.md "Dedup",
// "Checkpoint"; issue 7 §1.1): the index checkpoint holds a hash of each retained id, so a store
// opened by another process must find those ids with the hashes it loads. Each case stores
// messages in child processes (the real FileStore, a clean close or a SIGKILL), then this
// process opens the directory and appends every id again: each must be a duplicate with its
// original seq and ts. Also: a checkpoint that is old, damaged or inconsistent with the log is
// never used (the log is scanned), and a compaction removes the checkpoint before it changes a
// segment file.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FileStore } from '../../src/relay/store/fileStore';
import { CHECKPOINT_FILE } from '../../src/relay/store/checkpoint';

const newId = (): string => randomBytes(16).toString('base64url');
const ROOMS = [newId(), newId(), newId()];

interface Stored { room: string; id: string; seq: number; ts: number }
interface LogLine { event: string; fields?: Record<string, unknown> }

describe('FileStore across processes: dedup after every kind of restart', function () {
  this.timeout(60_000);
  let dir: string;
  let logs: LogLine[];
  const open: FileStore[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-store-restart-'));
    logs = [];
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(retain = 10_000, segmentBytes = 4096): Promise<FileStore> {
    const s = new FileStore({ dir, retain, segmentBytes, log: (event, fields) => logs.push({ event, fields }) });
    await s.open();
    open.push(s);
    return s;
  }

  /**
   * Runs `work` in a child process with the store open (`s`, `ROOMS`, `newId`, `stored` in
   * scope; what it pushes to `stored` is returned), then closes it cleanly or SIGKILLs itself.
   */
  function inChild(end: 'close' | 'kill', work: string, opts: { retain?: number; segmentBytes?: number } = {}): Stored[] {
    const storePath = join(__dirname, '../../src/relay/store/fileStore.js');
    const out = join(dir, `child-${randomBytes(4).toString('hex')}.json`);
    const code = `const { FileStore } = require(${JSON.stringify(storePath)});
      const fs = require('node:fs');
      const ROOMS = ${JSON.stringify(ROOMS)};
      const newId = () => require('node:crypto').randomBytes(16).toString('base64url');
      const stored = [];
      const note = (room, id, r) => { stored.push({ room, id, seq: r.seq, ts: r.ts }); fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify(stored)); };
      (async () => {
        const s = new FileStore({ dir: ${JSON.stringify(dir)}, retain: ${opts.retain ?? 10_000}, segmentBytes: ${opts.segmentBytes ?? 4096} });
        await s.open();
        ${work}
        fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify(stored));
        if (${JSON.stringify(end)} === 'close') await s.close();
        else process.kill(process.pid, 'SIGKILL');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    if (end === 'kill') assert.equal(child.signal, 'SIGKILL', child.stderr);
    else assert.equal(child.status, 0, child.stderr);
    return JSON.parse(readFileSync(out, 'utf8')) as Stored[];
  }

  /** `count` appends spread over the rooms, in groups of ten in flight. */
  const appendMany = (count: number): string => `
    for (let i = 0; i < ${count}; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, ${count} - i) }, async (_, k) => {
        const room = ROOMS[(i + k) % ROOMS.length]; const id = newId();
        note(room, id, await s.append(room, id, 'b'.repeat(40 + k)));
      }));
    }`;

  /** Every message appended again: a duplicate with its original seq and ts, nothing stored. */
  async function assertAllDuplicates(s: FileStore, stored: Stored[]): Promise<void> {
    const heads = ROOMS.map((r) => s.head(r));
    for (const m of stored) {
      assert.deepEqual(await s.append(m.room, m.id, 'resent'), { seq: m.seq, ts: m.ts, duplicate: true }, `${m.id} (seq ${m.seq}) was not found`);
    }
    assert.deepEqual(ROOMS.map((r) => s.head(r)), heads, 'a resent id was stored again');
  }

  const events = (name: string): LogLine[] => logs.filter((l) => l.event === name);

  it('after a clean close in another process (the checkpoint is loaded)', async () => {
    const stored = inChild('close', appendMany(60));
    const s = await openStore();
    assert.equal(events('store.checkpoint_loaded').length, 1);
    await assertAllDuplicates(s, stored);
  });

  it('after a crash in another process (the log is scanned)', async () => {
    const stored = inChild('kill', appendMany(60));
    const s = await openStore();
    assert.equal(events('store.checkpoint_loaded').length, 0);
    await assertAllDuplicates(s, stored);
  });

  it('after a checkpoint and records appended after it by a later process that crashed', async () => {
    const big = { segmentBytes: 1 << 20 };
    const stored = inChild('close', appendMany(30), big);
    stored.push(...inChild('kill', appendMany(30), big));
    const s = await openStore(10_000, big.segmentBytes);
    const loaded = events('store.checkpoint_loaded');
    assert.equal(loaded.length, 1);
    assert.ok((loaded[0]?.fields?.tailBytes as number) > 0);
    await assertAllDuplicates(s, stored);
    // And again after this process's own clean close, and a close without appends in between.
    await s.close();
    await assertAllDuplicates(await openStore(), stored);
    await (open.pop() as FileStore).close();
    await assertAllDuplicates(await openStore(), stored);
  });

  it('after a compaction, then a crash (scan) and a clean close (checkpoint), for every retained message', async () => {
    const retain = 12;
    const all = inChild('kill', `${appendMany(150)}\n await s.compactNow();`, { retain });
    const retained = ROOMS.flatMap((room) => all.filter((m) => m.room === room).slice(-retain));
    const s = await openStore(retain);
    await assertAllDuplicates(s, retained);
    await s.close();
    const more = inChild('close', `${appendMany(30)}\n await s.compactNow();`, { retain });
    const retained2 = ROOMS.flatMap((room) => [...all, ...more].filter((m) => m.room === room).slice(-retain));
    const s2 = await openStore(retain);
    assert.equal(events('store.checkpoint_loaded').length, 1);
    await assertAllDuplicates(s2, retained2);
  });

  it('a checkpoint is removed before a compaction changes any segment file', async () => {
    inChild('close', appendMany(30), { retain: 5 });
    const s = await openStore(5);
    assert.equal(events('store.checkpoint_loaded').length, 1);
    assert.ok(existsSync(join(dir, CHECKPOINT_FILE)));
    for (let i = 0; i < 100; i++) await s.append(ROOMS[0] as string, newId(), 'x'.repeat(200));
    await s.compactNow();
    assert.ok(events('store.compacted').length > 0);
    assert.ok(!existsSync(join(dir, CHECKPOINT_FILE)), 'a checkpoint older than the compaction is still there');
  });

  describe('a checkpoint that cannot be trusted is not used, and dedup holds after the scan', () => {
    /** The checkpoint's bytes with `edit` applied to its content and its CRC made valid again. */
    function rewriteCheckpoint(edit: (content: Buffer) => Buffer): void {
      const file = join(dir, CHECKPOINT_FILE);
      const buf = readFileSync(file);
      const content = edit(Buffer.from(buf.subarray(0, buf.length - 4)));
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(crc32(content));
      writeFileSync(file, Buffer.concat([content, crc]));
    }

    it('an old-format checkpoint (SMCIDX1, written with seeds nobody knows)', async () => {
      const stored = inChild('close', appendMany(40));
      // The version-1 layout is version 2 without the seed: drop it and put the old magic back.
      rewriteCheckpoint((c) => Buffer.concat([Buffer.from('SMCIDX1\n', 'latin1'), c.subarray(16)]));
      const s = await openStore();
      assert.match(String(events('store.checkpoint_unused')[0]?.fields?.reason), /format/);
      await assertAllDuplicates(s, stored);
    });

    it('a checkpoint whose id hashes do not match its records (another seed, checksum valid)', async () => {
      const stored = inChild('close', appendMany(40));
      rewriteCheckpoint((c) => {
        c[8] = (c[8] as number) ^ 0x5a;
        return c;
      });
      const s = await openStore();
      assert.match(String(events('store.checkpoint_unused')[0]?.fields?.reason), /hash/);
      await assertAllDuplicates(s, stored);
    });

    it('a checkpoint with a damaged checksum, or cut short', async () => {
      const stored = inChild('close', appendMany(40));
      const file = join(dir, CHECKPOINT_FILE);
      const good = readFileSync(file);
      const bad = Buffer.from(good);
      bad[40] = (bad[40] as number) ^ 1;
      writeFileSync(file, bad);
      const s = await openStore();
      assert.match(String(events('store.checkpoint_unused')[0]?.fields?.reason), /checksum/);
      await assertAllDuplicates(s, stored);
      await (open.pop() as FileStore).close();
      writeFileSync(file, good.subarray(0, 30));
      const s2 = await openStore();
      assert.equal(events('store.checkpoint_loaded').length, 0);
      await assertAllDuplicates(s2, stored);
    });
  });
});
