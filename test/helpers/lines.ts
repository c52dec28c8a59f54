// NDJSON framing as the test helpers read it (docs/protocol.md §1.1: one frame a line, '\n'
// ends it): the one line splitter of the test clients, proxies and scripted relays. Kept apart
// from src/core/wire/codec.ts on purpose: the relay's conformance tests must not read the
// relay's answers with the decoder under test.
import type { Socket } from 'node:net';

/** Cuts text into lines; the unfinished rest waits for the next chunk. */
export class LineSplitter {
  private partial = '';

  /** The lines that `chunk` completes (without their '\n'), in order; empty lines included. */
  push(chunk: string): string[] {
    this.partial += chunk;
    const lines: string[] = [];
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) !== -1) {
      lines.push(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    return lines;
  }
}

/** Reads `socket` as UTF-8 and calls `onLine` for every complete line, empty ones included. */
export function readLines(socket: Socket, onLine: (line: string) => void): void {
  const splitter = new LineSplitter();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    for (const line of splitter.push(chunk)) onLine(line);
  });
}
