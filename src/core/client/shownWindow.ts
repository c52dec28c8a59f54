// What a client needs to recognise, after a restart, every id it has shown in one room
// (issue 7 §2.1; docs/protocol.md §2.8: "replays are caught by id"): the ids of the newest
// `capacity` messages shown (by seq; the relay retains 10 000 per room, §1.6), each with the
// seq it was shown under, and `top`, the highest seq shown. RecentIds covers one process;
// this is what survives it, as one compact record per room in the client's StateStore.
//
// Compact on purpose, because the record is rewritten (batched) while messages arrive: an id is
// kept as its first KEY_CHARS characters (48 of its 128 random bits: a new id matches one of
// 10 000 kept by chance with probability about 4·10⁻¹¹), the seqs as ranges ("1-9000,9002").
// A sender who picks an id matching a kept one only gets its own message dropped.

/** Characters of an id kept (6 bytes of its 16). */
export const KEY_CHARS = 8;
const ID = /^[A-Za-z0-9_-]{22}$/;
const KEYS = /^[A-Za-z0-9_-]*$/;

/** The stored form (StateStore value), version 1. */
export interface ShownRecord {
  v: 1;
  /** Highest seq shown. */
  top: number;
  /** Seqs of the kept ids, ascending, as comma-separated ranges "a-b" or single "a". */
  seqs: string;
  /** The kept ids' first KEY_CHARS characters, concatenated in the order of `seqs`. */
  ids: string;
}

export class ShownWindow {
  private readonly byKey = new Map<string, number>();
  private readonly bySeq = new Map<number, string>();
  private topSeq = 0;
  /** Changed since the last toRecord(). */
  dirty = false;

  constructor(readonly capacity: number) {}

  /**
   * A window from a stored record. A record that is not one (a hand-edited or damaged file)
   * gives an empty window and the reason: the replay protection of earlier runs is lost for
   * that room, nothing else (the record holds no message).
   */
  static fromRecord(capacity: number, stored: unknown): { window: ShownWindow; damaged?: string } {
    const w = new ShownWindow(capacity);
    if (stored === undefined) return { window: w };
    const damaged = w.load(stored);
    return damaged === undefined ? { window: w } : { window: new ShownWindow(capacity), damaged };
  }

  /** Highest seq shown (0: none). */
  get top(): number {
    return this.topSeq;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The seq `id` was shown under, if it is kept. */
  seqOf(id: string): number | undefined {
    return ID.test(id) ? this.byKey.get(id.slice(0, KEY_CHARS)) : undefined;
  }

  /**
   * Whether `seq` is kept as shown under another id than `id`: a seq is never given to two
   * messages (docs/protocol.md §1.5), so a message under it is a relay's replay or lie.
   */
  heldByOther(seq: number, id: string): boolean {
    const key = this.bySeq.get(seq);
    return key !== undefined && key !== id.slice(0, KEY_CHARS);
  }

  /** Remembers that `id` was shown under `seq`. An id or a seq already kept keeps its first record. */
  record(id: string, seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 1) return;
    if (seq > this.topSeq) {
      this.topSeq = seq;
      this.dirty = true;
    }
    // Only well-formed ids (§1.2) are kept; others are caught within the run by RecentIds.
    if (!ID.test(id)) return;
    const key = id.slice(0, KEY_CHARS);
    if (this.byKey.has(key) || this.bySeq.has(seq)) return;
    this.byKey.set(key, seq);
    this.bySeq.set(seq, key);
    this.dirty = true;
    // Trimmed in batches, so that a full window does not sort on every message.
    if (this.bySeq.size > this.capacity + Math.max(1, Math.floor(this.capacity / 10))) this.trim();
  }

  toRecord(): ShownRecord {
    this.trim();
    this.dirty = false;
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    const ranges: string[] = [];
    for (let i = 0; i < seqs.length;) {
      let j = i;
      while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
      ranges.push(i === j ? String(seqs[i]) : `${seqs[i]}-${seqs[j]}`);
      i = j + 1;
    }
    return { v: 1, top: this.topSeq, seqs: ranges.join(','), ids: seqs.map((s) => this.bySeq.get(s)!).join('') };
  }

  /** Keeps the newest `capacity` seqs. */
  private trim(): void {
    const over = this.bySeq.size - this.capacity;
    if (over <= 0) return;
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    for (let i = 0; i < over; i++) {
      const key = this.bySeq.get(seqs[i]!)!;
      this.bySeq.delete(seqs[i]!);
      this.byKey.delete(key);
    }
  }

  /** Loads a record; returns why it is not one, or undefined. */
  private load(stored: unknown): string | undefined {
    if (typeof stored !== 'object' || stored === null) return 'not an object';
    const r = stored as Partial<Record<keyof ShownRecord, unknown>>;
    if (r.v !== 1) return 'unknown version';
    if (typeof r.top !== 'number' || !Number.isSafeInteger(r.top) || r.top < 0) return 'bad top';
    if (typeof r.seqs !== 'string' || typeof r.ids !== 'string' || !KEYS.test(r.ids) || r.ids.length % KEY_CHARS !== 0) return 'bad ids';
    const seqs: number[] = [];
    const count = r.ids.length / KEY_CHARS;
    let last = 0;
    for (const range of r.seqs === '' ? [] : r.seqs.split(',')) {
      const m = /^(\d{1,16})(?:-(\d{1,16}))?$/.exec(range);
      const from = m ? Number(m[1]) : NaN;
      const to = m?.[2] !== undefined ? Number(m[2]) : from;
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from <= last || to < from || to > r.top) return 'bad seqs';
      // A bound on the work a damaged record can cause: never more ranges' seqs than ids.
      if (seqs.length + (to - from + 1) > count) return 'more seqs than ids';
      for (let s = from; s <= to; s++) seqs.push(s);
      last = to;
    }
    if (seqs.length !== count) return 'fewer seqs than ids';
    this.topSeq = r.top;
    seqs.forEach((seq, i) => {
      const key = (r.ids as string).slice(i * KEY_CHARS, (i + 1) * KEY_CHARS);
      if (this.byKey.has(key)) return;
      this.byKey.set(key, seq);
      this.bySeq.set(seq, key);
    });
    this.trim();
    return undefined;
  }
}
