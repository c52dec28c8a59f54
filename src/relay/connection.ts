// One client connection: its socket, line decoder, request queue and output bound. The relay's
// protocol logic (server.ts) sees only whole lines in and frames out.
//
// Flow control, after ws: requests are handled one at a time in arrival order; a request that
// waits for the disk (join, history) holds the ones behind it, and so does output the socket
// cannot take (write() returned false) until 'drain'. Reading is paused meanwhile, so a client
// that does not read cannot make the relay do more work. What others send to it (fan-out) is
// still queued, up to `maxOutput` bytes (§1.7 slow readers); beyond that the connection is
// closed without a frame. Every byte queued is also accounted in the relay's global output
// budget (outputBudget.ts, issue 7 §1.2), mirrored from the socket's writableLength at each
// write and each write callback, so the total is exact without a timer.
import type { Socket } from 'node:net';
import { FrameDecoder, encodeFrame, type FrameDecodeError } from '../core/wire/codec';
import type { ErrorCode } from '../core/wire/frames';
import type { BudgetHolder, OutputBudget } from './outputBudget';
import type { Member, RoomPeer } from './room';
import { TokenBucket } from './rateLimiter';

/**
 * Output batching: the first write of a tick corks the socket and one nextTick uncorks every
 * corked socket, so what a tick produces for a connection (a group commit's msgs, a catch-up)
 * reaches the OS as one writev instead of one syscall per frame. It adds no latency: the
 * uncork runs before the event loop moves on.
 */
const corked: Connection[] = [];
let uncorkScheduled = false;

function uncorkAll(): void {
  uncorkScheduled = false;
  for (const conn of corked.splice(0)) conn.uncork();
}

/** "1.2.3.4:5" or "[::1]:5", for logs. */
export function formatAddress(ip: string, port: number | undefined): string {
  return ip.includes(':') ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}

/** A queue this small counts as drained (outputBudget.ts stall detection); REPLY_LOW_WATER. */
const DRAINED_BYTES = 64 * 1024;

/**
 * Join proofs a connection may have checked (§1.9): each costs one Ed25519 verification, 0.1 to
 * 0.4 ms of the event loop, so a burst of 40 (a client joins at most 32 rooms, and re-joins a
 * few when it resyncs), then 8 a second. Past it a join gets `rate_limited` (open) and is not
 * processed, as a send would; the client retries it later.
 */
export const JOIN_PROOF_RATE = 8;
export const JOIN_PROOF_BURST = 40;
/**
 * The same, per remote address and across connections (`--join-rate-per-ip`, default 32/s,
 * burst this many times the rate): without it, a stranger who reconnects gets a fresh bucket
 * each time (2 500 checks a second from one address in an attack). A team behind one NAT
 * re-joining after a relay restart (30 people × 8 rooms) fits in the default burst of 256.
 */
export const JOIN_PROOF_BURST_PER_RATE = 8;

export interface ConnectionHooks {
  /** Handles one line; a returned promise holds the connection's later lines until it settles. */
  line(conn: Connection, line: string): void | Promise<void>;
  /** The decoder gave up (§1.1): reply and close. */
  decodeError(conn: Connection, code: FrameDecodeError): void;
  /** Called once, whatever closed the connection. */
  closed(conn: Connection, reason: string): void;
}

export interface ConnectionLimits {
  maxFrame: number;
  maxOutput: number;
  rate: number;
  burst: number;
}

export class Connection implements RoomPeer, BudgetHolder {
  readonly address: string;
  readonly remoteIp: string;
  readonly openedAt: number;
  lastReceived: number;
  helloed = false;
  /** §1.9: the challenge sent in this connection's welcome (empty before hello). */
  challenge = '';
  /** `bye` was sent (§1.7): later frames get `shutting_down`. */
  byeSent = false;
  closed = false;
  /** When `end()` was called, so the sweeper can destroy a peer that never closes its side. */
  endedAt = 0;
  /** Rooms joined, by room id. */
  readonly rooms = new Map<string, Member>();
  readonly bucket: TokenBucket;
  /** §1.9: bounds the signature checks this connection can make the relay do. */
  readonly joinProofBucket: TokenBucket;
  rateLimited = 0;
  /** Sends this connection made that are not yet durable (for shutdown accounting). */
  inflight = 0;

  private readonly decoder: FrameDecoder;
  /** Lines received and not yet handled, from `backlogHead` on. */
  private backlog: (string | { decodeError: FrameDecodeError })[] = [];
  private backlogHead = 0;
  private busy = false;
  private outputBlocked = false;
  private readingPaused = false;
  private isCorked = false;
  /** The peer half-closed: no more input; the relay ends its side once every reply is out. */
  private peerEnded = false;
  /** Bytes of this socket's queue accounted in the global budget (its writableLength then). */
  private accounted = 0;
  /**
   * See BudgetHolder.progressAt: when this connection's queue was last seen drained to
   * DRAINED_BYTES or less. Not "any byte taken": a client that reads one byte a second must
   * count as stalled, or a few of them could hold the global budget for ever.
   */
  progressAt = 0;
  /** A reply stream waiting for the queue to fall to `bytes` (whenOutputBelow). */
  private outputWaiter: { bytes: number; resolve: () => void } | undefined;
  private readonly onFlushed = (): void => this.syncAccounted();

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
    now: number,
    private readonly budget: OutputBudget,
  ) {
    this.remoteIp = socket.remoteAddress ?? 'unknown';
    this.address = formatAddress(this.remoteIp, socket.remotePort);
    this.openedAt = now;
    this.lastReceived = now;
    this.bucket = new TokenBucket(limits.rate, limits.burst, now);
    this.joinProofBucket = new TokenBucket(JOIN_PROOF_RATE, JOIN_PROOF_BURST, now);
    // A framing error is queued behind the lines before it, so those are still answered.
    this.decoder = new FrameDecoder(limits.maxFrame, {
      line: (text) => this.backlog.push(text),
      error: (code) => this.backlog.push({ decodeError: code }),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.outputBlocked = false;
      this.pump();
    });
    socket.on('error', () => {
      // ECONNRESET and the like: 'close' follows and does the cleanup.
    });
    socket.on('end', () => {
      this.peerEnded = true;
      this.finishIfDone();
    });
    socket.on('close', () => this.markClosed('peer_closed'));
  }

  /**
   * After the peer half-closed: ends our side once its received lines are handled and its
   * sends are durable and answered, so nothing it sent before closing goes unanswered.
   */
  finishIfDone(): void {
    if (this.peerEnded && !this.closed && !this.busy && this.inflight === 0 && this.backlogHead >= this.backlog.length) {
      this.end('peer_closed');
    }
  }

  get outputLimit(): number {
    return this.limits.maxOutput;
  }

  /** Bytes accepted for this connection and not yet handed to the OS. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  get accountedBytes(): number {
    return this.accounted;
  }

  /**
   * Resolves once this connection's queued output is at most `bytes` (or it closed): a reply
   * stream reads its next chunk from disk only then (issue 7 §1.2 backpressure).
   */
  whenOutputBelow(bytes: number): Promise<void> {
    if (this.closed || this.socket.writableLength <= bytes) return Promise.resolve();
    return new Promise((resolve) => {
      this.outputWaiter = { bytes, resolve };
    });
  }

  resyncOutput(): void {
    this.syncAccounted();
  }

  /** Mirrors writableLength into the budget; wakes a reply stream waiting for the queue. */
  private syncAccounted(): void {
    if (this.closed) return;
    const now = this.socket.writableLength;
    if (this.accounted <= DRAINED_BYTES) this.progressAt = Date.now();
    if (now > this.accounted) {
      const grown = now - this.accounted;
      this.accounted = now;
      this.budget.add(this, grown);
    } else if (now < this.accounted) {
      const shrunk = this.accounted - now;
      this.accounted = now;
      if (now <= DRAINED_BYTES) this.progressAt = Date.now();
      this.budget.remove(this, shrunk);
    }
    const waiter = this.outputWaiter;
    if (waiter && !this.closed && now <= waiter.bytes) {
      this.outputWaiter = undefined;
      waiter.resolve();
    }
  }

  write(data: string | Buffer): void {
    if (this.closed) return;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      corked.push(this);
      if (!uncorkScheduled) {
        uncorkScheduled = true;
        process.nextTick(uncorkAll);
      }
    }
    const flushed = this.socket.write(data, this.onFlushed);
    this.syncAccounted();
    if (this.closed) return;
    if (this.socket.writableLength > this.limits.maxOutput) {
      // Corked bytes are not the reader's fault: hand them to the OS first, then judge what
      // it could not take (§1.7).
      this.uncork();
      if (this.socket.writableLength > this.limits.maxOutput) {
        this.abort('slow_reader');
        return;
      }
    }
    if (!flushed) this.outputBlocked = true;
  }

  /** Hands what this tick wrote to the OS (see `corked`). */
  uncork(): void {
    if (!this.isCorked) return;
    this.isCorked = false;
    this.socket.uncork();
  }

  sendFrame(frame: object): void {
    this.write(encodeFrame(frame));
  }

  /** Sends `error` (§1.7); closes the connection after it when the code says so. */
  sendError(code: ErrorCode, message: string, rid: number | undefined, close: boolean): void {
    const frame: Record<string, unknown> = { t: 'error' };
    if (rid !== undefined) frame.rid = rid;
    frame.code = code;
    frame.message = message;
    this.sendFrame(frame);
    if (close) this.end(code);
  }

  /** Closes after what is queued is flushed. */
  end(reason: string): void {
    if (this.closed) return;
    this.endedAt = Date.now();
    this.uncork();
    this.socket.end();
    this.markClosed(reason);
  }

  /** Closes at once, without a frame (timeouts, slow readers, §1.3 / §1.7). */
  abort(reason: string): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.socket.destroy();
  }

  /** Used by the relay's sweeper for sockets that were ended and linger. */
  destroySocket(): void {
    this.socket.destroy();
  }

  private markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // What is still queued is freed with the socket (abort), or flushed after end() — and
    // destroyed by the relay's sweeper if the peer does not take it within its linger time.
    const held = this.accounted;
    this.accounted = 0;
    this.budget.remove(this, held);
    const waiter = this.outputWaiter;
    this.outputWaiter = undefined;
    waiter?.resolve();
    this.decoder.stop();
    this.backlog = [];
    this.backlogHead = 0;
    this.hooks.closed(this, reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReceived = Date.now();
    this.decoder.push(chunk);
    this.pump();
  }

  /** Handles queued lines in order until one waits for the disk or the output is blocked. */
  private pump(): void {
    while (!this.closed && !this.busy && !this.outputBlocked && this.backlogHead < this.backlog.length) {
      const entry = this.backlog[this.backlogHead++] as string | { decodeError: FrameDecodeError };
      if (this.backlogHead === this.backlog.length) {
        this.backlog = [];
        this.backlogHead = 0;
      }
      if (typeof entry !== 'string') {
        this.hooks.decodeError(this, entry.decodeError);
        continue;
      }
      const pending = this.hooks.line(this, entry);
      if (pending) {
        this.busy = true;
        pending.then(
          () => this.afterRequest(),
          () => this.afterRequest(),
        );
      }
    }
    this.updateReading();
    this.finishIfDone();
  }

  private afterRequest(): void {
    this.busy = false;
    this.pump();
  }

  /** Reads only while the backlog is empty and nothing holds it (see the header comment). */
  private updateReading(): void {
    if (this.closed) return;
    const shouldPause = this.busy || this.outputBlocked || this.backlogHead < this.backlog.length;
    if (shouldPause && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    } else if (!shouldPause && this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }
}
