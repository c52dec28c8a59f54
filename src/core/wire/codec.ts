// Line framing of docs/protocol.md §1.1: one JSON object per line, UTF-8, ending in "\n", a "\r"
// before it tolerated, empty lines ignored, every line at most `maxFrame` bytes with its "\r"
// and "\n". Used by the relay and by the client core, so it depends on nothing but the
// standard Uint8Array / TextDecoder of every JavaScript runtime.

/** Why the decoder gave up. Both are fatal for the connection (§1.7). */
export type FrameDecodeError = 'frame_too_large' | 'bad_frame';

export interface FrameDecoderHandlers {
  /** One complete, non-empty line, without its "\r\n" / "\n", decoded from UTF-8. */
  line(text: string): void;
  /** The input broke §1.1; the decoder has stopped and ignores everything after. */
  error(code: FrameDecodeError): void;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * One fatal decoder for every FrameDecoder: `decode` without `stream` keeps no state between
 * calls, and sharing it keeps an idle connection small (docs/benchmarks.md: ≤ 20 KiB each).
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits a byte stream into lines. Like ws's receiver, it checks the length *before*
 * buffering: an unfinished line is never held beyond `maxFrame - 1` bytes (the newline still to
 * come makes `maxFrame`), so an endless line fails as soon as it is too long, not when (if
 * ever) its newline arrives.
 */
export class FrameDecoder {
  /** Bytes of the unfinished line, copied out of the chunks that brought them. */
  private partial: Uint8Array[] = [];
  private partialLength = 0;
  private stopped = false;

  constructor(
    private readonly maxFrame: number,
    private readonly handlers: FrameDecoderHandlers,
  ) {}

  /** Bytes held for an unfinished line (never more than `maxFrame - 1`). */
  get buffered(): number {
    return this.partialLength;
  }

  /** True once an error was reported or `stop()` was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Discards what is buffered and ignores all later input (the connection is closing). */
  stop(): void {
    this.stopped = true;
    this.partial = [];
    this.partialLength = 0;
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    while (!this.stopped && start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        const rest = chunk.length - start;
        // §1.1: the line would be over maxFrame whatever follows: fail before buffering it.
        if (this.partialLength + rest > this.maxFrame - 1) return this.fail('frame_too_large');
        this.partial.push(chunk.slice(start));
        this.partialLength += rest;
        return;
      }
      const lineBytes = this.partialLength + (newline - start) + 1;
      if (lineBytes > this.maxFrame) return this.fail('frame_too_large');
      const line = this.takeLine(chunk.subarray(start, newline));
      start = newline + 1;
      if (line.length === 0) continue;
      let text: string;
      try {
        text = UTF8.decode(line);
      } catch {
        return this.fail('bad_frame');
      }
      this.handlers.line(text);
    }
  }

  /** Joins the buffered start of a line with its end and drops a trailing "\r". */
  private takeLine(tail: Uint8Array): Uint8Array {
    let line = tail;
    if (this.partialLength > 0) {
      line = new Uint8Array(this.partialLength + tail.length);
      let offset = 0;
      for (const part of this.partial) {
        line.set(part, offset);
        offset += part.length;
      }
      line.set(tail, offset);
      this.partial = [];
      this.partialLength = 0;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    return line;
  }

  private fail(code: FrameDecodeError): void {
    this.stop();
    this.handlers.error(code);
  }
}

/**
 * Deepest nesting of `[` and `{` a frame may have (docs/protocol.md §1.1). Every frame of §1 is an
 * object (depth 1) and the deepest, `presence`, is 3 (`{"members":[{…}]}`); 4 leaves one level
 * for an unknown field of a later version. JSON.parse of a deeply nested line costs tens of
 * bytes per level (a 1 MiB line of `[[[…]]]` took ~77 MB), so the depth is checked first.
 */
export const MAX_JSON_DEPTH = 4;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when `text` nests `[`/`{` deeper than `maxDepth` outside JSON strings. A scan without
 * allocation, run before JSON.parse; string contents are skipped with indexOf. Malformed JSON
 * is not its business (JSON.parse rejects it afterwards).
 */
export function jsonDepthExceeds(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip to the closing quote: one not preceded by an odd run of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end === -1) return false;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Encodes one frame as a line (§1.1). JSON.stringify never emits a raw newline in a value. */
export function encodeFrame(frame: object): string {
  return JSON.stringify(frame) + '\n';
}

/** UTF-8 byte length of a string, without allocating (for the maxFrame bound on output). */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
