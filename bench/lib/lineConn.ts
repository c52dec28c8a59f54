// A bare NDJSON connection (PROTOCOL.md §1.1) used as the load generator. It deliberately does
// no validation and no crypto: the benchmarks measure the relay, so the generator must stay
// cheap. Two receive modes:
//   - lines: every complete line is handed to `onLine` (for acks and latency stamps);
//   - count: only newlines are counted in the raw bytes (for fan-out throughput, where decoding
//     50 subscribers' traffic in one process would make the generator the bottleneck).
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { generateRoomKey, RoomCipher } from '../../src/core/crypto';

export type LineHandler = (line: string) => void;

export class LineConn {
  readonly socket: net.Socket;
  /** Lines received while in count mode. */
  counted = 0;
  private countMode = false;
  private partial = '';
  private handler: LineHandler | undefined;
  private waiters: { match: (line: string) => boolean; resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private closedError: Error | undefined;
  /** §1.9: the welcome's challenge, which every join proof of this connection signs. */
  private challenge = '';

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LineConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new LineConn(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Hands every further line to `handler` (lines mode). */
  onLine(handler: LineHandler | undefined): void {
    this.handler = handler;
  }

  /** Switches to counting newlines only; line handlers and waiters no longer see anything. */
  startCounting(): void {
    this.countMode = true;
    this.partial = '';
  }

  write(line: string): boolean {
    return this.socket.write(line + '\n');
  }

  send(frame: Record<string, unknown>): boolean {
    return this.write(JSON.stringify(frame));
  }

  /** Resolves with the first line (after now) for which `match` is true. */
  waitFor(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a line`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (line: string) => { clearTimeout(timer); resolve(line); },
        reject: (e: Error) => { clearTimeout(timer); reject(e); },
      };
      this.waiters.push(waiter);
    });
  }

  /** hello → welcome (§1.3). */
  async hello(agent = 'smc-bench/0.1.0'): Promise<void> {
    const welcome = this.waitFor((l) => l.includes('"t":"welcome"'));
    this.send({ t: 'hello', v: 2, agent });
    this.challenge = (JSON.parse(await welcome) as { challenge?: string }).challenge ?? '';
  }

  /** join with its proof (§1.9) → joined … synced (§1.4); resolves with the synced line. */
  async join(room: RoomCipher, rid: number, extra: Record<string, unknown> = {}): Promise<string> {
    const synced = this.waitFor((l) => l.includes('"t":"synced"') && l.includes(`"rid":${rid},`));
    this.send(this.joinFrame(room, rid, extra));
    return synced;
  }

  /** The join frame of `room` for this connection, with its proof (§1.4, §1.9). */
  joinFrame(room: RoomCipher, rid: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { t: 'join', rid, room: room.room, ...extra, ...room.joinProof(this.challenge) };
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.countMode) {
      let i = chunk.indexOf(10);
      while (i !== -1) {
        this.counted++;
        i = chunk.indexOf(10, i + 1);
      }
      return;
    }
    const text = this.partial + chunk.toString('utf8');
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.length > 0) this.deliver(line);
      if (this.countMode) return;
      nl = text.indexOf('\n', start);
    }
    this.partial = text.slice(start);
  }

  private deliver(line: string): void {
    if (line.includes('"t":"error"') && !this.waiters.length && !this.handler) {
      // An unexpected error frame means the benchmark is wrong: make it loud.
      process.stderr.write(`bench: relay sent ${line.slice(0, 200)}\n`);
    }
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      if (w && w.match(line)) {
        this.waiters.splice(i, 1);
        w.resolve(line);
        return;
      }
    }
    this.handler?.(line);
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const w of this.waiters) w.reject(e);
    this.waiters = [];
  }
}

/** A random 22-char b64u identifier (room or message id, §1.2). */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/** A b64u body of exactly `chars` characters (chars not of the form 4k+1, §1.2). */
export function randomBody(chars: number): string {
  return randomBytes(Math.ceil((chars * 3) / 4)).toString('base64url').slice(0, chars);
}

/**
 * Message ids that carry a sequence number, so a receiver can find the send time of what it
 * got without a map: 10 random chars (unique per run) + 12 decimal digits = 22 chars.
 */
export class NumberedIds {
  private readonly prefix = randomBytes(8).toString('base64url').slice(0, 10);

  id(n: number): string {
    return this.prefix + String(n).padStart(12, '0');
  }

  /** The number in an id found in `line` after `"id":"`, or -1. */
  static numberIn(line: string): number {
    const at = line.indexOf('"id":"');
    if (at === -1) return -1;
    return Number(line.slice(at + 16, at + 28));
  }
}

/** A room with a fresh random key (§2.1): its id is `.room`, and it can prove joins (§1.9). */
export function randomRoom(): RoomCipher {
  return new RoomCipher(generateRoomKey());
}
