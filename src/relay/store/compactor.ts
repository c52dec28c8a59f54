// Background compaction of the log (docs/storage.md "Retention and compaction"). Retention
// (docs/protocol.md §1.6) drops a room's oldest messages from the index at once; this module gives the
// disk space back. A sealed segment with no live record is deleted. A run of adjacent sealed
// segments that are mostly dead or small is rewritten into one file holding only their live
// records, in their original order, which then replaces the first segment of the run (rename) and
// the others are deleted. Order matters: recovery reads segments in file order and takes a room's
// seqs in increasing order, skipping a seq it has already seen (a copy left by a rewrite that
// stopped between its rename and its deletes).
//
// All I/O is asynchronous and in chunks of at most 1 MiB, and the walk over the index yields
// every few milliseconds, so the relay's event loop never stalls for long.

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { RoomIndex } from './roomIndex';
import { Segment, SEGMENT_HEADER, segmentName } from './segment';
import { recordIntact, SEGMENT_MAGIC } from './record';
import { closeFd, describeError, fdatasync, openFd, readFully, syncDir, writeAll } from './fsUtil';

export const COMPACT_SUFFIX = '.compact';
const CHUNK = 1024 * 1024;
const SLICE_MS = 4;
const RETRY_AFTER_ERROR_MS = 30_000;

export interface Move {
  room: string;
  seq: number;
  fromSeg: number;
  fromOff: number;
  toOff: number;
  len: number;
}

export interface CompactorHost {
  dir: string;
  segmentBytes: number;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** The log's segments in file order; the last is the active one and is never compacted. */
  segments: () => Segment[];
  rooms: Map<string, RoomIndex>;
  /** Called (and awaited) before a pass first deletes or replaces a segment file. */
  beforeChange: () => Promise<void>;
  /** Swaps `oldSegs` for `replacement` in the log and the index (synchronously). */
  replace: (oldSegs: Segment[], replacement: { seg: Segment; moves: Move[] } | undefined) => void;
}

type Plan = { kind: 'delete'; segs: Segment[] } | { kind: 'rewrite'; segs: Segment[] };

/** The compactor was stopped mid-way (never leaves this module). */
class Stopped extends Error {
  readonly code = 'ESTOPPED';
}

export class Compactor {
  /** Compactions done (deletes and rewrites). */
  count = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private retryAt = 0;

  constructor(private readonly host: CompactorHost) {}

  /** Starts a background pass if there is something to do and none is running. */
  schedule(): void {
    if (this.running !== undefined || this.stopped || Date.now() < this.retryAt) return;
    if (this.plan() === undefined) return;
    this.running = this.pass()
      .catch((err) => {
        if (err instanceof Stopped) return;
        const { code, message } = describeError(err);
        this.host.log('store.compaction_error', { code, message });
        this.retryAt = Date.now() + RETRY_AFTER_ERROR_MS;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Called after retention dropped records: cheap, schedules a pass when one is due. */
  noteDrops(): void {
    this.schedule();
  }

  /** Compacts now until no segment qualifies, after any background pass. Throws on I/O errors. */
  async runUntilIdle(): Promise<void> {
    while (this.running !== undefined) await this.running;
    const pass = this.pass();
    this.running = pass.catch(() => undefined).finally(() => {
      this.running = undefined;
    });
    await pass;
  }

  private async pass(): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Stopped();
      const plan = this.plan();
      if (plan === undefined) return;
      if (plan.kind === 'delete') await this.deleteSegments(plan.segs);
      else await this.rewrite(plan.segs);
      this.count++;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running !== undefined) await this.running;
  }

  /** The next thing worth doing, or undefined. */
  private plan(): Plan | undefined {
    const all = this.host.segments();
    const sealed = all.slice(0, -1);
    const dead = sealed.filter((s) => s.liveBytes === 0);
    if (dead.length > 0) return { kind: 'delete', segs: dead };
    const { segmentBytes } = this.host;
    const sparse = (s: Segment): boolean => s.size - SEGMENT_HEADER - s.liveBytes >= (s.size - SEGMENT_HEADER) / 2;
    const small = (s: Segment): boolean => s.size < segmentBytes / 4;
    const wasteful = (s: Segment): boolean => sparse(s) || small(s);
    for (let i = 0; i < sealed.length; i++) {
      const run: Segment[] = [];
      let live = 0;
      for (const s of sealed.slice(i)) {
        if (!wasteful(s) || (run.length > 0 && live + s.liveBytes > segmentBytes)) break;
        run.push(s);
        live += s.liveBytes;
      }
      const [head] = run;
      if (head !== undefined && (run.length > 1 || sparse(head))) return { kind: 'rewrite', segs: run };
    }
    return undefined;
  }

  private async deleteSegments(segs: Segment[]): Promise<void> {
    await this.host.beforeChange();
    if (this.stopped) throw new Stopped();
    this.host.replace(segs, undefined);
    for (const s of segs) await fsp.unlink(join(this.host.dir, s.name));
    await syncDir(this.host.dir);
    this.host.log('store.compacted', { deleted: segs.map((s) => s.name) });
  }

  /** Yields to the event loop when the current slice of synchronous work has run long. */
  private async slice(started: { t: number }): Promise<void> {
    if (performance.now() - started.t < SLICE_MS) return;
    await new Promise((r) => setImmediate(r));
    started.t = performance.now();
    if (this.stopped) throw new Stopped();
  }

  private async rewrite(segs: Segment[]): Promise<void> {
    const [first] = segs;
    if (first === undefined) return;
    // Collect the live records of the run from the index, then put them in log order: segment by
    // segment, by offset (a native sort of offsets; a comparator sort of objects would stall).
    const buckets = new Map<number, { offs: number[]; byOff: Map<number, Move> }>(segs.map((s) => [s.id, { offs: [], byOff: new Map() }]));
    const clock = { t: performance.now() };
    for (const idx of this.host.rooms.values()) {
      idx.forEach((seq, seg, off, len) => {
        const bucket = buckets.get(seg);
        if (bucket === undefined) return;
        bucket.offs.push(off);
        bucket.byOff.set(off, { room: idx.room, seq, fromSeg: seg, fromOff: off, toOff: 0, len });
      });
      await this.slice(clock);
    }
    const moves: Move[] = [];
    for (const s of segs) {
      const bucket = buckets.get(s.id);
      if (bucket === undefined) continue;
      for (const off of Uint32Array.from(bucket.offs).sort()) moves.push(bucket.byOff.get(off) as Move);
      buckets.delete(s.id);
      await this.slice(clock);
    }
    const bySegId = new Map(segs.map((s) => [s.id, s]));
    const tmpPath = join(this.host.dir, segmentName(first.fileNo) + COMPACT_SUFFIX);
    const fd = await openFd(tmpPath, 'w+');
    let kept: Segment | undefined;
    try {
      await writeAll(fd, SEGMENT_MAGIC, 0);
      let outPos = SEGMENT_HEADER;
      for (let i = 0; i < moves.length; ) {
        // One read covers consecutive records of one source segment, up to CHUNK bytes.
        const group = takeGroup(moves, i);
        i += group.length;
        outPos += await this.copyGroup(group, bySegId, fd, outPos);
        if (this.stopped) throw new Stopped();
      }
      await fdatasync(fd);
      await this.host.beforeChange();
      if (this.stopped) throw new Stopped();
      await fsp.rename(tmpPath, join(this.host.dir, first.name));
      kept = new Segment(first.fileNo, fd, outPos);
    } catch (err) {
      await closeFd(fd).catch(() => undefined);
      await fsp.unlink(tmpPath).catch(() => undefined);
      throw err;
    }
    // From here the new file is the first segment's: swap the index over at once.
    this.host.replace(segs, { seg: kept, moves: moves.filter((m) => m.len > 0) });
    await syncDir(this.host.dir);
    for (const s of segs.slice(1)) await fsp.unlink(join(this.host.dir, s.name));
    if (segs.length > 1) await syncDir(this.host.dir);
    const before = segs.reduce((n, s) => n + s.size, 0);
    this.host.log('store.compacted', { rewrote: segs.map((s) => s.name), bytesBefore: before, bytesAfter: kept.size, records: moves.length });
  }

  /** Copies the intact records of `group` (one source segment) to `fd` at `outPos`; returns bytes written. */
  private async copyGroup(group: Move[], bySegId: Map<number, Segment>, fd: number, outPos: number): Promise<number> {
    const [head] = group;
    const last = group[group.length - 1];
    const src = head === undefined ? undefined : bySegId.get(head.fromSeg);
    if (head === undefined || last === undefined || src === undefined) return 0;
    const start = head.fromOff;
    const end = last.fromOff + last.len;
    const inBuf = Buffer.allocUnsafe(end - start);
    src.acquire();
    let got: number;
    try {
      got = await readFully(src.fd, inBuf, 0, end - start, start);
    } finally {
      src.release();
    }
    const outBuf = Buffer.allocUnsafe(end - start);
    let outLen = 0;
    for (const m of group) {
      const o = m.fromOff - start;
      if (o + m.len > got || !recordIntact(inBuf, o, m.len)) {
        this.host.log('store.read_corrupt', { file: src.name, offset: m.fromOff, seq: m.seq });
        m.len = 0;
        continue;
      }
      inBuf.copy(outBuf, outLen, o, o + m.len);
      m.toOff = outPos + outLen;
      outLen += m.len;
    }
    await writeAll(fd, outBuf.subarray(0, outLen), outPos);
    return outLen;
  }
}

/** The moves from `i` on that lie in one source segment within CHUNK bytes (at least one). */
function takeGroup(moves: Move[], i: number): Move[] {
  const group: Move[] = [];
  const head = moves[i];
  if (head === undefined) return group;
  for (let j = i; j < moves.length; j++) {
    const m = moves[j] as Move;
    if (group.length > 0 && (m.fromSeg !== head.fromSeg || m.fromOff + m.len - head.fromOff > CHUNK)) break;
    group.push(m);
  }
  return group;
}
