// The relay's embedded durable store (docs/storage.md): an append-only
// log of checksummed binary records in segment files, group commit, recovery that keeps every
// intact record, retention with background compaction, and a directory lock. Memory holds an
// index of where each retained message lies, never a body (docs/protocol.md §1.6).

import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type {
  AppendResult, CommitResult, EpochKey, MessageStore, PrivateRoomRecord, PrivateRoomStore, ResetResult, StoredMessage,
} from './types';
import {
  cutIndex, decodePrivateLog, KIND_CUT, KIND_RESET, KIND_ROTATION, MAX_EPOCHS, PrivateLog, recordsOf, replayPrivateLog, shouldCompactPrivateLog, type LoadedRoom, type PrivateLogRecord,
} from './privateLog';
import { DirLock } from './lock';
import { RoomIndex } from './roomIndex';
import { IdHasher } from './idHash';
import { Segment, SEGMENT_HEADER, segmentName } from './segment';
import { Compactor } from './compactor';
import { Gate } from './gate';
import { Recovery, type StoreLog } from './recovery';

export type { StoreLog };
import { type Checkpoint, removeCheckpoint, writeCheckpoint } from './checkpoint';
import {
  checkEncodable, decodeRecord, encodeRecord, MAX_KEY_BYTES, MAX_SEQ, recordLength,
  recordIntact, roomOf, SEGMENT_MAGIC, seqOf, tsOf,
} from './record';
import {
  closeFd, describeError, fdatasync, fstatIno, ftruncate, openFd, readFully, syncDir, writeAll,
} from './fsUtil';

export interface FileStoreOptions {
  /** The data directory; created (mode 0700) if missing. */
  dir: string;
  /** Messages kept per room at least (§1.6 `retain`, ≥ 1). */
  retain: number;
  log?: StoreLog;
  /** Size at which the log moves on to a new segment file (default 64 MiB). */
  segmentBytes?: number;
  /** The wall clock a message's `ts` comes from (default Date.now; tests step it back). */
  clock?: () => number;
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
const READ_MERGE_GAP = 16 * 1024;
const READ_MAX_SPAN = 256 * 1024;
/** Reads in flight for one range(), and for the whole store (leaves thread-pool room for syncs). */
const READ_PARALLEL = 8;
const READS_IN_FLIGHT = 2;
/** A group commit writes at most about this much: bounds the write buffer and a group's latency. */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

/** An append that is not yet durable: queued, being written, or being checked for a duplicate. */
interface PendingAppend {
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
  /** §3.6: a commit's new epoch and key, made durable with the message (privateLog.ts). */
  rotation?: { epoch: number; authPub: Buffer };
}

/** The epoch that the commit at `seq` (with `id`) began, if it is one of `epochs` (ascending seqs). */
export function epochStartedAt(epochs: readonly EpochKey[], seq: number, id: string): number | undefined {
  let lo = 0;
  let hi = epochs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = epochs[mid] as EpochKey;
    if (e.seq === seq) return e.id === id && id !== '' ? e.epoch : undefined;
    if (e.seq < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Error of an append that could not be stored; the relay answers `internal` (§1.5). */
export class StoreWriteError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'StoreWriteError';
  }
}

export class FileStore implements MessageStore, PrivateRoomStore {
  private readonly dir: string;
  private readonly retain: number;
  private readonly log: StoreLog;
  private readonly segmentBytes: number;
  private readonly clock: () => number;
  /** The newest ts written: a message's ts never goes below it, whatever the clock says (§1.4). */
  private newestTs = 0;
  private state: 'new' | 'opening' | 'open' | 'closing' | 'closed' = 'new';
  private lock: DirLock | undefined;
  private readonly rooms = new Map<string, RoomIndex>();
  /** Segments of the log in file order; the last one is the active one. */
  private segments: Segment[] = [];
  private readonly segById = new Map<number, Segment>();
  /** Appends not yet durable, by room and id: a duplicate waits for its first copy (§1.5). */
  private readonly pending = new Map<string, PendingAppend>();
  private queue: PendingAppend[] = [];
  private committing = false;
  private commitScheduled = false;
  /** Set after a failed write until the active segment is cut back to its last synced size. */
  private needsRepair = false;
  private idleWaiters: Array<() => void> = [];
  private readonly scratch = Buffer.allocUnsafe(MAX_KEY_BYTES * 4);
  private compactor: Compactor | undefined;
  private counters = { syncs: 0, appended: 0 };
  private closing: Promise<void> | undefined;
  private opening: Promise<void> | undefined;
  private readonly readGate = new Gate(READS_IN_FLIGHT);
  /** The id hash of the index: set by recovery (the checkpoint's seed, or a fresh one). */
  private hasher = IdHasher.random();
  /** Whether the checkpoint file was deleted ahead of this process's first compaction. */
  private checkpointRemoved = false;
  /** §3.6: the private rooms' records (privateLog.ts), and the file they are kept in. */
  private readonly privateState = new Map<string, { owner: Buffer; epochs: EpochKey[] }>();
  private privateLog: PrivateLog | undefined;
  /** Epochs held in privateState, all rooms together (the live records of private.log). */
  private privateEpochs = 0;
  /** One reset or commit of a room at a time: the epoch check and the write are one step. */
  private readonly privateChains = new Map<string, Promise<unknown>>();

  constructor(options: FileStoreOptions) {
    this.dir = resolve(options.dir);
    if (!Number.isSafeInteger(options.retain) || options.retain < 1) throw new RangeError(`retain must be an integer ≥ 1, got ${options.retain}`);
    this.retain = options.retain;
    this.log = options.log ?? (() => undefined);
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.clock = options.clock ?? Date.now;
    if (!Number.isSafeInteger(this.segmentBytes) || this.segmentBytes < 4096 || this.segmentBytes > 2 ** 31) {
      throw new RangeError(`segmentBytes must be between 4096 and 2^31, got ${this.segmentBytes}`);
    }
  }

  // ---- open and recovery ------------------------------------------------------------------

  open(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`store already ${this.state}`));
    this.state = 'opening';
    this.opening = this.doOpen();
    return this.opening;
  }

  private async doOpen(): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.lock = await DirLock.acquire(this.dir);
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    const recovery = new Recovery(this.dir, this.retain, this.log);
    try {
      await recovery.run();
      this.hasher = recovery.hasher;
      for (const seg of recovery.segments) this.addSegment(seg);
      for (const [room, idx] of recovery.rooms) this.rooms.set(room, idx);
      if (this.segments.length === 0) await this.createSegment(1);
      this.newestTs = await this.readNewestTs();
      await this.loadPrivateRooms();
    } catch (err) {
      recovery.abandon();
      await this.privateLog?.close().catch(() => undefined);
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
      beforeChange: () => this.removeCheckpointOnce(),
    });
    this.state = 'open';
    const s = this.stats();
    this.log('store.open', {
      dir: this.dir, segments: s.segments, rooms: s.rooms, messages: s.messages, diskBytes: s.diskBytes,
      ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
    });
    this.compactor.schedule();
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
    await writeCheckpoint(this.dir, { hashSeed: this.hasher.seed, retain: this.retain, segments, rooms });
    this.log('store.checkpoint_written', { rooms: rooms.length, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6) });
  }

  /**
   * Deletes the checkpoint before compaction first replaces or deletes a segment file: it could
   * only describe the files as they were, and an inode number of a deleted file may come back.
   */
  private async removeCheckpointOnce(): Promise<void> {
    if (this.checkpointRemoved) return;
    await removeCheckpoint(this.dir);
    await syncDir(this.dir);
    this.checkpointRemoved = true;
  }

  private addSegment(seg: Segment): void {
    this.segments.push(seg);
    this.segById.set(seg.id, seg);
  }

  /** Retention dropped a record: its bytes are dead. */
  private readonly dropped = (segId: number, len: number): void => {
    const seg = this.segById.get(segId);
    if (seg !== undefined) seg.liveBytes -= len;
  };

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
    return this.appendWith(room, id, body, undefined);
  }

  private appendWith(room: string, id: string, body: string, rotation: PendingAppend['rotation']): Promise<AppendResult> {
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
      const { hasher } = this;
      hasher.hash(this.scratch, 0, idBytes);
      const p: PendingAppend = {
        key, room, id, body, length: recordLength(roomBytes, idBytes, bodyBytes),
        hashHi: hasher.hi, hashLo: hasher.lo, waiters: [waiter], seq: 0, ts: 0, offset: 0,
      };
      if (rotation !== undefined) p.rotation = rotation;
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
  private async checkDuplicate(p: PendingAppend, idx: RoomIndex, candidates: number[]): Promise<void> {
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

  private enqueue(p: PendingAppend): void {
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
    while (take < this.queue.length && (take === 0 || bytes < MAX_GROUP_BYTES)) bytes += (this.queue[take++] as PendingAppend).length;
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

  private async writeBatch(group: PendingAppend[]): Promise<void> {
    if (this.needsRepair) await this.repair();
    // Seqs are given here, when no other group is in flight, so a failed group leaves no hole.
    const next = new Map<string, number>();
    const batch: PendingAppend[] = [];
    let total = 0;
    for (const p of group) {
      const seq = (next.get(p.room) ?? this.head(p.room)) + 1;
      if (seq > MAX_SEQ) {
        this.pending.delete(p.key);
        for (const w of p.waiters) w.reject(new StoreWriteError(`room is full (seq ${MAX_SEQ})`, 'EFBIG'));
        continue;
      }
      next.set(p.room, seq);
      p.seq = seq;
      batch.push(p);
      total += p.length;
    }
    if (batch.length === 0) return;
    if (this.active.size > SEGMENT_HEADER && this.active.size + total > this.segmentBytes) {
      await this.createSegment(this.active.fileNo + 1);
      this.log('store.segment_rolled', { file: this.active.name });
      this.compactor?.schedule();
    }
    const seg = this.active;
    const buf = Buffer.allocUnsafe(total);
    // §1.4: ts follows seq. A clock that stepped back (NTP, a restored VM, the data moved to
    // another machine) must not make a message older than the one before it.
    const ts = Math.max(this.clock(), this.newestTs);
    this.newestTs = ts;
    let pos = 0;
    for (const p of batch) {
      p.ts = ts;
      p.offset = seg.size + pos;
      pos += encodeRecord(buf, pos, p);
    }
    // §3.6: a commit's rotation is durable before its message, which makes the pair all or
    // nothing: a rotation whose message is not in the log is dropped at the next open.
    const rotations = batch.filter((p) => p.rotation !== undefined);
    const rotationRecords: PrivateLogRecord[] = rotations.map((p) => ({
      kind: KIND_ROTATION, room: p.room, id: p.id, seq: p.seq, ts: p.ts, epoch: p.rotation?.epoch ?? 0,
      authPub: p.rotation?.authPub ?? Buffer.alloc(32), owner: Buffer.alloc(32),
    }));
    if (rotations.length > 0) await (this.privateLog as PrivateLog).append(rotationRecords, () => this.privateRecords());
    try {
      await writeAll(seg.fd, buf, seg.size);
      await fdatasync(seg.fd);
    } catch (err) {
      this.needsRepair = true;
      if (rotations.length > 0) this.dropFailedRotations(rotationRecords);
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
    for (const p of rotations) {
      const rec = this.privateState.get(p.room);
      if (rec === undefined || p.rotation === undefined) continue;
      rec.epochs.push({ epoch: p.rotation.epoch, authPub: p.rotation.authPub, seq: p.seq, ts: p.ts, id: p.id });
      this.privateEpochs++;
      if (rec.epochs.length > MAX_EPOCHS) {
        rec.epochs.shift();
        this.privateEpochs--;
      }
    }
    if (rotations.length > 0) {
      (this.privateLog as PrivateLog).settle(rotationRecords, true);
      this.compactPrivateLogIfDue();
    }
    for (const p of batch) {
      this.pending.delete(p.key);
      // The first waiter is the original append; later ones are duplicates of it (§1.5).
      p.waiters.forEach((w, i) => w.resolve({ seq: p.seq, ts: p.ts, duplicate: i > 0 }));
    }
    this.compactor?.noteDrops();
  }

  private async failBatch(batch: PendingAppend[], err: unknown): Promise<void> {
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
    const rec = this.privateState.get(room);
    if (rec === undefined) return found.map(({ seq, ts, id, body }) => ({ seq, ts, id, body }));
    // §3.6: commits are sent with the epoch they began, in catch-up and history as live.
    return found.map(({ seq, ts, id, body }) => {
      const epoch = epochStartedAt(rec.epochs, seq, id);
      return epoch === undefined ? { seq, ts, id, body } : { seq, ts, id, body, epoch };
    });
  }

  /**
   * The ts of the last record in file order (the newest write: appends go to the end of the
   * active segment, and compaction keeps the order of what it copies). One read at open.
   */
  private async readNewestTs(): Promise<number> {
    const order = new Map<number, number>();
    for (const [i, seg] of this.segments.entries()) order.set(seg.id, i);
    let newest: { idx: RoomIndex; at: number; off: number } | undefined;
    for (const idx of this.rooms.values()) {
      const head = idx.head;
      if (!idx.has(head)) continue;
      const at = order.get(idx.segOf(head)) ?? -1;
      const off = idx.offOf(head);
      if (newest === undefined || at > newest.at || (at === newest.at && off > newest.off)) newest = { idx, at, off };
    }
    if (newest === undefined) return 0;
    const [record] = await this.readSeqs(newest.idx, [newest.idx.head]);
    return record?.ts ?? 0;
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
      // Up to READ_PARALLEL reads at once (the fs thread pool serves them side by side); each
      // read's buffer is parsed at once and dropped, so little is held whatever the range.
      const perRun: Array<Array<{ seq: number; ts: number; id: string; body: string }>> = runs.map(() => []);
      let next = 0;
      const reader = async (): Promise<void> => {
        while (next < runs.length) {
          const k = next++;
          const r = runs[k] as Run;
          const buf = Buffer.allocUnsafe(r.end - r.start);
          await this.readGate.enter();
          let got: number;
          try {
            got = await readFully(r.seg.fd, buf, 0, r.end - r.start, r.start);
          } finally {
            this.readGate.release();
          }
          const found = perRun[k] as Array<{ seq: number; ts: number; id: string; body: string }>;
          for (const it of r.items) {
            const o = it.off - r.start;
            if (o + it.len > got || !recordIntact(buf, o, it.len) || seqOf(buf, o) !== it.seq || roomOf(buf, o) !== idx.room) {
              this.log('store.read_corrupt', { file: r.seg.name, offset: it.off, seq: it.seq });
              continue;
            }
            const rec = decodeRecord(buf, o, it.len);
            found.push({ seq: rec.seq, ts: tsOf(buf, o), id: rec.id, body: rec.body });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(READ_PARALLEL, runs.length) }, reader));
      for (const found of perRun) out.push(...found);
    } finally {
      for (const r of runs) r.seg.release();
    }
    return out;
  }

  // ---- private rooms (§3.6; privateLog.ts) --------------------------------------------------

  get privateRooms(): PrivateRoomStore {
    return this;
  }

  privateRoom(room: string): Promise<PrivateRoomRecord | undefined> {
    return Promise.resolve(this.privateState.get(room));
  }

  resetPrivateRoom(room: string, owner: Buffer, epoch: number, authPub: Buffer, refuse = 0): Promise<ResetResult> {
    return this.chain(room, async () => {
      const rec = this.privateState.get(room);
      if (rec !== undefined && !rec.owner.equals(owner)) return { ok: false, reason: 'owner' } as const;
      if (refuse > 0) {
        // §3.6 repair: back to the members' epoch; the epochs the refused commit began go.
        const keep = rec === undefined ? undefined : cutIndex(rec.epochs, epoch, authPub, refuse);
        if (rec === undefined || keep === undefined) return { ok: false, reason: 'stale' } as const;
        const record: PrivateLogRecord = { kind: KIND_CUT, room, id: '', seq: refuse, ts: Date.now(), epoch, authPub, owner: Buffer.alloc(32) };
        await (this.privateLog as PrivateLog).append([record], () => this.privateRecords());
        this.privateEpochs -= rec.epochs.length - (keep + 1);
        this.privateState.set(room, { owner: rec.owner, epochs: rec.epochs.slice(0, keep + 1) });
        (this.privateLog as PrivateLog).settle([record], true);
        this.compactPrivateLogIfDue();
        return { ok: true, seq: this.head(room) } as const;
      }
      const anchor = rec?.epochs[0];
      if (anchor !== undefined && (epoch < anchor.epoch || (epoch === anchor.epoch && authPub.equals(anchor.authPub) && (rec?.epochs.length ?? 0) > 1))) {
        return { ok: false, reason: 'stale' } as const;
      }
      const seq = this.head(room);
      const record: PrivateLogRecord = { kind: KIND_RESET, room, id: '', seq, ts: Date.now(), epoch, authPub, owner };
      await (this.privateLog as PrivateLog).append([record], () => this.privateRecords());
      this.privateEpochs += 1 - (rec?.epochs.length ?? 0);
      this.privateState.set(room, { owner, epochs: [{ epoch, authPub, seq, ts: record.ts, id: '' }] });
      (this.privateLog as PrivateLog).settle([record], true);
      this.compactPrivateLogIfDue();
      return { ok: true, seq } as const;
    });
  }

  appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer): Promise<CommitResult> {
    return this.chain(room, async (): Promise<CommitResult> => {
      const rec = this.privateState.get(room);
      if (rec === undefined) throw new StoreWriteError('not a private room', 'EINVAL');
      const done = rec.epochs.find((e) => e.id === id);
      if (done !== undefined) return { stale: false, seq: done.seq, ts: done.ts, duplicate: true, epoch: done.epoch };
      const current = rec.epochs[rec.epochs.length - 1] as EpochKey;
      if (current.epoch !== epoch - 1) {
        const ended = rec.epochs.find((e) => e.epoch === epoch);
        return { stale: true, epoch: current.epoch, seq: (ended ?? current).seq };
      }
      const result = await this.appendWith(room, id, body, { epoch, authPub });
      // The id was already a plain message of the room: stored nothing, the epoch stays.
      const now = rec.epochs[rec.epochs.length - 1] as EpochKey;
      return { stale: false, seq: result.seq, ts: result.ts, duplicate: result.duplicate, epoch: now.epoch };
    });
  }

  private chain<T>(room: string, work: () => Promise<T>): Promise<T> {
    if (this.state !== 'open') return Promise.reject(new StoreWriteError(`store is ${this.state === 'closing' ? 'closing' : 'not open'}`, 'ECLOSED'));
    const before = this.privateChains.get(room) ?? Promise.resolve();
    const result = before.then(work, work);
    const settled = result.catch(() => undefined);
    this.privateChains.set(room, settled);
    void settled.then(() => {
      if (this.privateChains.get(room) === settled) this.privateChains.delete(room);
    });
    return result;
  }

  /** The next private append rewrites the file first, when it is mostly superseded records. */
  private compactPrivateLogIfDue(): void {
    const log = this.privateLog as PrivateLog;
    if (shouldCompactPrivateLog(log.bytes, this.privateEpochs)) log.markDirty();
  }

  private privateRecords(): PrivateLogRecord[] {
    return recordsOf(this.privateState);
  }

  /** A message write after its rotation failed: the rotation record must go, now. */
  private dropFailedRotations(records: readonly PrivateLogRecord[]): void {
    const log = this.privateLog as PrivateLog;
    log.settle(records, false);
    log.append([], () => this.privateRecords()).catch((err: unknown) => {
      const { code, message } = describeError(err);
      this.log('store.private_write_error', { code, message });
    });
  }

  /**
   * Reads private.log, checks the rotations written live against the log (their message must
   * be there: same seq, same id; one that cannot be read but lies at or below head is kept, as
   * the message was durable), and rewrites the file compacted.
   */
  private async loadPrivateRooms(): Promise<void> {
    const log = new PrivateLog(this.dir);
    this.privateLog = log;
    const { records, corrupt, tornAt } = decodePrivateLog(await log.read());
    if (corrupt > 0) this.log('store.private_corrupt', { records: corrupt });
    if (tornAt !== undefined) this.log('store.private_torn_tail', { offset: tornAt });
    const loaded = replayPrivateLog(records);
    let dropped = 0;
    for (const [room, rec] of loaded) {
      const keep = await this.checkedEpochs(room, rec);
      dropped += rec.epochs.length - keep;
      this.privateState.set(room, { owner: rec.owner, epochs: rec.epochs.slice(0, keep) });
      this.privateEpochs += keep;
    }
    if (dropped > 0) this.log('store.private_rotations_dropped', { count: dropped });
    // Nothing to keep or to cut: the first reset or commit creates the file (PrivateLog.append
    // rewrites when it has no file open), so a store with no private room writes nothing here.
    if (records.length === 0 && corrupt === 0 && tornAt === undefined) return;
    try {
      await log.rewrite(this.privateRecords());
    } catch (err) {
      // A full disk must not stop the store from opening and serving reads (docs/storage.md
      // "Full disk"): the file on disk is unchanged (the rewrite goes through a temp file and a
      // rename), the state above came from it, and the next append rewrites it first.
      this.log('store.private_rewrite_failed', { error: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
  }

  /** How many of `rec.epochs` stand: those up to the first rotation whose message is not in the log. */
  private async checkedEpochs(room: string, rec: LoadedRoom): Promise<number> {
    const idx = this.rooms.get(room);
    for (let i = rec.uncheckedFrom; i < rec.epochs.length; i++) {
      const e = rec.epochs[i] as EpochKey;
      if (idx === undefined || e.seq > idx.head) return i;
      if (!idx.has(e.seq)) continue;
      const [found] = await this.readSeqs(idx, [e.seq]);
      if (found !== undefined && found.id !== e.id) return i;
    }
    return rec.epochs.length;
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
    // A close during open waits for the open to end (in success or failure) first.
    await this.opening?.catch(() => undefined);
    if (this.currentState() === 'closed') return;
    this.closing ??= this.shutDown();
    await this.closing;
  }

  /** The state, read afresh (after an await). */
  private currentState(): FileStore['state'] {
    return this.state;
  }

  private async shutDown(): Promise<void> {
    this.state = 'closing';
    if (this.pending.size > 0 || this.committing) await new Promise<void>((r) => this.idleWaiters.push(r));
    await Promise.all([...this.privateChains.values()].map((c) => c.catch(() => undefined)));
    await this.privateLog?.close().catch(() => undefined);
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
