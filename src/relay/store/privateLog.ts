// The private-room records of the embedded store (docs/storage.md "Private rooms"; protocol
// §3.6): `private.log` in the data directory, beside the message log. It is small (one record
// per reset and per commit), read whole at open and rewritten whole, compacted, at every open.
//
// A commit must be stored with its new epoch "in the same durable write" (§3.6). The message
// log's format stays as it is; instead the rotation record is made durable FIRST, naming the
// seq and id its message will have, and the message after it. A rotation whose message is not
// in the log at the next open (the relay stopped between the two syncs, or the message's write
// failed) is dropped there, so that the pair is all or nothing. The state in memory changes only
// once both are durable.
//
// Layout: "SMCPRV1\n", then records back to back, little-endian:
//   0  4   payload length      4  4  CRC-32 of the payload
//   -- payload --
//   8  1   kind: 1 reset, 2 rotation (written live, checked at open), 3 rotation (checked),
//          4 cut (a repair, §3.6: the epochs after `epoch` go; `seq` is the refused commit's)
//   9  1   room length  10 1 id length  11 1 reserved 0
//   12 4   seq          16 8 ts (u64)   24 8 epoch (u64)
//   32 32  authPub      64 32 owner (reset; zeros otherwise)
//   96 ..  room, id
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { EpochKey, PrivateRoomRecord } from './types';
import { closeFd, fdatasync, openFd, syncDir, writeAll } from './fsUtil';

export const PRIVATE_LOG_FILE = 'private.log';
const MAGIC = Buffer.from('SMCPRV1\n', 'latin1');
const HEADER = 8;
const FIXED = 88;
const KEY = 32;
export const KIND_RESET = 1;
export const KIND_ROTATION = 2;
export const KIND_ROTATION_CHECKED = 3;
export const KIND_CUT = 4;
/**
 * Epochs kept per room: a member whose key is older than the newest MAX_EPOCHS epochs cannot
 * catch up through them (auth_failed, §3.6) and rejoins by invite. It bounds the record's
 * memory (about 100 bytes an epoch) and a join's lookup.
 */
export const MAX_EPOCHS = 1024;

export interface PrivateLogRecord {
  kind: number;
  room: string;
  id: string;
  seq: number;
  ts: number;
  epoch: number;
  authPub: Buffer;
  owner: Buffer;
}

const ZERO_KEY = Buffer.alloc(KEY);

export function encodePrivateRecord(r: PrivateLogRecord): Buffer {
  const room = Buffer.from(r.room, 'utf8');
  const id = Buffer.from(r.id, 'utf8');
  if (room.length < 1 || room.length > 255 || id.length > 255) throw new RangeError('bad room or id');
  if (r.authPub.length !== KEY || r.owner.length !== KEY) throw new RangeError('bad key');
  const payload = FIXED + room.length + id.length;
  const buf = Buffer.alloc(HEADER + payload);
  const p = HEADER;
  buf[p] = r.kind;
  buf[p + 1] = room.length;
  buf[p + 2] = id.length;
  buf.writeUInt32LE(r.seq, p + 4);
  buf.writeBigUInt64LE(BigInt(r.ts), p + 8);
  buf.writeBigUInt64LE(BigInt(r.epoch), p + 16);
  r.authPub.copy(buf, p + 24);
  r.owner.copy(buf, p + 24 + KEY);
  room.copy(buf, p + FIXED);
  id.copy(buf, p + FIXED + room.length);
  buf.writeUInt32LE(payload, 0);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

/**
 * Every intact record of a file's bytes, in order. A record that fails its CRC but whose length
 * is plausible is skipped (counted in `corrupt`); bytes that cannot be a record end the scan
 * (a torn tail, `tornAt`), and the rewrite at open drops them.
 */
export function decodePrivateLog(buf: Buffer): { records: PrivateLogRecord[]; corrupt: number; tornAt: number | undefined } {
  const records: PrivateLogRecord[] = [];
  let corrupt = 0;
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    return { records, corrupt, tornAt: buf.length === 0 ? undefined : 0 };
  }
  let off = MAGIC.length;
  while (off < buf.length) {
    if (buf.length - off < HEADER + FIXED) return { records, corrupt, tornAt: off };
    const payload = buf.readUInt32LE(off);
    const p = off + HEADER;
    const roomLen = buf[p + 1] as number;
    const idLen = buf[p + 2] as number;
    if (payload < FIXED || payload !== FIXED + roomLen + idLen || off + HEADER + payload > buf.length) return { records, corrupt, tornAt: off };
    const end = off + HEADER + payload;
    const kind = buf[p] as number;
    if (crc32(buf.subarray(p, end)) !== buf.readUInt32LE(off + 4) || roomLen === 0 || buf[p + 3] !== 0
      || (kind !== KIND_RESET && kind !== KIND_ROTATION && kind !== KIND_ROTATION_CHECKED && kind !== KIND_CUT)) {
      corrupt++;
      off = end;
      continue;
    }
    records.push({
      kind,
      seq: buf.readUInt32LE(p + 4),
      ts: Number(buf.readBigUInt64LE(p + 8)),
      epoch: Number(buf.readBigUInt64LE(p + 16)),
      authPub: Buffer.from(buf.subarray(p + 24, p + 24 + KEY)),
      owner: Buffer.from(buf.subarray(p + 24 + KEY, p + 24 + 2 * KEY)),
      room: buf.toString('utf8', p + FIXED, p + FIXED + roomLen),
      id: buf.toString('utf8', p + FIXED + roomLen, end),
    });
    off = end;
  }
  return { records, corrupt, tornAt: undefined };
}

/** A room's record while it is built from the log, with which rotations still need checking. */
export interface LoadedRoom {
  owner: Buffer;
  epochs: EpochKey[];
  /** Index in `epochs` of the first rotation written live (not yet checked against the log). */
  uncheckedFrom: number;
}

/**
 * Replays the records in order: a reset starts the room afresh; a rotation extends it only when
 * it begins the epoch after the current one (anything else is a leftover of a failed write).
 */
export function replayPrivateLog(records: PrivateLogRecord[]): Map<string, LoadedRoom> {
  const rooms = new Map<string, LoadedRoom>();
  for (const r of records) {
    if (r.kind === KIND_RESET) {
      // The anchor of a rewrite keeps its commit's id ('' for a real reset).
      rooms.set(r.room, { owner: r.owner, epochs: [{ epoch: r.epoch, authPub: r.authPub, seq: r.seq, ts: r.ts, id: r.id }], uncheckedFrom: Infinity });
      continue;
    }
    const room = rooms.get(r.room);
    if (r.kind === KIND_CUT) {
      if (room === undefined) continue;
      const keep = cutIndex(room.epochs, r.epoch, r.authPub, r.seq);
      if (keep === undefined) continue;
      room.epochs.length = keep + 1;
      if (room.uncheckedFrom > keep) room.uncheckedFrom = Infinity;
      continue;
    }
    const current = room?.epochs[room.epochs.length - 1];
    if (room === undefined || current === undefined || r.epoch !== current.epoch + 1 || r.seq <= current.seq) continue;
    room.epochs.push({ epoch: r.epoch, authPub: r.authPub, seq: r.seq, ts: r.ts, id: r.id });
    if (r.kind === KIND_ROTATION && room.uncheckedFrom === Infinity) room.uncheckedFrom = room.epochs.length - 1;
    if (room.epochs.length > MAX_EPOCHS) {
      room.epochs.shift();
      if (room.uncheckedFrom !== Infinity) room.uncheckedFrom--;
    }
  }
  return rooms;
}

/**
 * §3.6 repair: the index of `epoch` in `epochs` when it has exactly `authPub`, is not the last,
 * and the epoch after it began at `refuse`; undefined otherwise (the repair is refused).
 */
export function cutIndex(epochs: readonly EpochKey[], epoch: number, authPub: Buffer, refuse: number): number | undefined {
  const i = epochs.findIndex((e) => e.epoch === epoch);
  const at = epochs[i];
  const next = epochs[i + 1];
  if (at === undefined || next === undefined || !at.authPub.equals(authPub) || next.seq !== refuse) return undefined;
  return i;
}

/** The records that describe `rooms` exactly: one reset-like anchor, then checked rotations. */
export function recordsOf(rooms: ReadonlyMap<string, PrivateRoomRecord>): PrivateLogRecord[] {
  const out: PrivateLogRecord[] = [];
  for (const [room, rec] of rooms) {
    rec.epochs.forEach((e, i) => out.push({
      kind: i === 0 ? KIND_RESET : KIND_ROTATION_CHECKED, room, id: e.id, seq: e.seq, ts: e.ts, epoch: e.epoch,
      authPub: e.authPub, owner: i === 0 ? rec.owner : ZERO_KEY,
    }));
  }
  return out;
}

/** A record's size, about (a 22-char room and id). */
export const RECORD_BYTES_ABOUT = HEADER + FIXED + 44;
/** The file is rewritten when it is past this size and mostly superseded records. */
export const COMPACT_AT_BYTES = 1024 * 1024;

/**
 * Whether the file (of `fileBytes`) should be rewritten from the state (`liveRecords` records):
 * every commit appends one record and a reset supersedes a room's earlier ones, so a relay that
 * runs for long would otherwise grow it without bound between starts.
 */
export function shouldCompactPrivateLog(fileBytes: number, liveRecords: number): boolean {
  return fileBytes > COMPACT_AT_BYTES && fileBytes > 4 * liveRecords * RECORD_BYTES_ABOUT;
}

/** The file: appends made durable one batch at a time, and whole rewrites. */
export class PrivateLog {
  private fd: number | undefined;
  private size = 0;
  /** A write failed: the file may hold a record the state does not; rewrite before the next. */
  private dirty = false;
  private tail: Promise<unknown> = Promise.resolve();
  /**
   * Records durable in the file whose fate is not settled yet (a rotation whose message is being
   * written): a rewrite meanwhile keeps them, or a rotation acked a moment later would be lost.
   */
  private unsettled: PrivateLogRecord[] = [];

  constructor(private readonly dir: string) {}

  /** Bytes of the file as written so far. */
  get bytes(): number {
    return this.size;
  }

  get path(): string {
    return join(this.dir, PRIVATE_LOG_FILE);
  }

  /** The file's bytes (empty when there is none). */
  async read(): Promise<Buffer> {
    try {
      return await fsp.readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    }
  }

  /** Replaces the file with exactly `records` (temp file, sync, rename, directory sync) and opens it for appends. */
  async rewrite(records: PrivateLogRecord[]): Promise<void> {
    const tmp = this.path + '.tmp';
    const buf = Buffer.concat([MAGIC, ...records.map(encodePrivateRecord)]);
    const fd = await openFd(tmp, 'w');
    try {
      await writeAll(fd, buf, 0);
      await fdatasync(fd);
    } catch (err) {
      // A full disk: give back what the temp file took; the file itself is untouched.
      await closeFd(fd).catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await closeFd(fd);
    await this.closeFd();
    await fsp.rename(tmp, this.path);
    await syncDir(this.dir);
    this.fd = await openFd(this.path, 'r+');
    this.size = buf.length;
    this.dirty = false;
  }

  /**
   * Appends `records` durably (one write, one sync), after any earlier append. When a write fails
   * the file is rewritten from `current()` (the state in memory, which the failed records never
   * reached) before the next append, and the append rejects.
   */
  append(records: PrivateLogRecord[], current: () => PrivateLogRecord[]): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.dirty || this.fd === undefined) await this.rewrite([...current(), ...this.unsettled]);
      const buf = Buffer.concat(records.map(encodePrivateRecord));
      try {
        await writeAll(this.fd as number, buf, this.size);
        await fdatasync(this.fd as number);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
      this.size += buf.length;
      this.unsettled.push(...records);
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * The fate of appended `records` is known: `kept` (the state in memory now holds them), or not
   * (the message write after a rotation failed: the record must not survive; the next append
   * rewrites the file without it).
   */
  settle(records: readonly PrivateLogRecord[], kept: boolean): void {
    const done = new Set(records);
    this.unsettled = this.unsettled.filter((r) => !done.has(r));
    if (!kept) this.dirty = true;
  }

  /** The next append rewrites the file first (compaction). */
  markDirty(): void {
    this.dirty = true;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.closeFd();
  }

  private async closeFd(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await closeFd(fd);
  }
}
