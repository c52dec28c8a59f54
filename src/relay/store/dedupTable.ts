// The per-room dedup table (PROTOCOL.md §1.5 idempotence, docs/storage.md "Dedup"): an
// open-addressing hash table from a 64-bit id hash to the seq that holds the id. 12 bytes a
// slot, at most 70 % full, instead of a Map of id strings (a million ids in a Map take about
// 100 MB). Entries of messages that retention dropped go stale and are purged when the table is
// rebuilt; dedup therefore covers at least every retained message.

const MIN_CAPACITY = 16;
const MAX_LOAD = 0.7;

export class DedupTable {
  private hi: Int32Array;
  private lo: Int32Array;
  /** 0 marks an empty slot (seqs start at 1). */
  private seqs: Uint32Array;
  private mask: number;
  private used = 0;

  constructor(capacity = MIN_CAPACITY) {
    const cap = pow2AtLeast(capacity);
    this.hi = new Int32Array(cap);
    this.lo = new Int32Array(cap);
    this.seqs = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  /** Bytes held, for memory accounting. */
  get bytes(): number {
    return this.seqs.length * 12;
  }

  /**
   * Records that `seq` holds an id of hash (hi, lo). `oldest` is the room's oldest retained seq:
   * a rebuild keeps only entries at or above it.
   */
  insert(hi: number, lo: number, seq: number, oldest: number): void {
    if (this.used + 1 > this.seqs.length * MAX_LOAD) this.rebuild(oldest);
    this.place(hi, lo, seq);
    this.used++;
  }

  /** Seqs (≥ oldest) whose id has hash (hi, lo): candidates to confirm against the disk. */
  find(hi: number, lo: number, oldest: number): number[] {
    const out: number[] = [];
    let i = (lo ^ hi) & this.mask;
    for (;;) {
      const s = this.seqs[i] as number;
      if (s === 0) return out;
      if (this.hi[i] === hi && this.lo[i] === lo && s >= oldest) out.push(s);
      i = (i + 1) & this.mask;
    }
  }

  private place(hi: number, lo: number, seq: number): void {
    let i = (lo ^ hi) & this.mask;
    while (this.seqs[i] !== 0) i = (i + 1) & this.mask;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.seqs[i] = seq;
  }

  /** Drops stale entries and resizes so that the live ones fill at most half the table. */
  private rebuild(oldest: number): void {
    const { hi, lo, seqs } = this;
    let live = 0;
    for (const s of seqs) if (s >= oldest) live++;
    const cap = pow2AtLeast(Math.max(MIN_CAPACITY, (live + 1) * 2));
    this.hi = new Int32Array(cap);
    this.lo = new Int32Array(cap);
    this.seqs = new Uint32Array(cap);
    this.mask = cap - 1;
    this.used = live;
    for (let i = 0; i < seqs.length; i++) {
      const s = seqs[i] as number;
      if (s >= oldest) this.place(hi[i] as number, lo[i] as number, s);
    }
  }
}

function pow2AtLeast(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}
