// A 64-bit hash of a message id for the in-memory dedup table (docs/protocol.md §1.5 idempotence).
// The table keeps only this hash and the seq, never the id string: a hit is always confirmed by
// reading the id from disk, so a collision costs one read and never a wrong answer. The hash is
// keyed with a random 64-bit seed so that a sender cannot choose ids that pile onto one bucket
// (docs/storage.md "Dedup").
//
// The seed belongs to the index, not to the process: the index checkpoint stores the hashes of
// every retained id, so it stores the seed they were made with, and a store that loads the
// checkpoint hashes with that seed; a store that scans the log picks a fresh one (docs/storage.md "Checkpoint").
// Changing this function changes every hash: give the checkpoint a new magic (checkpoint.ts) so
// that an older one is never used with it.

import { randomBytes } from 'node:crypto';

export const SEED_BYTES = 8;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export class IdHasher {
  /** Output of {@link hash}: the high and low 32 bits. Reused to avoid an allocation per hash. */
  hi = 0;
  lo = 0;
  /** The seed, to be stored beside the hashes it made. */
  readonly seed: Buffer;
  private readonly seedA: number;
  private readonly seedB: number;

  /** `seed` is {@link SEED_BYTES} bytes, kept (a copy) in {@link seed}. */
  constructor(seed: Uint8Array) {
    if (seed.length !== SEED_BYTES) throw new RangeError(`a hash seed is ${SEED_BYTES} bytes, got ${seed.length}`);
    this.seed = Buffer.from(seed);
    this.seedA = this.seed.readInt32LE(0);
    this.seedB = this.seed.readInt32LE(4);
  }

  static random(): IdHasher {
    return new IdHasher(randomBytes(SEED_BYTES));
  }

  /** Hashes bytes `start..end` of `buf` into {@link hi} and {@link lo}. */
  hash(buf: Uint8Array, start: number, end: number): void {
    let a = this.seedA ^ (end - start);
    let b = this.seedB;
    for (let i = start; i < end; i++) {
      const c = buf[i] as number;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul((b ^ c) + (b << 5), 0x5bd1e995);
    }
    // Cross the lanes so that each output half depends on both.
    const ha = fmix32(a ^ Math.imul(b, 0x27d4eb2d));
    this.hi = ha;
    this.lo = fmix32(b ^ Math.imul(ha, 0x165667b1));
  }
}
