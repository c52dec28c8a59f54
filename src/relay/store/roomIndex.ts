// The in-memory index of one room (docs/storage.md "Index"). For each retained seq: where its
// record lies (segment, offset, length) and the 64-bit hash of its id, as parallel typed arrays
// (20 bytes a message). Bodies and ids never enter memory (docs/protocol.md §1.6).
//
// Dedup (§1.5): an open-addressing table of seqs, probed by id hash, at most 70 % full (4 bytes
// a slot); a slot's hash is read from the arrays above. A hit is only a candidate: the caller
// confirms it by reading the id from disk. Slots of seqs that retention dropped go stale and are
// purged when the table is rebuilt, so dedup covers at least every retained message.

const MIN_CAPACITY = 8;
const MIN_TABLE = 16;
const MAX_LOAD = 0.7;

export class RoomIndex {
  /** Lowest retained seq (head + 1 when none). */
  oldest = 1;
  /** Retained seqs, oldest..head; missing ones (lost to corruption) have length 0. */
  count = 0;
  /** Array position of `oldest`. */
  private start = 0;
  private segs: Uint32Array;
  private offs: Uint32Array;
  private lens: Uint32Array;
  private hashHi: Int32Array;
  private hashLo: Int32Array;
  /** Dedup table: seqs, 0 for an empty slot. */
  private table: Uint32Array;
  private tableUsed = 0;

  constructor(readonly room: string) {
    this.segs = new Uint32Array(MIN_CAPACITY);
    this.offs = new Uint32Array(MIN_CAPACITY);
    this.lens = new Uint32Array(MIN_CAPACITY);
    this.hashHi = new Int32Array(MIN_CAPACITY);
    this.hashLo = new Int32Array(MIN_CAPACITY);
    this.table = new Uint32Array(MIN_TABLE);
  }

  get head(): number {
    return this.oldest + this.count - 1;
  }

  /** Bytes held, for memory accounting. */
  get bytes(): number {
    return this.segs.length * 20 + this.table.length * 4;
  }

  /**
   * Adds `seq` at (segment, offset, length) with its id hash. `seq` must be above head; a gap
   * (possible only after a corrupt record) is filled with missing entries. An empty room starts
   * at `seq`. With `dedup` false the table is left alone (recovery builds it once at the end).
   */
  push(seq: number, seg: number, off: number, len: number, hi: number, lo: number, dedup = true): void {
    if (this.count === 0) {
      this.oldest = seq;
    } else {
      for (let missing = this.head + 1; missing < seq; missing++) this.add(0, 0, 0, 0, 0);
    }
    this.add(seg, off, len, hi, lo);
    if (dedup) {
      if (this.tableUsed + 1 > this.table.length * MAX_LOAD) this.rebuildDedup();
      else this.place(seq, hi, lo);
    }
  }

  private add(seg: number, off: number, len: number, hi: number, lo: number): void {
    if (this.start + this.count === this.segs.length) this.grow();
    const i = this.start + this.count;
    this.segs[i] = seg;
    this.offs[i] = off;
    this.lens[i] = len;
    this.hashHi[i] = hi;
    this.hashLo[i] = lo;
    this.count++;
  }

  private grow(): void {
    const { start, count } = this;
    if (start > 0 && count + 1 <= this.segs.length / 2) {
      // Most of the arrays are dropped prefix: slide down instead of growing.
      for (const a of [this.segs, this.offs, this.lens, this.hashHi, this.hashLo]) a.copyWithin(0, start, start + count);
      this.start = 0;
      return;
    }
    const cap = Math.max(MIN_CAPACITY, (count + 1) * 2);
    const move = <T extends Uint32Array | Int32Array>(a: T, b: T): T => {
      b.set(a.subarray(start, start + count));
      return b;
    };
    this.segs = move(this.segs, new Uint32Array(cap));
    this.offs = move(this.offs, new Uint32Array(cap));
    this.lens = move(this.lens, new Uint32Array(cap));
    this.hashHi = move(this.hashHi, new Int32Array(cap));
    this.hashLo = move(this.hashLo, new Int32Array(cap));
    this.start = 0;
  }

  /** Array position of a retained seq, or -1. */
  private pos(seq: number): number {
    if (seq < this.oldest || seq > this.head) return -1;
    return this.start + (seq - this.oldest);
  }

  /** True when `seq` is retained and present on disk. */
  has(seq: number): boolean {
    const i = this.pos(seq);
    return i >= 0 && this.lens[i] !== 0;
  }

  segOf(seq: number): number {
    return this.segs[this.pos(seq)] as number;
  }

  offOf(seq: number): number {
    return this.offs[this.pos(seq)] as number;
  }

  lenOf(seq: number): number {
    const i = this.pos(seq);
    return i < 0 ? 0 : (this.lens[i] as number);
  }

  /** Moves `seq` to a new place (compaction), if it is still at (fromSeg, fromOff). */
  relocate(seq: number, fromSeg: number, fromOff: number, toSeg: number, toOff: number): boolean {
    const i = this.pos(seq);
    if (i < 0 || this.lens[i] === 0 || this.segs[i] !== fromSeg || this.offs[i] !== fromOff) return false;
    this.segs[i] = toSeg;
    this.offs[i] = toOff;
    return true;
  }

  /**
   * Drops the oldest seqs so that at most `retain` remain (retention, §1.6), reporting each
   * dropped record's segment and length so that the caller can count dead bytes.
   */
  trim(retain: number, dropped: (seg: number, len: number) => void): void {
    const excess = this.count - retain;
    if (excess <= 0) return;
    for (let i = this.start; i < this.start + excess; i++) if (this.lens[i] !== 0) dropped(this.segs[i] as number, this.lens[i] as number);
    this.start += excess;
    this.count -= excess;
    this.oldest += excess;
    if (this.count === 0) this.start = 0;
  }

  /** Calls `fn` for every present retained entry. */
  forEach(fn: (seq: number, seg: number, off: number, len: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = this.start + k;
      if (this.lens[i] !== 0) fn(this.oldest + k, this.segs[i] as number, this.offs[i] as number, this.lens[i] as number);
    }
  }

  // ---- checkpoint ---------------------------------------------------------------------------

  /** A room rebuilt from a checkpoint; `segs` already hold segment ids. Builds the dedup table. */
  static restore(room: string, oldest: number, segs: Uint32Array, offs: Uint32Array, lens: Uint32Array, hashHi: Int32Array, hashLo: Int32Array): RoomIndex {
    const idx = new RoomIndex(room);
    idx.segs = segs;
    idx.offs = offs;
    idx.lens = lens;
    idx.hashHi = hashHi;
    idx.hashLo = hashLo;
    idx.oldest = oldest;
    idx.count = segs.length;
    return idx;
  }

  /** Copies of the retained entries, for a checkpoint; `segIndex` maps a segment id to its place. */
  snapshot(segIndex: (segId: number) => number): { oldest: number; segIdx: Uint32Array; offs: Uint32Array; lens: Uint32Array; hashHi: Int32Array; hashLo: Int32Array } {
    const end = this.start + this.count;
    const segIdx = new Uint32Array(this.count);
    for (let k = 0; k < this.count; k++) {
      const i = this.start + k;
      segIdx[k] = this.lens[i] === 0 ? 0 : segIndex(this.segs[i] as number);
    }
    return {
      oldest: this.oldest,
      segIdx,
      offs: this.offs.slice(this.start, end),
      lens: this.lens.slice(this.start, end),
      hashHi: this.hashHi.slice(this.start, end),
      hashLo: this.hashLo.slice(this.start, end),
    };
  }

  // ---- dedup ------------------------------------------------------------------------------

  /** Retained present seqs whose id has hash (hi, lo): candidates to confirm against the disk. */
  findByHash(hi: number, lo: number): number[] {
    const out: number[] = [];
    const { table } = this;
    const mask = table.length - 1;
    for (let slot = (hi ^ lo) & mask; ; slot = (slot + 1) & mask) {
      const seq = table[slot] as number;
      if (seq === 0) return out;
      const i = this.pos(seq);
      if (i >= 0 && this.lens[i] !== 0 && this.hashHi[i] === hi && this.hashLo[i] === lo) out.push(seq);
    }
  }

  private place(seq: number, hi: number, lo: number): void {
    const { table } = this;
    const mask = table.length - 1;
    let slot = (hi ^ lo) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = seq;
    this.tableUsed++;
  }

  /** Builds the table afresh from the retained entries, at most half full; stale slots go. */
  rebuildDedup(): void {
    let size = MIN_TABLE;
    while (size < (this.count + 1) * 2) size *= 2;
    this.table = new Uint32Array(size);
    this.tableUsed = 0;
    for (let k = 0; k < this.count; k++) {
      const i = this.start + k;
      if (this.lens[i] !== 0) this.place(this.oldest + k, this.hashHi[i] as number, this.hashLo[i] as number);
    }
  }
}
