// The room sync: joining a room and catching up (docs/protocol.md §1.4), paging back (§1.6),
// filling holes in the live stream, holding live messages while a catch-up is shown, and the
// last seq saved. A join resumes from the last contiguous seq seen; what a catch-up holds is
// bounded (a relay cannot make it hold more than it asked for); it is shown in seq order.
import { LIMITS } from '../wire/frames';
import type { ReceivedJoined, ReceivedPage, ReceivedSynced } from '../wire/relayFrames';
import type { RelayLink } from './link';
import type { Opener } from './opener';
import { relayErrorMessage } from './relayErrors';
import type { HistoryPurpose, HistoryRequest, Opened, RoomState, SyncState } from './roomState';
import { SeqSaver } from './seqSaver';
import { SeqTracker } from './seqTracker';
import { ClientError, type ClientLog, type ClientTuning, type SyncedEvent } from './types';
import { safeName } from './util';

/** Seqs waiting above a hole before the client asks the relay for the hole (§1.6). */
export const LIVE_GAP_THRESHOLD = 256;
/**
 * Live messages (seq > head) a catch-up holds while it pages back (they are shown after it, in
 * seq order). A relay that sends more before the catch-up ends is flooding: protocol error.
 */
export const LIVE_DURING_SYNC = LIMITS.maxLimit;

export interface RoomSyncHooks {
  log: ClientLog;
  synced(event: SyncedEvent): void;
  error(err: ClientError): void;
  /** A room was joined: queued sends may go (the sender's pump). */
  joined(): void;
  /** §1.9: the room's join was refused; its queued messages fail with `reason`. */
  refused(room: string, reason: string): void;
  /** §1.7 rate_limited: the delay before asking again (the sender's backoff, shared). */
  rateDelay(): number;
  /** §1.4 `tag`: this client's presence tag for the room, under the current display name. */
  presenceTag(rs: RoomState): string;
}

export class RoomSync {
  readonly saver: SeqSaver;

  constructor(
    private readonly link: RelayLink,
    private readonly rooms: Map<string, RoomState>,
    private readonly opener: Opener,
    private readonly tuning: ClientTuning,
    saver: SeqSaver,
    private readonly hooks: RoomSyncHooks,
  ) {
    this.saver = saver;
  }

  // ---- joining -----------------------------------------------------------------------------

  join(rs: RoomState): void {
    // §1.9: only on a connection whose welcome gave a challenge (join runs once connected).
    const challenge = this.link.challenge;
    if (challenge === undefined) return;
    const since = rs.seqs.last;
    const fresh = since === 0;
    const limit = fresh ? Math.min(Math.max(1, this.tuning.initialHistory), LIMITS.maxLimit) : this.tuning.joinLimit;
    const tag = this.hooks.presenceTag(rs);
    const rid = this.link.reserveRid();
    rs.sync = {
      rid, since, limit: Math.min(limit, LIMITS.maxLimit), phase: 'joining', caughtUp: 0, extra: 0, fresh, items: [],
      stepRid: rid, stepBefore: 0, successor: false, stepLimit: Math.min(limit, LIMITS.maxLimit), unsent: [], batches: [],
    };
    this.link.track(rid, { kind: 'join', room: rs.room });
    this.link.write({ t: 'join', rid, room: rs.room, since, limit, tag, ...rs.cipher.joinProof(challenge) });
  }

  /** Joins the room again unless it is syncing or refused (§1.7 not_joined). */
  rejoin(room: string): void {
    const rs = this.rooms.get(room);
    if (rs !== undefined && rs.sync === undefined && rs.refused === undefined) this.join(rs);
  }

  /** The relay refused a join (§1.7, §1.9). */
  joinFailed(room: string, code: string): void {
    const rs = this.rooms.get(room);
    if (rs !== undefined) rs.sync = undefined;
    if (rs !== undefined && (code === 'auth_required' || code === 'auth_failed')) return this.refuse(rs, code);
    if (rs !== undefined && code === 'rate_limited') return this.joinLater(rs);
    this.hooks.error(new ClientError('relay_error', relayErrorMessage(code), room, code));
  }

  /**
   * §1.9: the relay refused this room's join proof. Retrying cannot help (the proof is what it
   * is), so the room is marked, its messages fail, and one plain error says so.
   */
  private refuse(rs: RoomState, code: string): void {
    rs.refused = code;
    rs.joined = false;
    const name = safeName(rs.name);
    this.hooks.refused(rs.room, `Not sent: the relay refused room "${name}" (${code}).`);
    this.hooks.error(new ClientError('room_refused', `Room "${name}": ${relayErrorMessage(code)}`, rs.room, code));
  }

  /**
   * §1.7, §1.9: the relay checks join proofs at a bounded rate (per connection and per
   * address), and refused this one unprocessed: ask again after a backoff, on this connection
   * only (a reconnect joins every room anyway).
   */
  private joinLater(rs: RoomState): void {
    const challenge = this.link.challenge;
    const delay = Math.max(this.tuning.rateLimitBaseMs, this.hooks.rateDelay());
    this.hooks.log('join_rate_limited', { room: rs.room, retryMs: delay });
    setTimeout(() => {
      if (!this.link.connected || this.link.challenge !== challenge || this.rooms.get(rs.room) !== rs) return;
      if (rs.sync === undefined && rs.refused === undefined) this.join(rs);
    }, delay);
  }

  /** The connection is gone: no room is joined or syncing on it any more. */
  lost(): void {
    for (const rs of this.rooms.values()) {
      rs.joined = false;
      rs.sync = undefined;
      rs.gapFilling = false;
    }
  }

  onJoined(f: ReceivedJoined): void {
    if (f.rid !== undefined) this.link.take(f.rid);
    const rs = this.rooms.get(f.room);
    if (rs === undefined || rs.sync === undefined || rs.sync.rid !== f.rid) return;
    rs.joined = true;
    rs.head = f.head;
    rs.sync.phase = 'catchup';
    rs.sync.stepBefore = f.head + 1;
    rs.sid = f.sid;
    if (rs.sync.since > f.head) {
      // §1.4: since > head means the relay lost messages this client saw: sync again from 0.
      // Ids already shown are still in `seen`, so what comes again is not shown twice.
      this.hooks.log('relay_behind', { room: rs.room, since: rs.sync.since, head: f.head });
      rs.seqs = new SeqTracker(0);
      rs.sync.since = 0;
      rs.sync.fresh = false;
    }
    this.opener.warm(rs.sync.fresh ? Math.min(f.head, this.tuning.initialHistory) : f.head - rs.sync.since);
    this.hooks.joined();
  }

  // ---- messages ----------------------------------------------------------------------------

  /** A stored message of a joined room (the caller checked its fields and sent `eph` aside). */
  onStored(rs: RoomState, id: string, body: string, seq: number): void {
    if (rs.sync !== undefined) {
      // §1.4/§1.6 bound what a catch-up holds until it is shown: limit × maxFrame per step.
      const violation = this.catchUpViolation(rs, rs.sync, seq);
      if (violation !== undefined) return this.link.protocolError(violation);
      rs.sync.items.push(this.opener.batching ? this.opener.prepare(rs, rs.sync, id, body, seq) : this.opener.open(rs, id, body, seq));
      this.prefetch(rs, seq);
      return;
    }
    const answer = this.countForHistory(rs.room, seq);
    if (answer === 'over') return this.link.protocolError('a history page over its limit');
    const item = this.opener.open(rs, id, body, seq);
    if (item.kind === 'msg') item.solicited = answer === 'page';
    if (rs.waiting !== undefined) {
      rs.waiting.push(() => this.showLive(rs, item));
      return;
    }
    this.showLive(rs, item);
  }

  /** §1.5: the relay stored a message under `seq` (`own`: one of this client's, just acked). */
  onAckedSeq(room: string, id: string, seq: number, own: boolean): void {
    const rs = this.rooms.get(room);
    if (rs === undefined) return;
    rs.seqs.see(seq);
    // Own messages are shown at once; their seq comes with the ack (§2.8: a replay of it later is caught).
    if (own) rs.shown.record(id, seq);
    this.saver.schedule();
  }

  /** The seq of a message shown (or shown as unverifiable): lastSeq and `oldest` follow it. */
  counted(rs: RoomState, seq: number): void {
    rs.seqs.see(seq);
    if (seq < rs.oldest) rs.oldest = seq;
    this.saver.schedule();
  }

  /**
   * Counts a stored message against the history request it answers: the room's oldest one
   * open (the relay answers requests in order, §1.6), when `seq` is below its `before`.
   * 'over': more than its `limit` came. 'none': no request asked for it (a live message).
   */
  private countForHistory(room: string, seq: number): 'page' | 'over' | 'none' {
    for (const p of this.link.openRequests()) {
      if (p.kind !== 'history' || p.room !== room) continue;
      if (seq >= p.before) return 'none';
      return ++p.received > p.limit ? 'over' : 'page';
    }
    return 'none';
  }

  /**
   * Why a stored message may not be part of this catch-up (§1.4, §1.6), or undefined. Between
   * `joined` and `synced` only since < seq ≤ head and at most the join's `limit`; afterwards a
   * seq ≤ head answers a history page (seq < before, at most its limit; and above since, which
   * every page's limit was computed to stay above), a seq > head is live (bounded too).
   */
  private catchUpViolation(rs: RoomState, sync: SyncState, seq: number): string | undefined {
    if (sync.phase === 'joining') {
      // The reply to an earlier join on this connection (a rename), or live: at most one reply.
      return ++sync.extra > sync.limit + LIVE_DURING_SYNC ? 'more messages before joined than a join returns' : undefined;
    }
    if (sync.phase === 'catchup') {
      if (seq <= sync.since || seq > rs.head) return `a catch-up message (seq ${seq}) outside since ${sync.since} .. head ${rs.head}`;
      return ++sync.caughtUp > sync.limit ? `a catch-up over its limit of ${sync.limit}` : undefined;
    }
    if (seq > rs.head) return ++sync.extra > LIVE_DURING_SYNC ? 'more live messages during a catch-up than it holds' : undefined;
    if (seq <= sync.since) return `a history message (seq ${seq}) at or below since ${sync.since}`;
    const answer = this.countForHistory(rs.room, seq);
    if (answer === 'over') return 'a history page over its limit';
    return answer === 'none' ? `a history message (seq ${seq}) nobody asked for` : undefined;
  }

  private showLive(rs: RoomState, item: Opened): void {
    this.opener.show(rs, item);
    if (rs.seqs.aheadCount > LIVE_GAP_THRESHOLD) this.fillLiveGap(rs);
  }

  // ---- catch-up ----------------------------------------------------------------------------

  onSynced(f: ReceivedSynced): void {
    const rs = this.rooms.get(f.room);
    const sync = rs?.sync;
    if (rs === undefined || sync === undefined || sync.rid !== f.rid) return;
    sync.phase = 'paging';
    // §1.4: head is the join's; a synced that raises it would let later history exceed it.
    if (f.head < rs.head) rs.head = f.head;
    // The next page was already asked for on the first catch-up message: wait for it.
    if (sync.stepRid !== sync.rid) return;
    this.continueSync(rs, f.from, f.from > 1);
  }

  /**
   * A step's messages come oldest first (§1.4, §1.6), so its first message carries the lowest
   * seq of the step: the next page (`before` = that seq) can be asked for at once, and the
   * relay reads it while this client is still opening the current one. A relay that breaks
   * the order only makes pages overlap; overlapping ids are dropped as duplicates.
   */
  private prefetch(rs: RoomState, seq: number): void {
    const sync = rs.sync!;
    if (sync.successor || seq >= sync.stepBefore) return;
    sync.successor = true;
    // Fresh join: the messages from seq to head are on their way (the estimate ignores holes,
    // so it may fetch a little more than initialHistory; completeSync keeps the newest).
    const limit = sync.fresh
      ? this.tuning.initialHistory - (rs.head - seq + 1)
      : Math.min(seq - sync.since - 1, this.catchUpRoom(sync) - sync.stepLimit + 1);
    if (seq > 1 && limit > 0) this.requestSyncPage(rs, seq, Math.min(limit, this.tuning.historyLimit));
  }

  /**
   * How many more messages a resuming catch-up may hold. It pages back to `since` (§1.4), but a
   * relay whose head is far ahead (2^53, or simply after a long absence) would make it hold
   * everything before showing anything: it stops at the replay window's size (the relay's
   * retain, §1.6), the rest stays loadable with loadOlder (`more`), as after a fresh join.
   */
  private catchUpRoom(sync: SyncState): number {
    return this.tuning.shownIds - sync.items.length;
  }

  private requestSyncPage(rs: RoomState, before: number, limit: number): void {
    const sync = rs.sync!;
    sync.stepRid = this.requestHistory(rs, 'sync', before, limit);
    sync.stepLimit = Math.min(Math.max(1, limit), LIMITS.maxLimit);
    sync.stepBefore = before;
    sync.successor = false;
  }

  /**
   * Pages back (§1.6) until the hole between `since` and what came is closed, or, on a fresh
   * join, until `initialHistory` messages are loaded; then shows everything in seq order.
   */
  private continueSync(rs: RoomState, lowest: number, more: boolean): void {
    const sync = rs.sync!;
    if (more && lowest > 1) {
      if (sync.fresh) {
        const want = this.tuning.initialHistory - sync.items.length;
        if (want > 0) return this.requestSyncPage(rs, lowest, Math.min(want, this.tuning.historyLimit));
      } else if (lowest > sync.since + 1 && this.catchUpRoom(sync) > 0) {
        return this.requestSyncPage(rs, lowest, Math.min(lowest - sync.since - 1, this.tuning.historyLimit, this.catchUpRoom(sync)));
      }
    }
    this.finishSync(rs, more && lowest > 1);
  }

  private finishSync(rs: RoomState, more: boolean): void {
    const sync = rs.sync!;
    rs.sync = undefined;
    const run = (): void => this.awaitSignatures(rs, sync, more);
    if (rs.waiting !== undefined) rs.waiting.push(run);
    else run();
  }

  /**
   * Shows a finished catch-up once its signatures are checked. With nothing at the verifier
   * this is synchronous, as without one; otherwise this thread checks the last partial batch
   * while the workers finish theirs, and the room holds what comes meanwhile (`waiting`).
   */
  private awaitSignatures(rs: RoomState, sync: SyncState, more: boolean): void {
    this.opener.verifyRest(sync);
    if (sync.batches.length === 0) return this.completeSync(rs, sync, more);
    rs.waiting = [];
    void Promise.all(sync.batches).then(() => {
      const queued = rs.waiting ?? [];
      rs.waiting = undefined;
      // Left meanwhile: nothing of this room is shown any more.
      if (this.rooms.get(rs.room) !== rs) return;
      this.completeSync(rs, sync, more);
      for (let i = 0; i < queued.length; i++) {
        // A queued catch-up that waits for its own batches holds the rest behind it again.
        const held = this.heldBy(rs);
        if (held !== undefined) {
          held.push(...queued.slice(i));
          return;
        }
        queued[i]!();
      }
    });
  }

  /** The room's `waiting` list, read afresh (a call may have set it). */
  private heldBy(rs: RoomState): (() => void)[] | undefined {
    return rs.waiting;
  }

  private completeSync(rs: RoomState, sync: SyncState, more: boolean): void {
    let items = sync.items.map((it) => this.opener.resolve(rs, it)).sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    if (sync.fresh && items.length > this.tuning.initialHistory) {
      // The relay's `limit` is at least 1; a client asking for less keeps only the newest.
      items = items.slice(items.length - this.tuning.initialHistory);
      more = true;
    }
    for (const item of items) {
      if (item.kind === 'msg') item.solicited = true;
      this.opener.show(rs, item);
    }
    // Older messages were skipped on purpose (fresh join) or are gone (retention).
    rs.seqs.jumpTo(rs.head);
    // show() lowered `oldest` to the lowest seq shown; with nothing shown, older means ≤ head.
    if (!Number.isFinite(rs.oldest)) rs.oldest = rs.head + 1;
    rs.more = more;
    this.saver.flush(rs);
    this.hooks.synced({ room: rs.room, head: rs.head, lastSeq: rs.seqs.last, more });
  }

  // ---- history -----------------------------------------------------------------------------

  /** Loads one page of older messages (§1.6); they arrive as `message` events with history. */
  loadOlder(room: string): Promise<{ more: boolean }> {
    const rs = this.rooms.get(room);
    if (rs === undefined) return Promise.reject(new ClientError('unknown_room', 'This room is not joined.', room));
    if (!rs.more || rs.oldest <= 1) return Promise.resolve({ more: false });
    if (!this.link.connected || !rs.joined || rs.sync !== undefined) {
      return Promise.reject(new ClientError('connection_failed', 'Not connected to the relay; older messages load once it is back.', room));
    }
    return new Promise((resolve, reject) => {
      const before = Number.isFinite(rs.oldest) ? rs.oldest : rs.head + 1;
      this.requestHistory(rs, 'older', before, this.tuning.historyLimit, resolve, reject);
    });
  }

  private fillLiveGap(rs: RoomState): void {
    if (rs.gapFilling) return;
    const top = rs.seqs.firstAhead;
    if (top === undefined) return;
    rs.gapFilling = true;
    this.hooks.log('gap', { room: rs.room, from: rs.seqs.last + 1, to: top - 1 });
    this.requestHistory(rs, 'gap', top, Math.min(top - rs.seqs.last - 1, this.tuning.historyLimit));
  }

  private requestHistory(
    rs: RoomState, purpose: HistoryPurpose, before: number, limit: number,
    resolve?: (r: { more: boolean }) => void, reject?: (e: Error) => void,
  ): number {
    const sent = Math.max(1, limit);
    const p: HistoryRequest = { kind: 'history', room: rs.room, purpose, before, limit: Math.min(sent, LIMITS.maxLimit), received: 0 };
    if (resolve !== undefined) p.resolve = resolve;
    if (reject !== undefined) p.reject = reject;
    return this.link.request({ t: 'history', room: rs.room, before, limit: sent }, p);
  }

  /** The relay refused a history request (§1.7). */
  historyFailed(p: HistoryRequest, code: string): void {
    const rs = this.rooms.get(p.room);
    if (p.purpose === 'sync' && rs?.sync !== undefined) return this.finishSync(rs, false);
    if (p.purpose === 'gap' && rs !== undefined) rs.gapFilling = false;
    p.reject?.(new ClientError('relay_error', relayErrorMessage(code), p.room, code));
  }

  onPage(f: ReceivedPage): void {
    const p = this.link.peek(f.rid);
    if (p === undefined || p.kind !== 'history') return;
    this.link.take(f.rid);
    const rs = this.rooms.get(p.room);
    if (rs === undefined) return p.resolve?.({ more: false });
    const from = f.from;
    let more = f.more;
    if (more && (p.received === 0 || from < 1 || from >= p.before)) {
      // §1.6: `from` is the lowest seq sent, below `before`. A page that says more remain but
      // sent nothing (or moved nothing) would be asked for again forever: paging stops here.
      this.hooks.log('protocol_violation', { what: 'a history page without progress', room: rs.room, before: p.before, from, received: p.received });
      more = false;
    }
    if (p.purpose === 'sync') {
      // A page whose successor was prefetched is done; the latest step decides.
      if (rs.sync === undefined || rs.sync.stepRid !== f.rid) return;
      return this.continueSync(rs, from === 0 ? 1 : from, more && from > 0);
    }
    if (p.purpose === 'gap') {
      rs.gapFilling = false;
      // Everything the relay holds below `before` down to `from` came; a covered hole is closed.
      if (from === 0 || from <= rs.seqs.last + 1 || !more) rs.seqs.jumpTo(p.before - 1);
      this.saver.schedule();
      if (rs.seqs.aheadCount > LIVE_GAP_THRESHOLD) this.fillLiveGap(rs);
      return;
    }
    if (from > 0 && from < rs.oldest) rs.oldest = from;
    rs.more = more && from !== 1;
    if (from === 0) rs.more = false;
    p.resolve?.({ more: rs.more });
  }
}
