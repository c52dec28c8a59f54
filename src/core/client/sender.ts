// The sender: what this client sends to be stored (docs/protocol.md §1.5). Every message waits in
// the outbox until the relay acks it, and is sent again with the same id after a reconnect or
// a refusal that was not processed (§1.7: the relay's idempotence turns a resend into an ack).
// At most SEND_WINDOW sends are in flight; `rate_limited` pauses the window with a backoff; a
// message not acked in time is shown failed (and stays queued); drain() waits for the outbox.
// With an OutboxStore each message is saved before its send goes out and removed on its ack,
// so that a killed process loses none (the next run's join() restores them, same ids); the
// outbox is bounded (ClientTuning.outboxLimit, outboxBytes): one more is refused, never dropped.
import type { OutboxStore } from '../keys/stores';
import { isRetryable } from '../wire/frames';
import { Backoff } from './backoff';
import type { RelayLink } from './link';
import { Outbox, type OutboxEntry } from './outbox';
import { relayErrorMessage } from './relayErrors';
import type { RoomState } from './roomState';
import { TokenBucket } from './tokenBucket';
import { ClientError, type ClientLog, type ClientTuning, type OutgoingUpdate } from './types';
import { errorText, safeId, unref } from './util';

/** Sends in flight at once; more wait in the outbox (bounds what a rate_limited burst refuses). */
export const SEND_WINDOW = 64;

export interface SenderHooks {
  /** An entry's state changed (`entry` as queued: a chunk's update is a file's progress). */
  outgoing(update: OutgoingUpdate, entry: OutboxEntry): void;
  /** A send was refused with not_joined (§1.7): the room is joined again. */
  rejoin(room: string): void;
  /** With an OutboxStore: what the store's failures are told to. */
  log?: ClientLog;
  error?(err: ClientError): void;
}

export class Sender {
  readonly outbox = new Outbox();
  private inFlight = 0;
  private pausedUntil = 0;
  private pumpTimer?: ReturnType<typeof setTimeout>;
  /** §1.7 rate_limited: also spaces join retries (RelayClient), one backoff for both. */
  readonly rateBackoff: Backoff;
  private drainWaiters: (() => void)[] = [];
  /** Chunk tokens (§2.3.5 paced below §1.7's rate): refilled at chunkRate per second up to chunkBurst. */
  private readonly chunkTokens: TokenBucket;

  constructor(
    private readonly link: RelayLink,
    private readonly rooms: ReadonlyMap<string, RoomState>,
    private readonly tuning: ClientTuning,
    private readonly hooks: SenderHooks,
    private readonly store?: OutboxStore,
  ) {
    this.rateBackoff = new Backoff(tuning.rateLimitBaseMs, tuning.rateLimitMaxMs);
    this.chunkTokens = new TokenBucket(tuning.chunkRate, tuning.chunkBurst);
  }

  /**
   * Throws `outbox_full` when a message of `bodyChars` would go over the bound: the caller
   * refuses it before queuing anything (a refused message is the user's to send again).
   */
  checkCapacity(bodyChars: number, count = 1): void {
    const { outboxLimit, outboxBytes } = this.tuning;
    const waiting = 'They are sent as soon as the relay confirms the ones before them; send this one again then.';
    if (this.outbox.size + count > outboxLimit) {
      throw new ClientError('outbox_full', `Not sent: ${outboxLimit} messages already wait for the relay, as many as this client keeps. ${waiting}`);
    }
    if (this.outbox.bytes + bodyChars > outboxBytes) {
      throw new ClientError('outbox_full', `Not sent: ${Math.round(outboxBytes / 1024)} KiB of messages already wait for the relay, as much as this client keeps. ${waiting}`);
    }
  }

  /** Queues a sealed message; `refusedWith`: its room cannot be joined (§1.9), it waits failed. */
  add(entry: OutboxEntry, refusedWith?: string): void {
    this.outbox.add(entry);
    this.save(entry);
    if (refusedWith !== undefined) {
      this.outbox.hold(entry, true);
      this.setState(entry, 'failed', refusedWith);
      return;
    }
    this.armFailTimer(entry);
    this.hooks.outgoing({ room: entry.room, id: entry.id, state: 'sending' }, entry);
    this.pump();
  }

  /** A message an earlier run saved and never saw acked (already in the store): queued again. */
  restore(entry: OutboxEntry): void {
    this.outbox.add(entry);
    this.armFailTimer(entry);
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

  /** The user left the room: its messages are dropped here (a store keeps them for the next join). */
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
    this.unsave(e);
    this.rateBackoff.reset();
    e.message.seq = seq;
    e.state = 'sent';
    this.hooks.outgoing({ room: e.room, id: e.id, state: 'sent', seq }, e);
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
      if (code === 'internal' || code === 'room_quota') this.setState(e, 'failed', relayErrorMessage(code));
      if (code === 'not_joined') this.hooks.rejoin(room);
      const delay = this.rateBackoff.next();
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
      this.pump();
      return;
    }
    this.outbox.hold(e, true);
    this.setState(e, 'failed', relayErrorMessage(code));
    // Refused for good (§1.7, not retryable): the user is told here; a next run would only be
    // refused again.
    this.unsave(e);
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
    // A room's messages go in order: one still being saved holds back those after it, and so
    // does a chunk waiting for its token.
    const saving = new Set<string>();
    for (const e of this.outbox.values()) {
      if (this.inFlight >= SEND_WINDOW) break;
      if (e.saving === true) saving.add(e.room);
      if (e.rid !== undefined || e.held || saving.has(e.room)) continue;
      const rs = this.rooms.get(e.room);
      if (rs === undefined || !rs.joined) continue;
      if (e.chunkOf !== undefined && !this.takeChunkToken()) {
        saving.add(e.room);
        continue;
      }
      const rid = this.link.reserveRid();
      const line = JSON.stringify({ t: 'send', rid, room: e.room, id: e.id, body: e.body });
      // §1.1: a relay configured with a smaller maxFrame would close the connection on this
      // frame, and every reconnect would resend it: hold it as failed instead (ASCII line).
      const maxFrame = this.link.maxFrame;
      if (line.length + 1 > maxFrame) {
        this.outbox.hold(e, true);
        this.setState(e, 'failed', `This message is too large for this relay (it accepts frames of at most ${maxFrame} bytes).`);
        this.unsave(e);
        this.checkDrain();
        continue;
      }
      e.rid = rid;
      this.inFlight++;
      this.link.track(rid, { kind: 'send', room: e.room, id: e.id });
      this.link.writeLine(line);
    }
  }

  /**
   * §2.3.5 chunks go out at most chunkBurst at once, then chunkRate per second, below the
   * relay's §1.7 rate (100/s, burst 200), so that a file never trips `rate_limited` and leaves
   * room for the user's messages. False: none now; the pump runs again when one is due.
   */
  private takeChunkToken(): boolean {
    if (this.chunkTokens.take()) return true;
    if (this.pumpTimer === undefined) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, this.chunkTokens.waitMs());
    }
    return false;
  }

  /** Saves a new message before its send goes out; if the store fails, it is sent all the same. */
  private save(e: OutboxEntry): void {
    const store = this.store;
    if (store === undefined) return;
    e.saving = true;
    const saved = (): void => {
      e.saving = false;
      if (this.outbox.get(e.room, e.id) === e) this.pump();
    };
    store.save({ room: e.room, id: e.id, body: e.body }).then(saved, (err: unknown) => {
      this.hooks.log?.('outbox_save_failed', { room: e.room, id: safeId(e.id), error: errorText(err) });
      this.hooks.error?.(new ClientError('outbox_unsaved',
        `A message could not be saved (${errorText(err)}); it is sent all the same, but lost if this program stops before the relay confirms it.`, e.room));
      saved();
    });
  }

  /** Forgets a saved message (acked, or refused for good); a store's failure only costs a resend. */
  private unsave(e: OutboxEntry): void {
    this.store?.remove(e.room, e.id).catch((err: unknown) => {
      this.hooks.log?.('outbox_remove_failed', { room: e.room, id: safeId(e.id), error: errorText(err) });
    });
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
    this.hooks.outgoing(error === undefined ? { room: e.room, id: e.id, state } : { room: e.room, id: e.id, state, error }, e);
  }

  private checkDrain(): void {
    if (this.outbox.sendable > 0) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }
}

