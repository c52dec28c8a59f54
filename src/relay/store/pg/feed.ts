// The feed of a cluster store (issue 9 "Fan-out across relays"): every stored message of each
// watched room, exactly once and in seq order, whichever relay stored it, so that the relay
// fans out in seq order (docs/protocol.md §1.5). Sources:
// - this relay's own commits, handed over by the group commit (they carry their origin);
// - NOTIFY doorbells from other relays (payload "room seq", no body: payloads are small and
//   never replayed), after which the new rows are read from the table in seq order;
// - a poll of the watched rooms' heads, on every reconnect and periodically, which makes up for
//   any doorbell missed (the listener was down, the sender crashed before its NOTIFY...).
// A room's cursor moves only when a message is emitted, one seq after the other; a message
// above the cursor waits until every seq below it has been emitted. A row read from the table
// whose (room, id) this relay is appending right now waits too, until that append is answered:
// if this relay stored it, the row is its own (the group commit hands it over with its origin,
// whose connection gets the ack and never the msg, §1.5); if another relay did, this relay's
// append is a duplicate and the row goes to every member here, that connection included. Seqs become visible in
// order (each is allocated under the room's row lock, held until its commit), so a row read
// above the cursor with a hole below means retention deleted the hole: the cursor skips it.
// Private rooms (docs/protocol.md §3.6): a commit comes with the epoch it began (its row in
// smc_private_epochs, written in the same transaction as the message), so every relay fans it
// out with `epoch` and then rekeys its members; the feed also keeps, per watched room, the
// highest commit it delivered and the room's reset generation, which a join checks against
// (store/pg/privateRooms.ts), and the poll compares the generations with the database's, so
// that a reset whose NOTIFY was missed still rekeys.
import type { Database } from './database';
import type { CommittedMessage } from './groupCommit';
import type { FeedMessage } from './types';

/** Rows read per query when catching up. */
const READ_CHUNK = 500;
/** Rooms per poll query. */
const POLL_CHUNK = 1_000;

/** A stored message's epoch, when it is a private room's commit that began one (§3.6). */
const EPOCH_JOIN = 'LEFT JOIN smc_private_epochs e ON e.room = m.room AND e.seq = m.seq AND e.id = m.id';

/** A private room's reset generation as a relay learnt it, with the room's epoch then and that epoch's start. */
export interface ResetSeen {
  room: string;
  generation: number;
  epoch: number;
  seq: number;
}

interface RoomFeed<Origin> {
  room: string;
  watchers: number;
  /** Until the room's head has been read: the promise of that read. */
  ready: Promise<void> | undefined;
  cursor: number;
  /** Highest seq known to exist (doorbells, polls, own commits). */
  wanted: number;
  /** Own committed messages above the cursor, by seq. */
  local: Map<number, CommittedMessage<Origin>>;
  reading: boolean;
  readAgain: boolean;
  /** A row read is one of this relay's appends not yet answered: wait for `settled`. */
  blocked: boolean;
  /** Waiting for the cursor to reach a seq (reach()). */
  reachers: Array<{ seq: number; resolve: () => void }>;
  /** §3.6: the highest seq of a commit (a message with an epoch) delivered. */
  commitSeq: number;
  /** §3.6: the room's reset generation as last seen (0: not a private room, as far as known). */
  generation: number;
}

export interface FeedStats {
  emitted: number;
  reads: number;
  polls: number;
  doorbells: number;
  skippedByRetention: number;
}

export class Feed<Origin> {
  private readonly rooms = new Map<string, RoomFeed<Origin>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  readonly stats: FeedStats = { emitted: 0, reads: 0, polls: 0, doorbells: 0, skippedByRetention: 0 };

  constructor(
    private readonly db: Database,
    private readonly emit: (message: FeedMessage<Origin>) => void,
    /**
     * Whether this relay has an append of (room, id) not yet answered: the feed may read such a
     * row (committed, visible) before the writer hears back, and cannot tell yet whose it is.
     */
    private readonly appending: (room: string, id: string) => boolean,
    private readonly pollMs: number,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
    /** §3.6: a watched private room was reset (a generation above the one known), seen by the poll. */
    private readonly resetSeen: (reset: ResetSeen) => void = () => undefined,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pollAll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  isWatched(room: string): boolean {
    return this.rooms.has(room);
  }

  async watch(room: string): Promise<void> {
    let rf = this.rooms.get(room);
    if (rf === undefined) {
      rf = {
        room, watchers: 0, ready: undefined, cursor: 0, wanted: 0, local: new Map(), reading: false, readAgain: false, blocked: false,
        reachers: [], commitSeq: 0, generation: 0,
      };
      this.rooms.set(room, rf);
      const created = rf;
      created.ready = this.db.query<{ head: string | null; generation: string | null }>(
        `SELECT (SELECT head FROM smc_rooms WHERE room = $1) AS head,
                (SELECT generation FROM smc_private_rooms WHERE room = $1) AS generation`,
        [room],
      ).then(
        (rows) => {
          created.cursor = Number(rows[0]?.head ?? 0);
          created.generation = Math.max(created.generation, Number(rows[0]?.generation ?? 0));
          created.wanted = Math.max(created.wanted, created.cursor);
          created.ready = undefined;
          // Own commits at or below the head read are before the watch: catch-up covers them.
          for (const seq of created.local.keys()) if (seq <= created.cursor) created.local.delete(seq);
          this.advance(created);
        },
        (err: unknown) => {
          // Every watch waiting on this read fails; the next one starts afresh.
          if (this.rooms.get(room) === created) this.rooms.delete(room);
          throw err;
        },
      );
    }
    rf.watchers++;
    try {
      if (rf.ready !== undefined) await rf.ready;
    } catch (err) {
      rf.watchers--;
      throw err;
    }
  }

  unwatch(room: string): void {
    const rf = this.rooms.get(room);
    if (rf === undefined) return;
    if (--rf.watchers > 0) return;
    this.rooms.delete(room);
    // Nobody here waits for the room any more: there is nothing to keep in order for.
    for (const r of rf.reachers.splice(0)) r.resolve();
  }

  /**
   * Resolves once the feed of `room` has delivered every message up to `seq` (at once when the
   * room is not watched: no member here to order for); rejects after `timeoutMs`.
   */
  reach(room: string, seq: number, timeoutMs: number): Promise<void> {
    const rf = this.rooms.get(room);
    if (rf === undefined || (rf.ready === undefined && rf.cursor >= seq)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        rf.reachers.splice(rf.reachers.indexOf(entry), 1);
        reject(new Error(`the feed of room ${room} did not reach seq ${seq} within ${timeoutMs} ms`));
      }, timeoutMs);
      rf.reachers.push(entry);
      if (seq > rf.wanted) rf.wanted = seq;
      this.advance(rf);
    });
  }

  /** §3.6: the highest seq of a commit the feed delivered in `room`, and the reset generation it knows. */
  privateState(room: string): { commitSeq: number; generation: number } | undefined {
    const rf = this.rooms.get(room);
    return rf === undefined || rf.ready !== undefined ? undefined : { commitSeq: rf.commitSeq, generation: rf.generation };
  }

  /**
   * §3.6: `room` is at reset generation `generation` (a NOTIFY, a record read, our own reset).
   * True when that is news for a watched room: its members here must be rekeyed.
   */
  raiseGeneration(room: string, generation: number): boolean {
    const rf = this.rooms.get(room);
    if (rf === undefined || generation <= rf.generation) return false;
    rf.generation = generation;
    return rf.ready === undefined;
  }

  cursor(room: string): number {
    const rf = this.rooms.get(room);
    if (rf === undefined || rf.ready !== undefined) throw new Error(`room ${room} is not watched`);
    return rf.cursor;
  }

  /** This relay committed these messages (seq order per room). */
  committed(messages: Array<CommittedMessage<Origin>>): void {
    const touched = new Set<RoomFeed<Origin>>();
    for (const m of messages) {
      const rf = this.rooms.get(m.room);
      if (rf === undefined || (rf.ready === undefined && m.seq <= rf.cursor)) continue;
      rf.local.set(m.seq, m);
      rf.wanted = Math.max(rf.wanted, m.seq);
      touched.add(rf);
    }
    for (const rf of touched) this.advance(rf);
  }

  /** Appends of this relay to these rooms were answered (stored, duplicates, or failed). */
  settled(rooms: Iterable<string>): void {
    for (const room of rooms) {
      const rf = this.rooms.get(room);
      if (rf === undefined || !rf.blocked) continue;
      rf.blocked = false;
      this.advance(rf);
    }
  }

  /** A doorbell: `room` has messages up to `seq`. */
  doorbell(payload: string): void {
    this.stats.doorbells++;
    const space = payload.lastIndexOf(' ');
    const room = payload.slice(0, space);
    const seq = Number(payload.slice(space + 1));
    const rf = this.rooms.get(room);
    if (rf === undefined || !Number.isSafeInteger(seq)) return;
    if (seq > rf.wanted) rf.wanted = seq;
    this.advance(rf);
  }

  /** Emits what is contiguous; reads the table when something below a known seq is missing. */
  private advance(rf: RoomFeed<Origin>): void {
    if (rf.ready !== undefined || this.rooms.get(rf.room) !== rf) return;
    for (;;) {
      const next = rf.local.get(rf.cursor + 1);
      if (next === undefined) break;
      rf.local.delete(next.seq);
      this.deliver(rf, next.seq, next);
    }
    if (rf.reachers.some((r) => r.seq <= rf.cursor)) {
      const done = rf.reachers.filter((r) => r.seq <= rf.cursor);
      rf.reachers = rf.reachers.filter((r) => r.seq > rf.cursor);
      for (const r of done) r.resolve();
    }
    if (rf.wanted > rf.cursor && !rf.blocked) void this.read(rf);
  }

  private deliver(rf: RoomFeed<Origin>, seq: number, m: { ts: number; id: string; body: string; origin: Origin | undefined; epoch?: number }): void {
    rf.cursor = seq;
    this.stats.emitted++;
    if (m.epoch !== undefined) {
      rf.commitSeq = seq;
      this.emit({ room: rf.room, seq, ts: m.ts, id: m.id, body: m.body, origin: m.origin, epoch: m.epoch });
    } else this.emit({ room: rf.room, seq, ts: m.ts, id: m.id, body: m.body, origin: m.origin });
    if (rf.reachers.length > 0) {
      const done = rf.reachers.filter((r) => r.seq <= seq);
      rf.reachers = rf.reachers.filter((r) => r.seq > seq);
      for (const r of done) r.resolve();
    }
  }

  private async read(rf: RoomFeed<Origin>): Promise<void> {
    if (rf.reading) {
      rf.readAgain = true;
      return;
    }
    rf.reading = true;
    try {
      do {
        rf.readAgain = false;
        let progressed = false;
        for (;;) {
          if (this.rooms.get(rf.room) !== rf || this.db.state !== 'up' || rf.blocked) return;
          this.stats.reads++;
          const from = rf.cursor;
          const rows = await this.db.query<{ seq: string; ts: string; id: string; body: string; epoch: string | null }>(
            `SELECT m.seq, m.ts, m.id, m.body, e.epoch FROM smc_messages m ${EPOCH_JOIN}
             WHERE m.room = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`,
            [rf.room, from, READ_CHUNK],
          );
          if (rows.length > 0) progressed = true;
          for (const row of rows) {
            const seq = Number(row.seq);
            if (seq <= rf.cursor) continue; // emitted from a local commit meanwhile
            const own = rf.local.get(seq);
            if (own === undefined && this.appending(rf.room, row.id)) {
              // Ours or a duplicate of ours: known once our append is answered (settled()).
              rf.blocked = true;
              return;
            }
            if (seq > rf.cursor + 1) {
              this.stats.skippedByRetention += seq - rf.cursor - 1;
              this.log('pg.feed_gap', { room: rf.room, from: rf.cursor + 1, to: seq - 1 });
            }
            if (own !== undefined) rf.local.delete(seq);
            const read = { ts: Number(row.ts), id: row.id, body: row.body, origin: undefined };
            this.deliver(rf, seq, own ?? (row.epoch === null ? read : { ...read, epoch: Number(row.epoch) }));
            // Own commits may continue the run.
            for (;;) {
              const next = rf.local.get(rf.cursor + 1);
              if (next === undefined) break;
              rf.local.delete(next.seq);
              this.deliver(rf, next.seq, next);
            }
          }
          if (rows.length < READ_CHUNK) break;
        }
        // Nothing to read although a higher seq was announced: leave it to the next poll rather
        // than spin (rows an operator removed by hand, say).
        if (!progressed && !rf.readAgain) break;
      } while (rf.readAgain || rf.wanted > rf.cursor);
    } catch (err) {
      // The database went away (the poll after reconnecting resumes) or the read failed.
      this.log('pg.feed_read_failed', { room: rf.room, error: err instanceof Error ? err.message : String(err) });
    } finally {
      rf.reading = false;
    }
  }

  /** Compares every watched room's head with its cursor and reads what is missing. */
  pollAll(): Promise<void> {
    this.polling ??= this.doPoll().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async doPoll(): Promise<void> {
    if (this.db.state !== 'up') return;
    this.stats.polls++;
    const rooms = [...this.rooms.values()].filter((rf) => rf.ready === undefined).map((rf) => rf.room);
    try {
      for (let i = 0; i < rooms.length; i += POLL_CHUNK) {
        const chunk = rooms.slice(i, i + POLL_CHUNK);
        const rows = await this.db.query<{ room: string; head: string }>('SELECT room, head FROM smc_rooms WHERE room = ANY($1::text[])', [chunk]);
        for (const row of rows) {
          const rf = this.rooms.get(row.room);
          if (rf === undefined) continue;
          const head = Number(row.head);
          if (head > rf.wanted) rf.wanted = head;
          this.advance(rf);
        }
      }
      await this.pollGenerations(rooms);
    } catch (err) {
      this.log('pg.feed_poll_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** §3.6: resets of watched private rooms that this relay has not heard of (a NOTIFY missed). */
  private async pollGenerations(rooms: string[]): Promise<void> {
    for (let i = 0; i < rooms.length; i += POLL_CHUNK) {
      const chunk = rooms.slice(i, i + POLL_CHUNK);
      const rows = await this.db.query<{ room: string; generation: string; epoch: string; seq: string }>(
        `SELECT p.room, p.generation, p.epoch, e.seq FROM smc_private_rooms p
         JOIN smc_private_epochs e ON e.room = p.room AND e.epoch = p.epoch
         WHERE p.room = ANY($1::text[])`,
        [chunk],
      );
      for (const row of rows) {
        const seen = { room: row.room, generation: Number(row.generation), epoch: Number(row.epoch), seq: Number(row.seq) };
        if (this.raiseGeneration(seen.room, seen.generation)) this.resetSeen(seen);
      }
    }
  }
}
