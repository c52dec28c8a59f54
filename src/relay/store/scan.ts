// Recovery's reading of one segment file (docs/storage.md "Recovery"). Reads the file in large
// chunks, checks every record's length and CRC, and reports intact records and the bad regions
// between them. A bad region followed by an intact record is "corrupt"; one that runs to the end
// of the file is a "torn tail" (a write cut short by a crash). After a bad byte the scanner
// looks for the next intact record at every following offset, so one damaged record never hides
// the intact records after it.

import { readFully } from './fsUtil';
import { crcMatches, plausibleLength, RECORD_FIXED } from './record';

const CHUNK = 4 * 1024 * 1024;

export interface ScanSink {
  /** An intact record: `length` bytes at `off` of `buf`, which lie at `fileOffset` in the file. */
  record(buf: Buffer, off: number, length: number, fileOffset: number): void;
  /** Bytes `start..end` of the file hold no intact record; `tail` when nothing intact follows. */
  bad(start: number, end: number, tail: boolean): void;
}

/** A window of a file held in memory: bytes `start..start + length` of the file. */
class Window {
  buf = Buffer.allocUnsafe(CHUNK);
  start = 0;
  length = 0;

  constructor(private readonly fd: number, private readonly fileSize: number) {}

  has(pos: number, n: number): boolean {
    return pos >= this.start && pos + n <= this.start + this.length;
  }

  /** Loads a window that starts at `pos` and holds at least `n` bytes; false past end of file. */
  async load(pos: number, n: number): Promise<boolean> {
    if (pos + n > this.fileSize) return false;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    const want = Math.min(this.buf.length, this.fileSize - pos);
    const got = await readFully(this.fd, this.buf, 0, want, pos);
    this.start = pos;
    this.length = got;
    return got >= n;
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
  if (badStart >= 0) sink.bad(badStart, fileSize, true);
  return end;
}
