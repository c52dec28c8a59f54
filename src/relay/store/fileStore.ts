// The relay's embedded durable store (issue 2 §2 "Storage"; docs/storage.md): an append-only
// log of checksummed binary records in segment files, group commit, recovery that keeps every
// intact record, retention with background compaction, and a directory lock. Memory holds an
// index of where each retained message lies, never a body (PROTOCOL.md §1.6).

import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AppendResult, MessageStore, StoredMessage } from './types';
import { DirLock } from './lock';
import { RoomIndex } from './roomIndex';
import { hashId, hashOut } from './idHash';
import { Segment, SEGMENT_HEADER, parseSegmentName, segmentName } from './segment';
import { scanSegment } from './scan';
import { Compactor, COMPACT_SUFFIX } from './compactor';
import { type Checkpoint, CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from './checkpoint';
import {
  checkEncodable, decodeRecord, encodeRecord, idSpan, MAX_KEY_BYTES, MAX_SEQ, recordLength,
  recordIntact, roomOf, roomSpan, SEGMENT_MAGIC, seqOf, tsOf,
} from './record';
import {
  closeFd, describeError, fdatasync, fstatIno, fstatSize, ftruncate, openFd, readFully, syncDir, writeAll,
} from './fsUtil';

export type StoreLog = (event: string, fields?: Record<string, unknown>) => void;

export interface FileStoreOptions {
  /** The data directory; created (mode 0700) if missing. */
  dir: string;
  /** Messages kept per room at least (§1.6 `retain`, ≥ 1). */
  retain: number;
  log?: StoreLog;
  /** Size at which the log moves on to a new segment file (default 64 MiB). */
  segmentBytes?: number;
}

/** Counters for tests, benchmarks and operators. */
export interface StoreStats {
  /** Disk syncs of the log (each one commits a whole group of appends). */
  syncs: number;
  /** Records written by appends. */
  appended: number;
  segments: number;
  diskBytes: number;
  liveBytes: number;
  rooms: number;
  messages: number;
  /** Bytes of typed arrays held by the index and the dedup tables. */
  indexBytes: number;
  compactions: number;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Adjacent records closer than this are fetched by one read in range(). */
const READ_MERGE_GAP = 64 * 1024;
const READ_MAX_SPAN = 1024 * 1024;
const READ_PARALLEL = 8;
/** A group commit writes at most about this much: bounds the write buffer and a group's latency. */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

/** An append that is not yet durable: queued, being written, or being checked for a duplicate. */
interface Pending {
  key: string;
  room: string;
  id: string;
  body: string;
  length: number;
  hashHi: number;
  hashLo: number;
  /** The first waiter is the original append; later ones are duplicates of it (§1.5). */
  waiters: Waiter[];
  seq: number;
  ts: number;
  offset: number;
}

/** Error of an append that could not be stored; the relay answers `internal` (§1.5). */
export class StoreWriteError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'StoreWriteError';
  }
}

export class FileStore implements MessageStore {
  private readonly dir: string;
  private readonly retain: number;
  private readonly log: StoreLog;
  private readonly segmentBytes: number;
  private state: 'new' | 'opening' | 'open' | 'closing' | 'closed' = 'new';
  private lock: DirLock | undefined;
  private readonly rooms = new Map<string, RoomIndex>();
  /** Segments of the log in file order; the last one is the active one. */
  private segments: Segment[] = [];
  private readonly segById = new Map<number, Segment>();
  /** Appends not yet durable, by room and id: a duplicate waits for its first copy (§1.5). */
  private readonly pending = new Map<string, Pending>();
  private queue: Pending[] = [];
  private committing = false;
  private commitScheduled = false;
  /** Set after a failed write until the active segment is cut back to its last synced size. */
  private needsRepair = false;
  private idleWaiters: Array<() => void> = [];
  private readonly scratch = Buffer.allocUnsafe(MAX_KEY_BYTES * 4);
  private compactor: Compactor | undefined;
  private counters = { syncs: 0, appended: 0 };
  /** Seq gaps seen during recovery, reported once retention is applied. */
  private recoveryGaps: Array<{ idx: RoomIndex; from: number; to: number }> = [];
  /** Recovery's room lookup by a hash of the room's bytes. */
  private readonly recoveryRooms = new Map<number, { idx: RoomIndex; bytes: Buffer }>();
  private closing: Promise<void> | undefined;

  constructor(options: { dir: string; retain: number; log?: StoreLog; segmentBytes?: number }) {
    this.dir = resolve(options.dir);
    if (!Number.isSafeInteger(options.retain) || options.retain < 1) throw new RangeError(`retain must be an integer ≥ 1, got ${options.retain}`);
    this.retain = options.retain;
    this.log = options.log ?? (() => undefined);
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(this.segmentBytes) || this.segmentBytes < 4096 || this.segmentBytes > 2 ** 31) {
      throw new RangeError(`segmentBytes must be between 4096 and 2^31, got ${this.segmentBytes}`);
    }
  }

  // ---- open and recovery ------------------------------------------------------------------

  async open(): Promise<void> {
    if (this.state !== 'new') throw new Error(`store already ${this.state}`);
    this.state = 'opening';
    const started = process.hrtime.bigint();
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.lock = await DirLock.acquire(this.dir);
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    try {
      await this.recover();
    } catch (err) {
      await this.closeFiles();
      await this.lock.release();
      this.state = 'closed';
      throw err;
    }
    this.compactor = new Compactor({
      dir: this.dir,
      segmentBytes: this.segmentBytes,
      log: this.log,
      segments: () => this.segments,
      rooms: this.rooms,
      replace: (oldSegs, replacement) => this.replaceSegments(oldSegs, replacement),
    });
    this.state = 'open';
    const s = this.stats();
    this.log('store.open', {
      dir: this.dir, segments: s.segments, rooms: s.rooms, messages: s.messages, diskBytes: s.diskBytes,
      ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
    });
    this.compactor.schedule();
  }

  private async recover(): Promise<void> {
    const names = await fsp.readdir(this.dir);
    const fileNos: number[] = [];
    for (const name of names) {
      if (name === CHECKPOINT_FILE + '.tmp') {
        await fsp.unlink(join(this.dir, name));
        continue;
      }
      if (name.endsWith(COMPACT_SUFFIX)) {
        // An unfinished compaction: its source segments are intact, the output is not needed.
        await fsp.unlink(join(this.dir, name));
        this.log('store.compaction_discarded', { file: name });
        continue;
      }
      const no = parseSegmentName(name);
      if (no !== undefined) fileNos.push(no);
    }
    fileNos.sort((a, b) => a - b);
    const loaded = await this.loadCheckpoint(fileNos);
    for (const [i, fileNo] of fileNos.entries()) {
      if (i >= loaded) await this.recoverSegment(fileNo, i === fileNos.length - 1);
    }
    if (this.segments.length === 0) await this.createSegment(1);
    for (const idx of this.rooms.values()) {
      idx.trim(this.retain, this.dropped);
      idx.rebuildDedup();
    }
    // Seqs missing inside what is retained were lost to a corrupt region; older gaps are only
    // dead records that compaction already removed.
    for (const { idx, from, to } of this.recoveryGaps) {
      if (to >= idx.oldest) this.log('store.seq_gap', { room: idx.room, missingFrom: Math.max(from, idx.oldest), missingTo: to });
    }
    this.recoveryGaps = [];
    this.recoveryRooms.clear();
  }

  /**
   * Loads the index checkpoint if it still describes the first segments of the log, and scans
   * what was appended to its last segment since. Returns how many segments it covered (0 when
   * there is no usable checkpoint: recovery then reads the whole log).
   */
  private async loadCheckpoint(fileNos: number[]): Promise<number> {
    const cp = await readCheckpoint(this.dir);
    if (cp === undefined) return 0;
    const stale = typeof cp === 'string' ? cp : await this.checkpointMismatch(cp, fileNos);
    if (stale !== undefined || typeof cp === 'string') {
      this.log('store.checkpoint_unused', { reason: stale });
      return 0;
    }
    const ids: number[] = [];
    const sizes: number[] = [];
    for (const c of cp.segments) {
      const fd = await openFd(join(this.dir, segmentName(c.fileNo)), 'r+');
      const seg = new Segment(c.fileNo, fd, c.size);
      this.addSegment(seg);
      ids.push(seg.id);
      sizes.push(await fstatSize(fd));
    }
    for (const r of cp.rooms) {
      const segs = new Uint32Array(r.segIdx.length);
      for (let k = 0; k < segs.length; k++) {
        const len = r.lens[k] as number;
        if (len === 0) continue;
        const at = r.segIdx[k] as number;
        segs[k] = ids[at] as number;
        (this.segments[at] as Segment).liveBytes += len;
      }
      this.rooms.set(r.room, RoomIndex.restore(r.room, r.oldest, segs, r.offs, r.lens, r.hashHi, r.hashLo));
    }
    // Records appended to the last covered segment after the checkpoint are checked as usual.
    const last = this.segments[this.segments.length - 1] as Segment;
    const actual = sizes[sizes.length - 1] as number;
    if (actual > last.size) {
      const from = last.size;
      last.size = actual;
      await this.scanInto(last, from, actual);
    }
    this.log('store.checkpoint_loaded', { segments: cp.segments.length, rooms: cp.rooms.length, tailBytes: actual - (cp.segments[cp.segments.length - 1] as { size: number }).size });
    return cp.segments.length;
  }

  /** Why a checkpoint does not describe the log on disk, or undefined when it does. */
  private async checkpointMismatch(cp: Checkpoint, fileNos: number[]): Promise<string | undefined> {
    if (cp.retain < this.retain) return `retain raised from ${cp.retain} to ${this.retain}`;
    if (cp.segments.length === 0 || cp.segments.length > fileNos.length) return 'segments missing';
    for (const [i, c] of cp.segments.entries()) {
      if (fileNos[i] !== c.fileNo) return `segment ${segmentName(c.fileNo)} missing`;
      const st = await fsp.stat(join(this.dir, segmentName(c.fileNo)), { bigint: true });
      if (st.ino !== c.ino) return `segment ${segmentName(c.fileNo)} was replaced`;
      const lastCovered = i === cp.segments.length - 1;
      if (lastCovered ? Number(st.size) < c.size : Number(st.size) !== c.size) return `segment ${segmentName(c.fileNo)} changed size`;
    }
    return undefined;
  }

  /** Writes the index checkpoint (on a clean close, when every append is durable). */
  private async writeIndexCheckpoint(): Promise<void> {
    const started = process.hrtime.bigint();
    const place = new Map<number, number>();
    const segments: Checkpoint['segments'] = [];
    for (const [i, seg] of this.segments.entries()) {
      place.set(seg.id, i);
      segments.push({ fileNo: seg.fileNo, size: seg.size, ino: await fstatIno(seg.fd) });
    }
    const rooms: Checkpoint['rooms'] = [];
    for (const idx of this.rooms.values()) rooms.push({ room: idx.room, ...idx.snapshot((id) => place.get(id) ?? 0) });
    await writeCheckpoint(this.dir, { retain: this.retain, segments, rooms });
    this.log('store.checkpoint_written', { rooms: rooms.length, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6) });
  }

  private async recoverSegment(fileNo: number, last: boolean): Promise<void> {
    const name = segmentName(fileNo);
    const path = join(this.dir, name);
    const fd = await openFd(path, 'r+');
    const size = await fstatSize(fd);
    if (size < SEGMENT_HEADER) {
      // A segment whose creation was cut short holds no record.
      if (size > 0) await this.keepAside(fd, 0, size, `torn-${fileNo}-${Date.now()}.bin`);
      if (!last) {
        await closeFd(fd);
        await fsp.unlink(path);
        await syncDir(this.dir);
        this.log('store.empty_segment_removed', { file: name });
        return;
      }
      await ftruncate(fd, 0);
      await writeAll(fd, SEGMENT_MAGIC, 0);
      await fdatasync(fd);
      this.addSegment(new Segment(fileNo, fd, SEGMENT_HEADER));
      return;
    }
    const header = Buffer.alloc(SEGMENT_HEADER);
    await readFully(fd, header, 0, SEGMENT_HEADER, 0);
    if (!header.equals(SEGMENT_MAGIC)) this.log('store.bad_segment_header', { file: name });
    const seg = new Segment(fileNo, fd, size);
    this.addSegment(seg);
    await this.scanInto(seg, SEGMENT_HEADER, size);
  }

  /**
   * Checks and indexes the records in bytes `from..size` of a segment; cuts a torn tail and
   * keeps it aside; copies a corrupt region aside (once) and skips it.
   */
  private async scanInto(seg: Segment, from: number, size: number): Promise<void> {
    const { fd, fileNo, name } = seg;
    const bad: Array<{ start: number; end: number; tail: boolean }> = [];
    await scanSegment(fd, from, size, {
      record: (buf, off, length, fileOffset) => this.indexRecovered(seg, buf, off, length, fileOffset),
      bad: (start, badEnd, tail) => bad.push({ start, end: badEnd, tail }),
    });
    for (const b of bad) {
      if (b.tail) {
        const keptAs = `torn-${fileNo}-${Date.now()}.bin`;
        await this.keepAside(fd, b.start, b.end, keptAs);
        await ftruncate(fd, b.start);
        await fdatasync(fd);
        seg.size = b.start;
        this.log('store.torn_tail', { file: name, offset: b.start, bytes: b.end - b.start, keptAs });
      } else {
        // Kept in place (compaction drops it later) and copied aside once for inspection.
        const keptAs = `corrupt-${fileNo}-${b.start}.bin`;
        const exists = await fsp.access(join(this.dir, keptAs)).then(() => true, () => false);
        if (!exists) await this.keepAside(fd, b.start, b.end, keptAs);
        this.log('store.corrupt_region', { file: name, offset: b.start, bytes: b.end - b.start, keptAs });
      }
    }
  }

  private addSegment(seg: Segment): void {
    this.segments.push(seg);
    this.segById.set(seg.id, seg);
  }

  /** Adds one intact record found by recovery to the index. */
  private indexRecovered(seg: Segment, buf: Buffer, off: number, length: number, fileOffset: number): void {
    const seq = seqOf(buf, off);
    // Find the room by a hash of its bytes, so that most records need no string decoding.
    const [roomStart, roomEnd] = roomSpan(buf, off);
    hashId(buf, roomStart, roomEnd);
    const cached = this.recoveryRooms.get(hashOut.lo);
    let idx: RoomIndex | undefined;
    if (cached !== undefined && cached.bytes.compare(buf, roomStart, roomEnd) === 0) {
      idx = cached.idx;
    } else {
      const room = roomOf(buf, off);
      idx = this.rooms.get(room);
      if (idx === undefined) {
        idx = new RoomIndex(room);
        this.rooms.set(room, idx);
      }
      this.recoveryRooms.set(hashOut.lo, { idx, bytes: Buffer.from(buf.subarray(roomStart, roomEnd)) });
    }
    if (idx.count > 0 && seq <= idx.head) {
      // A second copy, left by a compaction that stopped between its rename and its deletes.
      return;
    }
    if (idx.count > 0 && seq > idx.head + 1) {
      if (seq - idx.head - 1 >= this.retain) {
        // Everything indexed so far is older than what retention keeps once `seq` is in: these
        // are dead records in a segment that compaction has not rewritten yet.
        idx.trim(0, this.dropped);
      } else {
        this.recoveryGaps.push({ idx, from: idx.head + 1, to: seq - 1 });
      }
    }
    const [idStart, idEnd] = idSpan(buf, off);
    hashId(buf, idStart, idEnd);
    // The dedup table is built once per room when recovery ends.
    idx.push(seq, seg.id, fileOffset, length, hashOut.hi, hashOut.lo, false);
    seg.liveBytes += length;
    // Bound the index while recovering a room with far more records than it retains.
    if (idx.count >= this.retain * 2) idx.trim(this.retain, this.dropped);
  }

  private readonly dropped = (segId: number, len: number): void => {
    const seg = this.segById.get(segId);
    if (seg !== undefined) seg.liveBytes -= len;
  };

  /** Copies bytes start..end of a segment into `<dir>/<name>`, durably. */
  private async keepAside(fd: number, start: number, end: number, name: string): Promise<void> {
    const buf = Buffer.allocUnsafe(end - start);
    const got = await readFully(fd, buf, 0, end - start, start);
    const out = await openFd(join(this.dir, name), 'w');
    try {
      await writeAll(out, buf.subarray(0, got), 0);
      await fdatasync(out);
    } finally {
      await closeFd(out);
    }
    await syncDir(this.dir);
  }

  private async createSegment(fileNo: number): Promise<Segment> {
    const path = join(this.dir, segmentName(fileNo));
    const fd = await openFd(path, 'wx+');
    try {
      await writeAll(fd, SEGMENT_MAGIC, 0);
      await fdatasync(fd);
      await syncDir(this.dir);
    } catch (err) {
      await closeFd(fd).catch(() => undefined);
      await fsp.unlink(path).catch(() => undefined);
      throw err;
    }
    const seg = new Segment(fileNo, fd, SEGMENT_HEADER);
    this.addSegment(seg);
    return seg;
  }

  /** The segment appends go to: the last one (recovery always leaves at least one). */
  private get active(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  // ---- append and group commit ------------------------------------------------------------

  append(room: string, id: string, body: string): Promise<AppendResult> {
    return new Promise<AppendResult>((resolvePromise, rejectPromise) => {
      const waiter: Waiter = { resolve: resolvePromise, reject: rejectPromise };
      if (this.state !== 'open') {
        rejectPromise(new StoreWriteError(`store is ${this.state === 'closing' ? 'closing' : 'not open'}`, 'ECLOSED'));
        return;
      }
      const key = room + '\u0000' + id;
      const first = this.pending.get(key);
      if (first !== undefined) {
        first.waiters.push(waiter);
        return;
      }
      const roomBytes = Buffer.byteLength(room, 'utf8');
      const idBytes = Buffer.byteLength(id, 'utf8');
      const bodyBytes = Buffer.byteLength(body, 'utf8');
      const problem = checkEncodable(roomBytes, idBytes, bodyBytes, 1, Date.now());
      if (problem !== undefined) {
        rejectPromise(new StoreWriteError(`cannot store message: ${problem}`, 'EINVAL'));
        return;
      }
      this.scratch.write(id, 0, 'utf8');
      hashId(this.scratch, 0, idBytes);
      const p: Pending = {
        key, room, id, body, length: recordLength(roomBytes, idBytes, bodyBytes),
        hashHi: hashOut.hi, hashLo: hashOut.lo, waiters: [waiter], seq: 0, ts: 0, offset: 0,
      };
      this.pending.set(key, p);
      const idx = this.rooms.get(room);
      const candidates = idx === undefined ? [] : idx.findByHash(p.hashHi, p.hashLo);
      if (candidates.length === 0) {
        this.enqueue(p);
      } else {
        void this.checkDuplicate(p, idx as RoomIndex, candidates);
      }
    });
  }

  /** A hash hit: read the candidates' ids from disk; a real match is a duplicate (§1.5). */
  private async checkDuplicate(p: Pending, idx: RoomIndex, candidates: number[]): Promise<void> {
    try {
      const found = await this.readSeqs(idx, candidates);
      const match = found.find((m) => m.id === p.id);
      if (match === undefined) {
        this.enqueue(p);
        return;
      }
      this.pending.delete(p.key);
      for (const w of p.waiters) w.resolve({ seq: match.seq, ts: match.ts, duplicate: true });
    } catch (err) {
      this.pending.delete(p.key);
      const { code, message } = describeError(err);
      this.log('store.read_error', { op: 'dedup', code, message });
      for (const w of p.waiters) w.reject(new StoreWriteError(`cannot check for a duplicate: ${message}`, code));
    }
    this.notifyIdle();
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    if (!this.committing && !this.commitScheduled) {
      this.commitScheduled = true;
      // setImmediate, not a microtask: every append that arrives in this turn of the event loop
      // (e.g. all frames of one socket read) joins the same group.
      setImmediate(() => void this.commit());
    }
  }

  private async commit(): Promise<void> {
    this.commitScheduled = false;
    if (this.committing || this.queue.length === 0) return;
    this.committing = true;
    // One group takes what has arrived, up to MAX_GROUP_BYTES; the rest forms the next group.
    let take = 0;
    let bytes = 0;
    while (take < this.queue.length && (take === 0 || bytes < MAX_GROUP_BYTES)) bytes += (this.queue[take++] as Pending).length;
    const batch = take === this.queue.length ? this.queue : this.queue.slice(0, take);
    this.queue = take === this.queue.length ? [] : this.queue.slice(take);
    try {
      await this.writeBatch(batch);
    } catch (err) {
      await this.failBatch(batch, err);
    }
    this.committing = false;
    if (this.queue.length > 0) {
      this.commitScheduled = true;
      setImmediate(() => void this.commit());
    }
    this.notifyIdle();
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.needsRepair) await this.repair();
    let total = 0;
    for (const p of batch) total += p.length;
    if (this.active.size > SEGMENT_HEADER && this.active.size + total > this.segmentBytes) {
      await this.createSegment(this.active.fileNo + 1);
      this.log('store.segment_rolled', { file: this.active.name });
      this.compactor?.schedule();
    }
    const seg = this.active;
    const buf = Buffer.allocUnsafe(total);
    const ts = Date.now();
    // Seqs are given here, when no other batch is in flight, so a failed batch leaves no hole.
    const next = new Map<string, number>();
    let pos = 0;
    for (const p of batch) {
      const seq = (next.get(p.room) ?? this.head(p.room)) + 1;
      if (seq > MAX_SEQ) throw new StoreWriteError(`room is full (seq ${MAX_SEQ})`, 'EFBIG');
      next.set(p.room, seq);
      p.seq = seq;
      p.ts = ts;
      p.offset = seg.size + pos;
      pos += encodeRecord(buf, pos, p);
    }
    try {
      await writeAll(seg.fd, buf, seg.size);
      await fdatasync(seg.fd);
    } catch (err) {
      this.needsRepair = true;
      throw err;
    }
    this.counters.syncs++;
    this.counters.appended += batch.length;
    seg.size += total;
    // Durable: publish in order, then answer. Only now do head and range see these seqs.
    const touched = new Set<RoomIndex>();
    for (const p of batch) {
      let idx = this.rooms.get(p.room);
      if (idx === undefined) {
        idx = new RoomIndex(p.room);
        this.rooms.set(p.room, idx);
      }
      idx.push(p.seq, seg.id, p.offset, p.length, p.hashHi, p.hashLo);
      seg.liveBytes += p.length;
      touched.add(idx);
    }
    for (const idx of touched) idx.trim(this.retain, this.dropped);
    for (const p of batch) {
      this.pending.delete(p.key);
      // The first waiter is the original append; later ones are duplicates of it (§1.5).
      p.waiters.forEach((w, i) => w.resolve({ seq: p.seq, ts: p.ts, duplicate: i > 0 }));
    }
    this.compactor?.noteDrops();
  }

  private async failBatch(batch: Pending[], err: unknown): Promise<void> {
    const { code, message } = describeError(err);
    this.log('store.write_error', { code, message, messages: batch.length });
    for (const p of batch) {
      this.pending.delete(p.key);
      for (const w of p.waiters) w.reject(new StoreWriteError(`cannot store message: ${message}`, code));
    }
    if (this.needsRepair) {
      try {
        await this.repair();
      } catch {
        // Logged by repair(); the next batch tries again.
      }
    }
  }

  /**
   * Cuts the active segment back to the end of its last synced record after a failed write, so
   * that no half-written or unsynced record can surface at the next recovery.
   */
  private async repair(): Promise<void> {
    const seg = this.active;
    try {
      await ftruncate(seg.fd, seg.size);
      await fdatasync(seg.fd);
      this.needsRepair = false;
      this.log('store.repaired', { file: seg.name, size: seg.size });
    } catch (err) {
      const { code, message } = describeError(err);
      this.log('store.repair_failed', { file: seg.name, code, message });
      throw err;
    }
  }

  // ---- reads ------------------------------------------------------------------------------

  head(room: string): number {
    return this.rooms.get(room)?.head ?? 0;
  }

  oldest(room: string): number {
    return this.rooms.get(room)?.oldest ?? 1;
  }

  async range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]> {
    const idx = this.rooms.get(room);
    if (idx === undefined || limit <= 0 || this.state === 'closed') return [];
    let lo = Math.max(after + 1, idx.oldest);
    const hi = Math.min(before - 1, idx.head);
    if (hi < lo) return [];
    if (hi - lo + 1 > limit) lo = hi - limit + 1;
    const seqs: number[] = [];
    for (let s = lo; s <= hi; s++) if (idx.has(s)) seqs.push(s);
    const found = await this.readSeqs(idx, seqs);
    return found.map(({ seq, ts, id, body }) => ({ seq, ts, id, body }));
  }

  /**
   * Reads the records of `seqs` (ascending, present) of a room. Records close together in one
   * segment are fetched by one read. A record that fails its CRC is logged and left out.
   */
  private async readSeqs(idx: RoomIndex, seqs: number[]): Promise<Array<{ seq: number; ts: number; id: string; body: string }>> {
    interface Run { seg: Segment; start: number; end: number; items: Array<{ seq: number; off: number; len: number }> }
    const runs: Run[] = [];
    let run: Run | undefined;
    for (const seq of seqs) {
      if (!idx.has(seq)) continue;
      const seg = this.segById.get(idx.segOf(seq));
      if (seg === undefined) continue;
      const off = idx.offOf(seq);
      const len = idx.lenOf(seq);
      if (run !== undefined && run.seg === seg && off >= run.end && off - run.end <= READ_MERGE_GAP && off + len - run.start <= READ_MAX_SPAN) {
        run.end = off + len;
        run.items.push({ seq, off, len });
      } else {
        run = { seg, start: off, end: off + len, items: [{ seq, off, len }] };
        runs.push(run);
      }
    }
    // Take every reference before the first await: compaction may retire a segment meanwhile.
    for (const r of runs) r.seg.acquire();
    const out: Array<{ seq: number; ts: number; id: string; body: string }> = [];
    try {
      // Up to READ_PARALLEL reads at once (the fs thread pool serves them side by side).
      const bufs: Array<{ buf: Buffer; got: number } | undefined> = new Array(runs.length);
      let next = 0;
      const reader = async (): Promise<void> => {
        while (next < runs.length) {
          const k = next++;
          const r = runs[k] as Run;
          const buf = Buffer.allocUnsafe(r.end - r.start);
          bufs[k] = { buf, got: await readFully(r.seg.fd, buf, 0, r.end - r.start, r.start) };
        }
      };
      await Promise.all(Array.from({ length: Math.min(READ_PARALLEL, runs.length) }, reader));
      for (const [k, r] of runs.entries()) {
        const { buf, got } = bufs[k] as { buf: Buffer; got: number };
        for (const it of r.items) {
          const o = it.off - r.start;
          if (o + it.len > got || !recordIntact(buf, o, it.len) || seqOf(buf, o) !== it.seq || roomOf(buf, o) !== idx.room) {
            this.log('store.read_corrupt', { file: r.seg.name, offset: it.off, seq: it.seq });
            continue;
          }
          const rec = decodeRecord(buf, o, it.len);
          out.push({ seq: rec.seq, ts: tsOf(buf, o), id: rec.id, body: rec.body });
        }
      }
    } finally {
      for (const r of runs) r.seg.release();
    }
    return out;
  }

  // ---- compaction hand-off ----------------------------------------------------------------

  /**
   * Called by the compactor once `replacement` (already durable and renamed into place) holds
   * the live records of `oldSegs`: moves the index, then drops the old segments from the log.
   */
  private replaceSegments(oldSegs: Segment[], replacement: { seg: Segment; moves: Array<{ room: string; seq: number; fromSeg: number; fromOff: number; toOff: number; len: number }> } | undefined): void {
    if (replacement !== undefined) {
      const { seg, moves } = replacement;
      for (const m of moves) {
        if (this.rooms.get(m.room)?.relocate(m.seq, m.fromSeg, m.fromOff, seg.id, m.toOff)) seg.liveBytes += m.len;
      }
      this.segById.set(seg.id, seg);
    }
    const gone = new Set(oldSegs);
    const kept: Segment[] = [];
    for (const s of this.segments) {
      if (!gone.has(s)) kept.push(s);
      else if (replacement !== undefined && s === oldSegs[0]) kept.push(replacement.seg);
    }
    this.segments = kept;
    for (const s of oldSegs) {
      this.segById.delete(s.id);
      s.retire();
    }
  }

  /** Runs compaction now until nothing qualifies (for tests and operators). */
  async compactNow(): Promise<void> {
    if (this.state !== 'open' || this.compactor === undefined) throw new Error('store is not open');
    await this.compactor.runUntilIdle();
  }

  // ---- close ------------------------------------------------------------------------------

  private notifyIdle(): void {
    if (this.pending.size > 0 || this.committing) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'new') {
      this.state = 'closed';
      return;
    }
    this.closing ??= this.shutDown();
    await this.closing;
  }

  private async shutDown(): Promise<void> {
    this.state = 'closing';
    if (this.pending.size > 0 || this.committing) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.compactor?.stop();
    if (!this.needsRepair) {
      await this.writeIndexCheckpoint().catch((err: unknown) => {
        const { code, message } = describeError(err);
        this.log('store.checkpoint_error', { code, message });
      });
    }
    await this.closeFiles();
    await this.lock?.release();
    this.state = 'closed';
    this.log('store.close', { dir: this.dir });
  }

  private async closeFiles(): Promise<void> {
    for (const s of this.segments) s.retire();
    this.segments = [];
    this.segById.clear();
  }

  stats(): StoreStats {
    let diskBytes = 0;
    let liveBytes = 0;
    for (const s of this.segments) {
      diskBytes += s.size;
      liveBytes += s.liveBytes;
    }
    let messages = 0;
    let indexBytes = 0;
    for (const idx of this.rooms.values()) {
      messages += idx.count;
      indexBytes += idx.bytes;
    }
    return {
      syncs: this.counters.syncs, appended: this.counters.appended, segments: this.segments.length, diskBytes,
      liveBytes, rooms: this.rooms.size, messages, indexBytes, compactions: this.compactor?.count ?? 0,
    };
  }
}
