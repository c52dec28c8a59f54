// A 64-bit hash of a message id for the in-memory dedup table (PROTOCOL.md §1.5 idempotence).
// The table keeps only this hash and the seq, never the id string: a hit is always confirmed by
// reading the id from disk, so a collision costs one read and never a wrong answer. The seeds
// are random per process so that a sender cannot choose ids that pile onto one bucket
// (docs/storage.md "Dedup").

import { randomBytes } from 'node:crypto';

const seeds = randomBytes(8);
const SEED_A = seeds.readInt32LE(0);
const SEED_B = seeds.readInt32LE(4);

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Output of {@link hashId}: the high and low 32 bits. Reused to avoid an allocation per hash. */
export const hashOut = { hi: 0, lo: 0 };

/** Hashes bytes `start..end` of `buf` into {@link hashOut}. */
export function hashId(buf: Uint8Array, start: number, end: number): void {
  let a = SEED_A ^ (end - start);
  let b = SEED_B;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul((b ^ c) + (b << 5), 0x5bd1e995);
  }
  // Cross the lanes so that each output half depends on both.
  const ha = fmix32(a ^ Math.imul(b, 0x27d4eb2d));
  const hb = fmix32(b ^ Math.imul(ha, 0x165667b1));
  hashOut.hi = ha;
  hashOut.lo = hb;
}
