// Small promise wrappers over node:fs's fd calls. The log's hot path (docs/protocol.md §1.5 group
// commit) uses plain fds rather than FileHandle objects: fewer allocations per write and sync.

import * as fs from 'node:fs';

export function openFd(path: string, flags: string, mode = 0o600): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

export function fstatSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size))));
}

/** The inode number of an open file (identifies it across renames). */
export function fstatIno(fd: number): Promise<bigint> {
  return new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st.ino))));
}

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeAll(fd: number, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.write(fd, buf, done, buf.length - done, position + done, (err, written) => (err ? reject(err) : resolve(written))),
    );
    if (n === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += n;
  }
}

/** Reads up to `length` bytes at `position` into `buf` at `offset`; stops early only at end of file. */
export async function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, offset + done, length - done, position + done, (err, read) => (err ? reject(err) : resolve(read))),
    );
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function ftruncate(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve())));
}

/** Makes a directory's entries (created, renamed or removed files) durable. */
export async function syncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    await closeFd(fd);
  }
}

/** A short, log-safe description of an fs error. */
export function describeError(err: unknown): { code: string; message: string } {
  const e = err as NodeJS.ErrnoException;
  return { code: typeof e?.code === 'string' ? e.code : 'EUNKNOWN', message: e instanceof Error ? e.message : String(err) };
}
