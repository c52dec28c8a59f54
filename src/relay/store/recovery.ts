// Recovery at open (docs/storage.md "Recovery", "Checkpoint"): rebuilds the index from the
// log. Uses the index checkpoint when it still describes the log, then reads every byte after it;
// checks every record's length, fields and CRC; cuts a torn tail and keeps it aside; skips a
// corrupt region (copied aside once) and keeps every intact record after it; skips second copies
// left by an interrupted compaction; applies retention; builds each room's dedup table.

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { RoomIndex } from './roomIndex';
import { IdHasher } from './idHash';
import { Segment, SEGMENT_HEADER, parseSegmentName, segmentName } from './segment';
import { scanSegment } from './scan';
import { COMPACT_SUFFIX } from './compactor';
import { type Checkpoint, CHECKPOINT_FILE, readCheckpoint } from './checkpoint';
import { idSpan, recordIntact, roomOf, roomSpan, SEGMENT_MAGIC, seqOf } from './record';
import { closeFd, fdatasync, fstatSize, ftruncate, openFd, readFully, syncDir, writeAll } from './fsUtil';

export type StoreLog = (event: string, fields?: Record<string, unknown>) => void;

/** Index entries of a checkpoint read back and checked against their records before it is used. */
const CHECKPOINT_SAMPLES = 64;

export class Recovery {
  /** Segments of the log in file order. */
  readonly segments: Segment[] = [];
  readonly segById = new Map<number, Segment>();
  readonly rooms = new Map<string, RoomIndex>();
  /**
   * The hash of the ids in `rooms`: the checkpoint's seed when it is used (its hashes were made
   * with it), otherwise a fresh random one (every hash is then computed by the scan).
   */
  hasher = IdHasher.random();
  /** Seq gaps seen while reading, reported once retention is applied. */
  private recoveryGaps: Array<{ idx: RoomIndex; from: number; to: number }> = [];
  /** Room lookup by a hash of the room's bytes. */
  private readonly recoveryRooms = new Map<number, { idx: RoomIndex; bytes: Buffer }>();

  constructor(private readonly dir: string, private readonly retain: number, private readonly log: StoreLog) {}

  /** Closes the files opened so far (when recovery fails). */
  abandon(): void {
    for (const s of this.segments) s.retire();
  }

  /** Reads the log; leaves the segments (possibly none) and the rooms in this object. */
  async run(): Promise<void> {
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
    const fds: number[] = [];
    let wrong: string | undefined;
    try {
      for (const c of cp.segments) fds.push(await openFd(join(this.dir, segmentName(c.fileNo)), 'r+'));
      wrong = await this.checkpointDisagrees(cp, fds);
    } finally {
      if (wrong !== undefined || fds.length < cp.segments.length) for (const fd of fds) await closeFd(fd).catch(() => undefined);
    }
    if (wrong !== undefined) {
      // Never trust hashes that may not be the ids' (§1.5): a missed duplicate is worse than a scan.
      this.log('store.checkpoint_unused', { reason: wrong });
      return 0;
    }
    this.hasher = new IdHasher(cp.hashSeed);
    const ids: number[] = [];
    const sizes: number[] = [];
    for (const [i, c] of cp.segments.entries()) {
      const fd = fds[i] as number;
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

  /**
   * Why the checkpoint's entries do not describe the records they point at, or undefined. Every
   * entry must lie inside its segment; up to CHECKPOINT_SAMPLES entries spread over the whole
   * index are read back: an intact record there must have the entry's room and seq, and its id
   * the entry's hash under the checkpoint's seed. A wrong seed or hash function fails at once.
   * (A damaged record is left to the reads, which check every record, as without a checkpoint.)
   */
  private async checkpointDisagrees(cp: Checkpoint, fds: number[]): Promise<string | undefined> {
    let total = 0;
    for (const r of cp.rooms) {
      for (let k = 0; k < r.lens.length; k++) {
        const len = r.lens[k] as number;
        if (len === 0) continue;
        const off = r.offs[k] as number;
        const seg = cp.segments[r.segIdx[k] as number] as { size: number };
        if (off < SEGMENT_HEADER || off + len > seg.size) return `an entry of room ${r.room} lies outside its segment`;
      }
      total += r.lens.length;
    }
    if (total === 0) return undefined;
    const hasher = new IdHasher(cp.hashSeed);
    const samples = Math.min(CHECKPOINT_SAMPLES, total);
    let intact = 0;
    let present = 0;
    let roomAt = 0;
    let roomStart = 0;
    for (let n = 0; n < samples; n++) {
      // The n-th of `samples` evenly spaced entries of all rooms taken one after another.
      const g = Math.floor(((n + 0.5) * total) / samples);
      while (g >= roomStart + (cp.rooms[roomAt] as { lens: Uint32Array }).lens.length) roomStart += (cp.rooms[roomAt++] as { lens: Uint32Array }).lens.length;
      const r = cp.rooms[roomAt] as Checkpoint['rooms'][number];
      const k = g - roomStart;
      const len = r.lens[k] as number;
      if (len === 0) continue;
      present++;
      const buf = Buffer.allocUnsafe(len);
      const got = await readFully(fds[r.segIdx[k] as number] as number, buf, 0, len, r.offs[k] as number);
      if (got < len || !recordIntact(buf, 0, len)) continue;
      intact++;
      const [idStart, idEnd] = idSpan(buf, 0);
      hasher.hash(buf, idStart, idEnd);
      if (seqOf(buf, 0) !== r.oldest + k || roomOf(buf, 0) !== r.room || hasher.hi !== r.hashHi[k] || hasher.lo !== r.hashLo[k]) {
        return `its id hashes do not match the records (room ${r.room}, seq ${r.oldest + k})`;
      }
    }
    return present > 0 && intact === 0 ? 'none of its sampled records is intact' : undefined;
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
    const { hasher } = this;
    hasher.hash(buf, roomStart, roomEnd);
    const cached = this.recoveryRooms.get(hasher.lo);
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
      this.recoveryRooms.set(hasher.lo, { idx, bytes: Buffer.from(buf.subarray(roomStart, roomEnd)) });
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
    hasher.hash(buf, idStart, idEnd);
    // The dedup table is built once per room when recovery ends.
    idx.push(seq, seg.id, fileOffset, length, hasher.hi, hasher.lo, false);
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

}
