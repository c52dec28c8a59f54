// The in-memory index of one room (docs/storage.md "Index"): where each retained seq lives on
// disk, as three parallel typed arrays (segment, offset, length), 12 bytes a message; plus the
// room's dedup table. Bodies never enter memory (PROTOCOL.md §1.6).

import { DedupTable } from './dedupTable';

const MIN_CAPACITY = 8;

export class RoomIndex {
  /** Lowest retained seq (head + 1 when none). */
  oldest = 1;
  /** Retained seqs, oldest..head; missing ones (lost to corruption) have length 0. */
  count = 0;
  readonly dedup = new DedupTable();
  /** Array position of `oldest`. */
  private start = 0;
  private segs: Uint32Array;
  private offs: Uint32Array;
  private lens: Uint32Array;

  constructor(readonly room: string) {
    this.segs = new Uint32Array(MIN_CAPACITY);
    this.offs = new Uint32Array(MIN_CAPACITY);
    this.lens = new Uint32Array(MIN_CAPACITY);
  }

  get head(): number {
    return this.oldest + this.count - 1;
  }

  /** Bytes held, for memory accounting. */
  get bytes(): number {
    return this.segs.length * 12 + this.dedup.bytes;
  }

  /**
   * Adds `seq` at (segment, offset, length). `seq` must be above head; a gap (possible only
   * after a corrupt record) is filled with missing entries. An empty room starts at `seq`.
   */
  push(seq: number, seg: number, off: number, len: number): void {
    if (this.count === 0) {
      this.oldest = seq;
    } else {
      for (let missing = this.head + 1; missing < seq; missing++) this.add(0, 0, 0);
    }
    this.add(seg, off, len);
  }

  private add(seg: number, off: number, len: number): void {
    if (this.start + this.count === this.segs.length) this.grow();
    const i = this.start + this.count;
    this.segs[i] = seg;
    this.offs[i] = off;
    this.lens[i] = len;
    this.count++;
  }

  private grow(): void {
    const needed = this.count + 1;
    if (this.start > 0 && needed <= this.segs.length / 2) {
      // Most of the array is dropped prefix: slide down instead of growing.
      this.segs.copyWithin(0, this.start, this.start + this.count);
      this.offs.copyWithin(0, this.start, this.start + this.count);
      this.lens.copyWithin(0, this.start, this.start + this.count);
      this.start = 0;
      return;
    }
    const cap = Math.max(MIN_CAPACITY, needed * 2);
    const segs = new Uint32Array(cap);
    const offs = new Uint32Array(cap);
    const lens = new Uint32Array(cap);
    segs.set(this.segs.subarray(this.start, this.start + this.count));
    offs.set(this.offs.subarray(this.start, this.start + this.count));
    lens.set(this.lens.subarray(this.start, this.start + this.count));
    this.segs = segs;
    this.offs = offs;
    this.lens = lens;
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
}
