// One segment file of the log (docs/storage.md "Segments"). The log is a sequence of files
// named by a growing number; only the last one is appended to. Reads take a reference so that
// compaction, which replaces or deletes sealed segments, closes a file only once no read uses it.

import { closeFd } from './fsUtil';
import { SEGMENT_MAGIC } from './record';

export const SEGMENT_HEADER = SEGMENT_MAGIC.length;
const NAME = /^(\d{12})\.seg$/;

export function segmentName(fileNo: number): string {
  return `${String(fileNo).padStart(12, '0')}.seg`;
}

/** The file number of a segment file name, or undefined for other files. */
export function parseSegmentName(name: string): number | undefined {
  const m = NAME.exec(name);
  return m === null ? undefined : Number(m[1]);
}

let nextId = 1;

export class Segment {
  /** Unique within the process; the index refers to segments by this id (a Uint32). */
  readonly id = nextId++;
  /** Bytes of the file that hold the header and intact records; appends go here. */
  size: number;
  /** Bytes of records that the index still points to. */
  liveBytes = 0;
  private refs = 0;
  private retired = false;

  constructor(readonly fileNo: number, readonly fd: number, size: number) {
    this.size = size;
  }

  get name(): string {
    return segmentName(this.fileNo);
  }

  acquire(): void {
    this.refs++;
  }

  release(): void {
    this.refs--;
    if (this.retired && this.refs === 0) void closeFd(this.fd).catch(() => undefined);
  }

  /** Closes the file as soon as no read holds it; the segment is no longer part of the log. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.refs === 0) void closeFd(this.fd).catch(() => undefined);
  }
}
