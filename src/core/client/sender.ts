// The sender: what this client sends to be stored (docs/protocol.md §1.5). Every message waits in
// the outbox until the relay acks it, and is sent again with the same id after a reconnect or
// a refusal that was not processed (§1.7: the relay's idempotence turns a resend into an ack).
// At most SEND_WINDOW sends are in flight; `rate_limited` pauses the window with a backoff; a
// message not acked in time is shown failed (and stays queued); drain() waits for the outbox.
import { isRetryable } from '../wire/frames';
import { Backoff } from './backoff';
import type { RelayLink } from './link';
import { Outbox, type OutboxEntry } from './outbox';
import { relayErrorMessage } from './relayErrors';
import type { RoomState } from './roomState';
import type { ClientTuning, OutgoingUpdate } from './types';
import { unref } from './util';

/** Sends in flight at once; more wait in the outbox (bounds what a rate_limited burst refuses). */
export const SEND_WINDOW = 64;

export interface SenderHooks {
  outgoing(update: OutgoingUpdate): void;
  /** A send was refused with not_joined (§1.7): the room is joined again. */
  rejoin(room: string): void;
}

export class Sender {
  readonly outbox = new Outbox();
  private inFlight = 0;
  private pausedUntil = 0;
  private pumpTimer?: ReturnType<typeof setTimeout>;
  /** §1.7 rate_limited: also spaces join retries (RelayClient), one backoff for both. */
  readonly rateBackoff: Backoff;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly link: RelayLink,
    private readonly rooms: ReadonlyMap<string, RoomState>,
    private readonly tuning: ClientTuning,
    private readonly hooks: SenderHooks,
  ) {
    this.rateBackoff = new Backoff(tuning.rateLimitBaseMs, tuning.rateLimitMaxMs);
  }

  /** Queues a sealed message; `refusedWith`: its room cannot be joined (§1.9), it waits failed. */
  add(entry: OutboxEntry, refusedWith?: string): void {
    this.outbox.add(entry);
    if (refusedWith !== undefined) {
      this.outbox.hold(entry, true);
      this.setState(entry, 'failed', refusedWith);
      return;
    }
    this.armFailTimer(entry);
    this.hooks.outgoing({ room: entry.room, id: entry.id, state: 'sending' });
    this.pump();
  }

  /** Sends a failed message again now (same id, so the relay cannot store it twice). */
  retry(room: string, id: string): void {
    const e = this.outbox.get(room, id);
    if (e === undefined) return;
    this.outbox.hold(e, false);
    this.setState(e, 'sending');
    this.armFailTimer(e);
    this.pausedUntil = 0;
    this.pump();
  }

  /** The user left the room: its messages are dropped. */
  dropRoom(room: string): void {
    this.outbox.dropRoom(room);
    this.checkDrain();
  }

  /** §1.9: the room's join was refused: its queued messages fail with `reason`, held. */
  holdRoom(room: string, reason: string): void {
    for (const e of this.outbox.values()) {
      if (e.room !== room || e.held) continue;
      this.outbox.hold(e, true);
      this.setState(e, 'failed', reason);
    }
    this.checkDrain();
  }

  /**
   * Resolves once every queued message is acked or held as failed by the relay; `failed` counts
   * the held ones. Does not time out: callers that need a bound race it with their own timer.
   */
  drain(): Promise<{ failed: number }> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (this.outbox.sendable > 0) return false;
        resolve({ failed: this.outbox.size });
        return true;
      };
      if (!check()) this.drainWaiters.push(() => void check());
    });
  }

  /** The relay answered a send (ack or error): one less in flight. */
  settle(rid: number): void {
    const r = this.link.peek(rid);
    if (r !== undefined && (r.kind === 'send' || r.kind === 'eph')) {
      this.link.take(rid);
      if (r.kind === 'send') this.inFlight = Math.max(0, this.inFlight - 1);
    }
  }

  /** §1.5: the relay stored `e` under `seq`. */
  acked(e: OutboxEntry, seq: number): void {
    this.outbox.delete(e.room, e.id);
    this.rateBackoff.reset();
    e.message.seq = seq;
    e.state = 'sent';
    this.hooks.outgoing({ room: e.room, id: e.id, state: 'sent', seq });
    this.checkDrain();
    this.pump();
  }

  /** §1.7: the relay refused a send (its request already taken from the link). */
  refused(room: string, id: string, code: string): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const e = this.outbox.get(room, id);
    if (e === undefined) return;
    e.rid = undefined;
    if (isRetryable(code)) {
      // §1.7 (ERROR_CODES `retryable`): the refused frame was not processed; send it again
      // later, same id.
      if (code === 'internal') this.setState(e, 'failed', relayErrorMessage(code));
      if (code === 'not_joined') this.hooks.rejoin(room);
      const delay = this.rateBackoff.next();
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
      this.pump();
      return;
    }
    this.outbox.hold(e, true);
    this.setState(e, 'failed', relayErrorMessage(code));
    this.checkDrain();
  }

  /** The connection is gone: nothing is in flight any more; every message stays queued. */
  lost(): void {
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.inFlight = 0;
    for (const e of this.outbox.values()) e.rid = undefined;
  }

  /** Writes queued sends, in order, up to SEND_WINDOW in flight, unless paused by rate_limited. */
  pump(): void {
    if (!this.link.writable) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      if (this.pumpTimer === undefined) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, wait);
      }
      return;
    }
    for (const e of this.outbox.values()) {
      if (this.inFlight >= SEND_WINDOW) break;
      if (e.rid !== undefined || e.held) continue;
      const rs = this.rooms.get(e.room);
      if (rs === undefined || !rs.joined) continue;
      const rid = this.link.reserveRid();
      const line = JSON.stringify({ t: 'send', rid, room: e.room, id: e.id, body: e.body });
      // §1.1: a relay configured with a smaller maxFrame would close the connection on this
      // frame, and every reconnect would resend it: hold it as failed instead (ASCII line).
      const maxFrame = this.link.maxFrame;
      if (line.length + 1 > maxFrame) {
        this.outbox.hold(e, true);
        this.setState(e, 'failed', `This message is too large for this relay (it accepts frames of at most ${maxFrame} bytes).`);
        this.checkDrain();
        continue;
      }
      e.rid = rid;
      this.inFlight++;
      this.link.track(rid, { kind: 'send', room: e.room, id: e.id });
      this.link.writeLine(line);
    }
  }

  private armFailTimer(e: OutboxEntry): void {
    if (e.failTimer !== undefined) clearTimeout(e.failTimer);
    e.failTimer = setTimeout(() => {
      e.failTimer = undefined;
      if (this.outbox.get(e.room, e.id) === e && e.state === 'sending') {
        this.setState(e, 'failed', 'Not delivered yet: the relay has not confirmed it. It is sent again automatically when the connection is back.');
      }
    }, this.tuning.failAfterMs);
    unref(e.failTimer);
  }

  private setState(e: OutboxEntry, state: 'sending' | 'failed', error?: string): void {
    e.state = state;
    e.error = error;
    this.hooks.outgoing(error === undefined ? { room: e.room, id: e.id, state } : { room: e.room, id: e.id, state, error });
  }

  private checkDrain(): void {
    if (this.outbox.sendable > 0) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }
}

