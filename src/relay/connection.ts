// One client connection: its socket, line decoder, request queue and output bound (the roles
// of ws's Receiver and Sender). The protocol (protocol.ts, one Session per connection) sees
// only whole lines in and encoded frames out; this file knows no frame.
//
// Flow control, after ws: requests are handled one at a time in arrival order; a request that
// waits for the disk (join, history) holds the ones behind it, and so does output the socket
// cannot take (write() returned false) until 'drain'. Reading is paused meanwhile, so a client
// that does not read cannot make the relay do more work. What others send to it (fan-out) is
// still queued, up to `maxOutput` bytes (§1.7 slow readers); beyond that the connection is
// closed without a frame. Every byte queued is also accounted in the relay's global output
// budget (outputBudget.ts, docs/protocol.md §1.7), mirrored from the socket's writableLength when a
// tick's writes are handed to the OS (uncork), when a flush probe comes back and on 'drain',
// so the total follows the queue without a timer. One probe at a time (a write callback on
// one chunk, not on every chunk): a callback and a recount per delivered frame cost the
// fan-out path about a sixth more CPU per delivery.
import type { Socket } from 'node:net';
import { formatHostPort } from '../core/hostPort';
import { FrameDecoder, type FrameDecodeError } from '../core/wire/codec';
import type { BudgetHolder, OutputBudget } from './outputBudget';
import type { SessionLink } from './protocol';

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

/** "1.2.3.4:5" or "[::1]:5", for logs (formatHostPort; port 0 when the socket has none). */
export function formatAddress(ip: string, port: number | undefined): string {
  return formatHostPort(ip, port ?? 0);
}

/** A queue this small counts as drained (outputBudget.ts stall detection); REPLY_LOW_WATER. */
const DRAINED_BYTES = 64 * 1024;

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
}

export class Connection implements SessionLink, BudgetHolder {
  readonly address: string;
  readonly remoteIp: string;
  readonly openedAt: number;
  private lastReceivedAt: number;
  private closedValue = false;
  /** When `end()` was called, so the sweeper can destroy a peer that never closes its side. */
  private endedAtValue = 0;
  /** Answers owed that do not hold the request queue (track): a send waiting for the disk. */
  private tracked = 0;

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
  /** A write of ours carries onFlushed and has not come back yet. */
  private probeArmed = false;
  private readonly onFlushed = (): void => {
    this.probeArmed = false;
    this.syncAccounted();
  };

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
    now: number,
    private readonly budget: OutputBudget<Connection>,
  ) {
    this.remoteIp = socket.remoteAddress ?? 'unknown';
    this.address = formatAddress(this.remoteIp, socket.remotePort);
    this.openedAt = now;
    this.lastReceivedAt = now;
    // A framing error is queued behind the lines before it, so those are still answered.
    this.decoder = new FrameDecoder(limits.maxFrame, {
      line: (text) => this.backlog.push(text),
      error: (code) => this.backlog.push({ decodeError: code }),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.outputBlocked = false;
      this.syncAccounted();
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

  get closed(): boolean {
    return this.closedValue;
  }

  /** When a byte last came from the peer (§1.3 idle timeout). */
  get lastReceived(): number {
    return this.lastReceivedAt;
  }

  /** When end() was called, 0 if it was not. */
  get endedAt(): number {
    return this.endedAtValue;
  }

  /** See SessionLink.track. */
  track(work: Promise<unknown>): void {
    this.tracked++;
    const done = (): void => {
      this.tracked--;
      this.finishIfDone();
    };
    work.then(done, done);
  }

  /**
   * After the peer half-closed: ends our side once its received lines are handled and what
   * they started is answered (track), so nothing it sent before closing goes unanswered.
   */
  private finishIfDone(): void {
    if (this.peerEnded && !this.closedValue && !this.busy && this.tracked === 0 && this.backlogHead >= this.backlog.length) {
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
   * stream reads its next chunk from disk only then (replyReader.ts, §1.7 slow readers).
   */
  whenOutputBelow(bytes: number): Promise<void> {
    if (this.closedValue || this.socket.writableLength <= bytes) return Promise.resolve();
    return new Promise((resolve) => {
      this.outputWaiter = { bytes, resolve };
    });
  }

  resyncOutput(): void {
    this.syncAccounted();
  }

  /** Mirrors writableLength into the budget; wakes a reply stream waiting for the queue. */
  private syncAccounted(): void {
    if (this.closedValue) return;
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
    if (waiter && !this.closedValue && now <= waiter.bytes) {
      this.outputWaiter = undefined;
      waiter.resolve();
    }
  }

  write(data: string | Buffer): void {
    if (this.closedValue) return;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      corked.push(this);
      if (!uncorkScheduled) {
        uncorkScheduled = true;
        process.nextTick(uncorkAll);
      }
    }
    let flushed: boolean;
    if (this.probeArmed) {
      flushed = this.socket.write(data);
    } else {
      this.probeArmed = true;
      flushed = this.socket.write(data, this.onFlushed);
    }
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
    this.syncAccounted();
  }

  /** Closes after what is queued is flushed. */
  end(reason: string): void {
    if (this.closedValue) return;
    this.endedAtValue = Date.now();
    this.uncork();
    this.socket.end();
    this.markClosed(reason);
  }

  /** Closes at once, without a frame (timeouts, slow readers, §1.3 / §1.7). */
  abort(reason: string): void {
    if (this.closedValue) return;
    this.markClosed(reason);
    this.socket.destroy();
  }

  private markClosed(reason: string): void {
    if (this.closedValue) return;
    this.closedValue = true;
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
    if (this.closedValue) return;
    this.lastReceivedAt = Date.now();
    this.decoder.push(chunk);
    this.pump();
  }

  /** Handles queued lines in order until one waits for the disk or the output is blocked. */
  private pump(): void {
    while (!this.closedValue && !this.busy && !this.outputBlocked && this.backlogHead < this.backlog.length) {
      const entry = this.backlog[this.backlogHead++] as string | { decodeError: FrameDecodeError };
      if (this.backlogHead === this.backlog.length) {
        this.backlog = [];
        this.backlogHead = 0;
      }
      if (typeof entry !== 'string') {
        this.hooks.decodeError(this, entry.decodeError);
        continue;
      }
      const request = this.hooks.line(this, entry);
      if (request) {
        this.busy = true;
        request.then(
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
    if (this.closedValue) return;
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
