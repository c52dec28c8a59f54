// Recovery's reading of one segment file (docs/storage.md "Recovery"). Reads the file in large
// chunks, checks every record's length and CRC, and reports intact records and the bad regions
// between them. A bad region followed by an intact record is "corrupt"; one that runs to the end
// of the file is a "torn tail" (a write cut short by a crash). After a bad byte the scanner
// looks for the next intact record at every following offset, so one damaged record never hides
// the intact records after it.

import { readFully } from './fsUtil';
import { crcMatches, plausibleLength, RECORD_FIXED } from './record';

const CHUNK = 4 * 1024 * 1024;
/** Room kept before each chunk for the start of a record that straddles two chunks. */
const HEAD = 64 * 1024;

export interface ScanSink {
  /** An intact record: `length` bytes at `off` of `buf`, which lie at `fileOffset` in the file. */
  record(buf: Buffer, off: number, length: number, fileOffset: number): void;
  /** Bytes `start..end` of the file hold no intact record; `tail` when nothing intact follows. */
  bad(start: number, end: number, tail: boolean): void;
}

/**
 * A window of a file held in memory: bytes `start..start + length` of the file are `buf`. While
 * the caller checks one chunk, the next one is already being read (two buffers in turn), so
 * recovery's reading and checking overlap.
 */
class Window {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  length = 0;
  private readonly raws: Buffer[] = [Buffer.allocUnsafe(HEAD + CHUNK), Buffer.allocUnsafe(HEAD + CHUNK)];
  /** Which raw buffer `buf` lies in. */
  private cur = 0;
  private ahead: { pos: number; done: Promise<number> } | undefined;

  constructor(private readonly fd: number, private readonly fileSize: number) {}

  has(pos: number, n: number): boolean {
    return pos >= this.start && pos + n <= this.start + this.length;
  }

  private readAhead(pos: number): void {
    if (pos >= this.fileSize) {
      this.ahead = undefined;
      return;
    }
    const raw = this.raws[1 - this.cur] as Buffer;
    this.ahead = { pos, done: readFully(this.fd, raw, HEAD, Math.min(CHUNK, this.fileSize - pos), pos) };
  }

  /** Loads a window that starts at `pos` and holds at least `n` bytes; false past end of file. */
  async load(pos: number, n: number): Promise<boolean> {
    if (pos + n > this.fileSize) return false;
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined) {
      const got = await ahead.done;
      const tail = ahead.pos - pos;
      // The usual case: the rest of the current window, then the chunk read ahead.
      if (tail >= 0 && tail <= HEAD && pos >= this.start && tail + got >= n) {
        const raw = this.raws[1 - this.cur] as Buffer;
        this.buf.copy(raw, HEAD - tail, pos - this.start, pos - this.start + tail);
        this.cur = 1 - this.cur;
        this.buf = raw.subarray(HEAD - tail, HEAD + got);
        this.start = pos;
        this.length = tail + got;
        this.readAhead(ahead.pos + got);
        return true;
      }
    }
    // Otherwise (first load, a jump, a record larger than a chunk): read at `pos` directly.
    const want = Math.min(Math.max(CHUNK, n), this.fileSize - pos);
    let raw = this.raws[this.cur] as Buffer;
    if (HEAD + want > raw.length) {
      raw = Buffer.allocUnsafe(HEAD + want);
      this.raws[this.cur] = raw;
    }
    const got = await readFully(this.fd, raw, HEAD, want, pos);
    this.buf = raw.subarray(HEAD, HEAD + got);
    this.start = pos;
    this.length = got;
    this.readAhead(pos + got);
    return got >= n;
  }

  /** Waits for a read still in flight (before the file is touched or closed). */
  async settle(): Promise<void> {
    await this.ahead?.done.catch(() => undefined);
    this.ahead = undefined;
  }
}

/**
 * Scans bytes `from..fileSize` of the segment open as `fd`. Returns the file offset just past the
 * last intact record (`from` when there is none).
 */
export async function scanSegment(fd: number, from: number, fileSize: number, sink: ScanSink): Promise<number> {
  const w = new Window(fd, fileSize);
  let pos = from;
  let end = from;
  let badStart = -1;
  while (pos < fileSize) {
    let length = 0;
    if (w.has(pos, RECORD_FIXED) || (await w.load(pos, RECORD_FIXED))) {
      length = plausibleLength(w.buf, pos - w.start, RECORD_FIXED);
      if (length > 0 && !w.has(pos, length) && !(await w.load(pos, length))) length = 0;
      if (length > 0 && !crcMatches(w.buf, pos - w.start, length)) length = 0;
    }
    if (length === 0) {
      if (badStart < 0) badStart = pos;
      pos++;
      continue;
    }
    if (badStart >= 0) {
      sink.bad(badStart, pos, false);
      badStart = -1;
    }
    sink.record(w.buf, pos - w.start, length, pos);
    pos += length;
    end = pos;
  }
  await w.settle();
  if (badStart >= 0) sink.bad(badStart, fileSize, true);
  return end;
}
