// Appends and their group commit on PostgreSQL (issue 9 "Durability"). Appends that arrive
// while a transaction is in flight wait in a bounded queue and go together into the next one:
// one COMMIT (one WAL flush) for many messages. One transaction, on the writer connection:
//
//   BEGIN
//   SELECT ... FROM smc_rooms WHERE room = ANY($rooms) ORDER BY room FOR UPDATE
//       -- the rooms' rows, locked in one global order (no deadlock between relays); a relay
//       -- appending to the same room waits here until this transaction ends
//   SELECT ... FROM smc_messages JOIN unnest($rooms, $ids)      -- ids already stored: dedup
//   WITH ins AS (INSERT INTO smc_messages ... ON CONFLICT DO NOTHING RETURNING 1),
//        upd AS (UPDATE smc_rooms SET head = head + n, last_ts = ... RETURNING 1) ...
//   COMMIT
//   NOTIFY (room, head) per room, after the commit: a doorbell for the other relays.
//
// Seqs are allocated under the room's lock and in the transaction that inserts the messages,
// so a rollback (of any cause) takes the allocation back too: no gap (PROTOCOL.md §1.4). The
// dedup read runs after the lock, so it sees every copy another relay committed before it; the
// ON CONFLICT clause is a second line: should a row conflict anyway, nothing is kept, the
// transaction rolls back and the batch is tried again (its dedup read then finds the original).
// ts = max(the database's clock, the room's previous ts): one clock for every relay of the
// cluster, and never backwards within a room.
import type { Client } from 'pg';
import type { Database } from './database';
import { isConnectionError } from './database';
import { StoreBusyError, StoreUnavailableError, StoreWriteError, type AppendResult } from './types';

export const MESSAGE_CHANNEL = 'smc_messages';

/** What the room and id of a stored message may be (wider than §1.1's 22 chars, as the schema). */
const KEY_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface GroupCommitOptions {
  /** Appends waiting (not yet in a transaction) at most; more reject with StoreBusyError. */
  maxQueued: number;
  /** Bytes of bodies waiting at most. */
  maxQueuedBytes: number;
  /** Messages per transaction at most. */
  maxBatch: number;
  /** Body bytes per transaction at most (one is always taken, whatever its size). */
  maxBatchBytes: number;
  /** Largest body accepted. */
  maxBodyBytes: number;
  log: (event: string, fields: Record<string, unknown>) => void;
}

export interface CommittedMessage<Origin> {
  room: string;
  seq: number;
  ts: number;
  id: string;
  body: string;
  origin: Origin | undefined;
}

interface Waiter {
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

interface Pending<Origin> {
  key: string;
  room: string;
  id: string;
  body: string;
  bytes: number;
  origin: Origin | undefined;
  /** The first waiter is the original append; later ones are duplicates of it (§1.5). */
  waiters: Waiter[];
}

/** Attempts of one batch when its transaction must be retried (a conflict, a deadlock). */
const MAX_ATTEMPTS = 4;
/** SQLSTATEs after which the same transaction may simply be tried again. */
const RETRYABLE = new Set(['40001', '40P01']);

class RetryBatch extends Error {}

export interface CommitStats {
  commits: number;
  appended: number;
  duplicates: number;
  retries: number;
  rejectedBusy: number;
  rejectedUnavailable: number;
}

export class GroupCommit<Origin> {
  private queue: Array<Pending<Origin>> = [];
  private queuedBytes = 0;
  private readonly pending = new Map<string, Pending<Origin>>();
  private committing = false;
  private scheduled = false;
  private closed = false;
  /** The NOTIFY of the last commit, sent after its acks. */
  private doorbell: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  /** Rooms known to have their row in smc_rooms (rows are never deleted). */
  private readonly knownRooms = new Set<string>();
  readonly stats: CommitStats = { commits: 0, appended: 0, duplicates: 0, retries: 0, rejectedBusy: 0, rejectedUnavailable: 0 };

  constructor(
    private readonly db: Database,
    private readonly options: GroupCommitOptions,
    /** Called with each committed batch's new messages, in seq order per room, before the acks. */
    private readonly committed: (messages: Array<CommittedMessage<Origin>>, heads: Map<string, number>) => void,
  ) {
    // Fail fast: what waits in the queue when the database goes away is rejected at once.
    db.onDown(() => this.rejectQueued(new StoreUnavailableError('the database connection was lost; the message was not stored')));
  }

  append(room: string, id: string, body: string, origin: Origin | undefined): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (this.closed) return reject(new StoreWriteError('the store is closed', 'ECLOSED'));
      if (this.db.state !== 'up') {
        this.stats.rejectedUnavailable++;
        return reject(new StoreUnavailableError('the database is unreachable; the relay is reconnecting'));
      }
      if (!KEY_RE.test(room) || !KEY_RE.test(id)) return reject(new StoreWriteError('room and id must be 1-64 chars of [A-Za-z0-9_-]', 'EINVAL'));
      const key = room + '\u0000' + id;
      const first = this.pending.get(key);
      if (first !== undefined) {
        first.waiters.push(waiter);
        return;
      }
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes === 0 || bytes > this.options.maxBodyBytes) {
        return reject(new StoreWriteError(`body must be 1-${this.options.maxBodyBytes} bytes, got ${bytes}`, 'EINVAL'));
      }
      if (this.queue.length >= this.options.maxQueued || this.queuedBytes + bytes > this.options.maxQueuedBytes) {
        this.stats.rejectedBusy++;
        return reject(new StoreBusyError(`more than ${this.options.maxQueued} messages (or ${this.options.maxQueuedBytes} bytes) are waiting for the database`));
      }
      const p: Pending<Origin> = { key, room, id, body, bytes, origin, waiters: [waiter] };
      this.pending.set(key, p);
      this.queue.push(p);
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  /** The origin of an append of (room, id) not yet answered, if there is one. */
  originOf(room: string, id: string): Origin | undefined {
    return this.pending.get(room + '\u0000' + id)?.origin;
  }

  /** Appends waiting or in a transaction. */
  get inFlight(): number {
    return this.pending.size;
  }

  private schedule(): void {
    if (this.committing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every append of this turn of the event loop (all frames of
    // one socket read) joins the same transaction.
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    this.scheduled = false;
    if (this.committing) return;
    this.committing = true;
    while (this.queue.length > 0) {
      let take = 0;
      let bytes = 0;
      while (take < this.queue.length && take < this.options.maxBatch && (take === 0 || bytes + (this.queue[take] as Pending<Origin>).bytes <= this.options.maxBatchBytes)) {
        bytes += (this.queue[take] as Pending<Origin>).bytes;
        take++;
      }
      const batch = this.queue.splice(0, take);
      this.queuedBytes -= bytes;
      try {
        await this.commitBatch(batch);
      } catch (err) {
        this.failBatch(batch, err);
      }
    }
    this.committing = false;
    this.notifyIdle();
  }

  private async commitBatch(batch: Array<Pending<Origin>>): Promise<void> {
    // The previous batch's doorbell goes first on the writer connection (one query at a time).
    await this.doorbell;
    const client = this.db.writer();
    const rooms = [...new Set(batch.map((p) => p.room))].sort();
    const missing = rooms.filter((r) => !this.knownRooms.has(r));
    if (missing.length > 0) {
      // Outside the transaction: creating a room row takes no lock the appends need, and the
      // row is kept even if the batch then fails (an empty room, head 0, is harmless).
      await this.run1(client, {
        name: 'smc_rooms_create',
        text: 'INSERT INTO smc_rooms (room) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING',
        values: [missing],
      });
      for (const r of missing) this.knownRooms.add(r);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transaction(client, batch, rooms);
        return;
      } catch (err) {
        const retry = err instanceof RetryBatch || RETRYABLE.has(String((err as { code?: unknown }).code));
        if (!retry || attempt >= MAX_ATTEMPTS) throw err;
        this.stats.retries++;
        this.options.log('pg.batch_retry', { attempt, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private async run1(client: Client, query: { name: string; text: string; values: unknown[] }): Promise<Array<Record<string, unknown>>> {
    return (await client.query<Record<string, unknown>>(query)).rows;
  }

  private async transaction(client: Client, batch: Array<Pending<Origin>>, rooms: string[]): Promise<void> {
    await client.query('BEGIN');
    let open = true;
    try {
      const locked = await this.run1(client, {
        name: 'smc_rooms_lock',
        text: `SELECT room, head, last_ts, floor(extract(epoch FROM clock_timestamp()) * 1000)::int8 AS now
               FROM smc_rooms WHERE room = ANY($1::text[]) ORDER BY room FOR UPDATE`,
        values: [rooms],
      });
      const state = new Map<string, { head: number; ts: number; n: number }>();
      for (const row of locked) {
        const now = Number(row.now);
        state.set(String(row.room), { head: Number(row.head), ts: Math.max(now, Number(row.last_ts)), n: 0 });
      }
      if (state.size !== rooms.length) {
        // A room row vanished (an operator deleted it): create it again and retry.
        for (const r of rooms) if (!state.has(r)) this.knownRooms.delete(r);
        throw new StoreWriteError('a room row is missing', 'EMISSINGROOM');
      }
      const found = await this.run1(client, {
        name: 'smc_messages_dedup',
        text: `SELECT m.room, m.id, m.seq, m.ts FROM smc_messages m
               JOIN unnest($1::text[], $2::text[]) AS b(room, id) ON m.room = b.room AND m.id = b.id`,
        values: [batch.map((p) => p.room), batch.map((p) => p.id)],
      });
      const stored = new Map<string, { seq: number; ts: number }>();
      for (const row of found) stored.set(String(row.room) + '\u0000' + String(row.id), { seq: Number(row.seq), ts: Number(row.ts) });
      const fresh: Array<{ p: Pending<Origin>; seq: number; ts: number }> = [];
      for (const p of batch) {
        if (stored.has(p.key)) continue;
        const s = state.get(p.room) as { head: number; ts: number; n: number };
        s.n++;
        fresh.push({ p, seq: s.head + s.n, ts: s.ts });
      }
      if (fresh.length > 0) {
        const changed = [...state.entries()].filter(([, s]) => s.n > 0);
        const rows = await this.run1(client, {
          name: 'smc_messages_write',
          text: `WITH ins AS (
                   INSERT INTO smc_messages (room, seq, ts, id, body)
                   SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[])
                   ON CONFLICT DO NOTHING RETURNING 1
                 ), upd AS (
                   UPDATE smc_rooms r SET head = r.head + v.n, last_ts = v.ts
                   FROM unnest($6::text[], $7::int8[], $8::int8[], $9::int8[]) AS v(room, n, ts, head)
                   WHERE r.room = v.room AND r.head + v.n = v.head
                   RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM upd)::int AS updated`,
          values: [
            fresh.map((f) => f.p.room), fresh.map((f) => f.seq), fresh.map((f) => f.ts), fresh.map((f) => f.p.id), fresh.map((f) => f.p.body),
            changed.map(([r]) => r), changed.map(([, s]) => s.n), changed.map(([, s]) => s.ts), changed.map(([, s]) => s.head + s.n),
          ],
        });
        const counts = rows[0] ?? {};
        if (Number(counts.inserted) !== fresh.length || Number(counts.updated) !== changed.length) {
          // A conflicting row appeared (a copy stored meanwhile) or a head moved: keep nothing.
          throw new RetryBatch(`conflict: ${String(counts.inserted)}/${fresh.length} inserted, ${String(counts.updated)}/${changed.length} rooms updated`);
        }
      }
      open = false;
      await client.query('COMMIT');
      this.stats.commits++;
      this.stats.appended += fresh.length;
      this.stats.duplicates += batch.length - fresh.length;
      // Durable. Publish to the feed (in seq order per room, as allocated), then answer.
      const heads = new Map<string, number>();
      for (const [r, s] of state) if (s.n > 0) heads.set(r, s.head + s.n);
      if (fresh.length > 0) {
        this.committed(fresh.map((f) => ({ room: f.p.room, seq: f.seq, ts: f.ts, id: f.p.id, body: f.p.body, origin: f.p.origin })), heads);
      }
      const placed = new Map(fresh.map((f) => [f.p, f]));
      for (const p of batch) {
        this.pending.delete(p.key);
        const original = stored.get(p.key);
        const mine = placed.get(p);
        p.waiters.forEach((w, i) => {
          if (original !== undefined) w.resolve({ seq: original.seq, ts: original.ts, duplicate: true });
          else if (mine !== undefined) w.resolve({ seq: mine.seq, ts: mine.ts, duplicate: i > 0 });
        });
      }
      if (heads.size > 0) {
        // The doorbell, after the commit: a NOTIFY inside the transaction would take
        // PostgreSQL's global notify lock across our WAL flush and serialise every relay's
        // commits. A doorbell lost here (a crash right now) is made up by the feed's poll.
        this.doorbell = client.query({
          name: 'smc_messages_notify',
          text: `SELECT pg_notify('${MESSAGE_CHANNEL}', r || ' ' || h) FROM unnest($1::text[], $2::int8[]) AS t(r, h)`,
          values: [[...heads.keys()], [...heads.values()]],
        }).then(() => undefined, () => undefined);
      }
    } catch (err) {
      if (open && !isConnectionError(err)) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          this.db.fail(rollbackErr);
          throw new StoreUnavailableError('the database connection was lost; the message was not stored');
        }
      }
      throw err;
    }
  }

  private failBatch(batch: Array<Pending<Origin>>, err: unknown): void {
    let error: Error;
    if (isConnectionError(err)) {
      this.db.fail(err);
      // The outcome of a COMMIT whose answer was lost is unknown: never ack. The client resends
      // with the same id, and dedup answers with the original seq if it was stored (§1.5).
      error = err instanceof StoreUnavailableError ? err : new StoreUnavailableError('the database connection was lost; the message may not be stored');
      this.stats.rejectedUnavailable += batch.length;
    } else {
      const code = String((err as { code?: unknown }).code ?? 'EPG');
      const message = err instanceof Error ? err.message : String(err);
      this.options.log('pg.write_error', { code, message, messages: batch.length });
      error = new StoreWriteError(`cannot store message: ${message}`, code);
    }
    for (const p of batch) {
      this.pending.delete(p.key);
      for (const w of p.waiters) w.reject(error);
    }
  }

  private rejectQueued(error: Error): void {
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.stats.rejectedUnavailable += queued.length;
    for (const p of queued) {
      this.pending.delete(p.key);
      for (const w of p.waiters) w.reject(error);
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.committing || this.pending.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Refuses new appends and resolves once every accepted one is settled. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.committing || this.pending.size > 0 || this.scheduled) await new Promise<void>((r) => this.idleWaiters.push(r));
  }
}
