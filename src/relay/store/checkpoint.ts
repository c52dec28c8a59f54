// The index checkpoint (docs/storage.md "Checkpoint"): a snapshot of the in-memory index written
// on a clean close, so that the next start need not read and CRC-check every record. It is
// trusted only while the segments it describes are unchanged: same files (inode), sealed ones
// the same size, the last one at least as long. Anything appended after it is scanned and
// checked as usual, so a crash after a checkpoint still verifies every record written since. A
// compaction replaces or deletes segment files, which changes their inode or removes them: such
// a checkpoint no longer matches and recovery reads the whole log; the store also deletes the
// checkpoint before its first compaction changes a file, so that no later file can pass for one
// it describes (an inode number may be reused).
//
// Version 2 stores the seed of the id hashes (idHash.ts): the hashes are only meaningful with
// it, and version 1, which lacked it, made every later start miss every earlier id
// (docs/storage.md "Checkpoint"). A file of any other magic, version 1 included, is never used: recovery then scans.
//
// Layout (little-endian): "SMCIDX2\n", 8 bytes id hash seed, u32 retain, u32 segment count, per
// segment (u32 fileNo, u64 size, u64 inode); u32 room count, per room (u8 room length, room bytes
// padded to 4, u32 oldest, u32 count, then count × u32 segment index, count × u32 offset, count ×
// u32 length, count × i32 hash high, count × i32 hash low); u32 CRC-32 of everything before it.

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { closeFd, fdatasync, openFd, syncDir, writeAll } from './fsUtil';
import { SEED_BYTES } from './idHash';

export const CHECKPOINT_FILE = 'index.ckpt';
const MAGIC = Buffer.from('SMCIDX2\n', 'latin1');
/** Files that start like a checkpoint of another version. */
const ANY_VERSION = /^SMCIDX\d+\n/;

export interface CheckpointSegment {
  fileNo: number;
  size: number;
  ino: bigint;
}

export interface CheckpointRoom {
  room: string;
  oldest: number;
  /** Index into the checkpoint's segment list, per entry. */
  segIdx: Uint32Array;
  offs: Uint32Array;
  lens: Uint32Array;
  hashHi: Int32Array;
  hashLo: Int32Array;
}

export interface Checkpoint {
  /** Seed of every hash in `rooms` (SEED_BYTES). */
  hashSeed: Buffer;
  retain: number;
  segments: CheckpointSegment[];
  rooms: CheckpointRoom[];
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** Writes `cp` durably (temp file, sync, rename, directory sync). */
export async function writeCheckpoint(dir: string, cp: Checkpoint): Promise<void> {
  if (cp.hashSeed.length !== SEED_BYTES) throw new RangeError('bad hash seed');
  let size = MAGIC.length + SEED_BYTES + 8 + cp.segments.length * 20 + 4 + 4;
  for (const r of cp.rooms) size += 4 + pad4(Buffer.byteLength(r.room)) + 8 + r.segIdx.length * 20;
  const buf = Buffer.alloc(size);
  let p = MAGIC.copy(buf, 0);
  p += cp.hashSeed.copy(buf, p);
  p = buf.writeUInt32LE(cp.retain, p);
  p = buf.writeUInt32LE(cp.segments.length, p);
  for (const s of cp.segments) {
    p = buf.writeUInt32LE(s.fileNo, p);
    p = buf.writeBigUInt64LE(BigInt(s.size), p);
    p = buf.writeBigUInt64LE(s.ino, p);
  }
  p = buf.writeUInt32LE(cp.rooms.length, p);
  for (const r of cp.rooms) {
    const n = buf.write(r.room, p + 4, 'utf8');
    buf.writeUInt8(n, p);
    p += 4 + pad4(n);
    p = buf.writeUInt32LE(r.oldest, p);
    p = buf.writeUInt32LE(r.segIdx.length, p);
    for (const a of [r.segIdx, r.offs, r.lens, r.hashHi, r.hashLo]) {
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(buf, p);
      p += a.byteLength;
    }
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, p)), p);
  const tmp = join(dir, CHECKPOINT_FILE + '.tmp');
  const fd = await openFd(tmp, 'w');
  try {
    await writeAll(fd, buf, 0);
    await fdatasync(fd);
  } finally {
    await closeFd(fd);
  }
  await fsp.rename(tmp, join(dir, CHECKPOINT_FILE));
  await syncDir(dir);
}

/** Reads and checks the checkpoint; undefined when there is none, or a reason when it is unusable. */
export async function readCheckpoint(dir: string): Promise<Checkpoint | string | undefined> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(join(dir, CHECKPOINT_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `unreadable: ${(err as Error).message}`;
  }
  const head = buf.toString('latin1', 0, MAGIC.length);
  if (!head.startsWith('SMCIDX')) return 'not a checkpoint';
  if (head !== MAGIC.toString('latin1')) return ANY_VERSION.test(head) ? `another format (${head.trim()}, this relay reads ${MAGIC.toString('latin1').trim()})` : 'not a checkpoint';
  if (buf.length < MAGIC.length + SEED_BYTES + 16) return 'truncated';
  const end = buf.length - 4;
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) return 'checksum mismatch';
  try {
    let p = MAGIC.length;
    const hashSeed = Buffer.from(buf.subarray(p, p + SEED_BYTES));
    p += SEED_BYTES;
    const retain = buf.readUInt32LE(p);
    const segCount = buf.readUInt32LE(p + 4);
    p += 8;
    const segments: CheckpointSegment[] = [];
    for (let i = 0; i < segCount; i++) {
      segments.push({ fileNo: buf.readUInt32LE(p), size: Number(buf.readBigUInt64LE(p + 4)), ino: buf.readBigUInt64LE(p + 12) });
      p += 20;
    }
    const roomCount = buf.readUInt32LE(p);
    p += 4;
    const rooms: CheckpointRoom[] = [];
    // Copies keep the typed arrays aligned whatever the buffer's offset.
    const u32 = (n: number): Uint32Array => {
      const a = new Uint32Array(n);
      Buffer.from(a.buffer).set(buf.subarray(p, p + n * 4));
      p += n * 4;
      return a;
    };
    const i32 = (n: number): Int32Array => new Int32Array(u32(n).buffer);
    for (let r = 0; r < roomCount; r++) {
      const n = buf.readUInt8(p);
      const room = buf.toString('utf8', p + 4, p + 4 + n);
      p += 4 + pad4(n);
      const oldest = buf.readUInt32LE(p);
      const count = buf.readUInt32LE(p + 4);
      p += 8;
      if (p + count * 20 > end) return 'truncated';
      const segIdx = u32(count);
      if (segIdx.some((s) => s >= segCount)) return 'bad segment index';
      rooms.push({ room, oldest, segIdx, offs: u32(count), lens: u32(count), hashHi: i32(count), hashLo: i32(count) });
    }
    if (p !== end) return 'trailing bytes';
    return { hashSeed, retain, segments, rooms };
  } catch (err) {
    return `malformed: ${(err as Error).message}`;
  }
}

export async function removeCheckpoint(dir: string): Promise<void> {
  await fsp.unlink(join(dir, CHECKPOINT_FILE)).catch(() => undefined);
  await fsp.unlink(join(dir, CHECKPOINT_FILE + '.tmp')).catch(() => undefined);
}
