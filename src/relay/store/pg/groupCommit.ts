// Appends and their group commit on PostgreSQL (issue 9 "Durability"). Appends that arrive
// while a transaction is in flight wait in a bounded queue and go together into the next one:
// one COMMIT (one WAL flush) for many messages. A transaction is one call, in autocommit, on the
// writer connection, of the function smc_append (schema.ts), which:
//   1. creates the rooms' rows that do not exist yet (in room order);
//   2. locks the rooms' rows FOR UPDATE in room order (one global order: relays never deadlock;
//      a relay appending to the same room waits until this transaction ends);
//   3. in a fresh snapshot, looks up every (room, id) already stored: dedup across relays (§1.5);
//   4. `UPDATE smc_rooms SET head = head + n ... RETURNING` and inserts the new rows with
//      seqs head+1..head+n (INSERT ... ON CONFLICT DO NOTHING: should a row conflict after all,
//      the function raises a serialization failure, nothing is kept and the batch is retried,
//      its dedup read then finding the original);
//   5. commits (synchronous_commit on: the WAL is flushed before the answer comes back).
// Seqs are allocated under the room's lock and in the transaction that inserts the messages,
// so a rollback (of any cause, a failed COMMIT included) takes the allocation back: no gap
// (docs/protocol.md §1.4). ts = max(the database's clock, the room's previous ts): one clock for
// every relay of the cluster, never backwards within a room. One round trip per batch: on a
// loaded machine each round trip costs a wake-up of the relay and of the backend.
// After the commit, a NOTIFY (room, head) per room: the doorbell for the other relays.
//
// A private room's commit (docs/protocol.md §3.6) takes the same road, as a batch of its own:
// the function smc_append_commit checks the room's epoch and stores the message and the new
// epoch in one transaction, under the private room's row lock, so that of two commits for one
// epoch (on any relays) exactly one is stored. Going through the group commit keeps what the
// feed and the doorbells need: the commit is pending (the feed waits for its answer before it
// shows a row of it), handed to the feed with its origin and epoch, and rung to the other relays.
import type { Client } from 'pg';
import { MAX_EPOCHS } from '../privateLog';
import type { CommitResult } from '../types';
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
  /** §3.6: a private room's commit, with the epoch it began. */
  epoch?: number;
}

interface Waiter {
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

interface CommitWaiter {
  resolve: (r: CommitResult) => void;
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
  /** §3.6: a commit, with the epoch it begins and its key; always a batch of its own. */
  commit?: { epoch: number; authPub: Buffer; waiters: CommitWaiter[] };
}

/** Attempts of one batch when its transaction must be retried (a conflict, a deadlock). */
const MAX_ATTEMPTS = 4;
/** SQLSTATEs after which the same transaction may simply be tried again. */
const RETRYABLE = new Set(['40001', '40P01']);

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
  /** Writer connections carrying a batch now. */
  private busyWriters: number[] = [];
  /** Rooms of the batches in flight (one batch per room at a time). */
  private readonly roomsInFlight = new Set<string>();
  private scheduled = false;
  /** The NOTIFY of the last commit on each writer, sent after its acks. */
  private doorbells: Array<Promise<void>> = [];
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  readonly stats: CommitStats = { commits: 0, appended: 0, duplicates: 0, retries: 0, rejectedBusy: 0, rejectedUnavailable: 0 };

  constructor(
    private readonly db: Database,
    private readonly options: GroupCommitOptions,
    /** Called with each committed batch's new messages, in seq order per room, before the acks. */
    private readonly committed: (messages: Array<CommittedMessage<Origin>>, heads: Map<string, number>) => void,
    /** Called with the rooms of appends just answered (stored, duplicate or failed), after the answers. */
    private readonly settled: (rooms: Set<string>) => void = () => undefined,
  ) {
    // Fail fast: what waits in the queue when the database goes away is rejected at once.
    db.onDown(() => this.rejectQueued(new StoreUnavailableError('the database connection was lost; the message was not stored')));
  }

  append(room: string, id: string, body: string, origin: Origin | undefined): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const key = room + '\u0000' + id;
      if (!this.admissible(room, id, reject)) return;
      const first = this.pending.get(key);
      if (first !== undefined) {
        if (first.commit !== undefined) return reject(new StoreWriteError('a commit with this id is being stored; send it again', 'EPENDING'));
        first.waiters.push(waiter);
        return;
      }
      this.enqueue(key, room, id, body, origin, reject, (p) => p.waiters.push(waiter));
    });
  }

  /**
   * §3.6: stores a private room's commit and the epoch it begins, in one transaction of its
   * own, only while the room is in `epoch - 1` (smc_append_commit). A second append of the same
   * commit meanwhile waits for the first one's answer and gets it as a duplicate.
   */
  appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer, origin: Origin | undefined): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      const waiter: CommitWaiter = { resolve, reject };
      const key = room + '\u0000' + id;
      if (!this.admissible(room, id, reject)) return;
      const first = this.pending.get(key);
      if (first !== undefined) {
        if (first.commit === undefined) return reject(new StoreWriteError('a message with this id is being stored; send it again', 'EPENDING'));
        first.commit.waiters.push(waiter);
        return;
      }
      this.enqueue(key, room, id, body, origin, reject, (p) => {
        p.commit = { epoch, authPub, waiters: [waiter] };
      });
    });
  }

  /** The store takes appends now, and room and id have the schema's form; else rejects (false). */
  private admissible(room: string, id: string, reject: (e: Error) => void): boolean {
    if (this.closed) {
      reject(new StoreWriteError('the store is closed', 'ECLOSED'));
      return false;
    }
    if (this.db.state !== 'up') {
      this.stats.rejectedUnavailable++;
      reject(new StoreUnavailableError('the database is unreachable; the relay is reconnecting'));
      return false;
    }
    if (!KEY_RE.test(room) || !KEY_RE.test(id)) {
      reject(new StoreWriteError('room and id must be 1-64 chars of [A-Za-z0-9_-]', 'EINVAL'));
      return false;
    }
    return true;
  }

  private enqueue(
    key: string, room: string, id: string, body: string, origin: Origin | undefined, reject: (e: Error) => void,
    addWaiter: (p: Pending<Origin>) => void,
  ): void {
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes === 0 || bytes > this.options.maxBodyBytes) {
      return reject(new StoreWriteError(`body must be 1-${this.options.maxBodyBytes} bytes, got ${bytes}`, 'EINVAL'));
    }
    // PostgreSQL text cannot hold NUL: such a body would fail its whole group, the other
    // senders' messages with it. Refused here, alone (the relay only passes b64u, §1.2).
    if (body.includes('\u0000')) return reject(new StoreWriteError('body contains a NUL character', 'EINVAL'));
    if (this.queue.length >= this.options.maxQueued || this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      this.stats.rejectedBusy++;
      return reject(new StoreBusyError(`more than ${this.options.maxQueued} messages (or ${this.options.maxQueuedBytes} bytes) are waiting for the database`));
    }
    const p: Pending<Origin> = { key, room, id, body, bytes, origin, waiters: [] };
    addWaiter(p);
    this.pending.set(key, p);
    this.queue.push(p);
    this.queuedBytes += bytes;
    this.schedule();
  }

  /** Whether an append of (room, id) is waiting or in a transaction (not yet answered). */
  isPending(room: string, id: string): boolean {
    return this.pending.has(room + '\u0000' + id);
  }

  /** Appends waiting or in a transaction. */
  get inFlight(): number {
    return this.pending.size;
  }

  private get committing(): boolean {
    return this.busyWriters.length > 0;
  }

  private schedule(): void {
    if (this.scheduled || this.busyWriters.length >= this.db.writers) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every append of this turn of the event loop (all frames of
    // one socket read) joins the same transaction.
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    // One batch per free writer connection; each takes what has arrived by the time it starts,
    // but no room that a batch in flight holds: that batch keeps the room's row locked until its
    // WAL flush, so a second one would only wait for the lock and then pay a flush of its own.
    // Held back, those appends join the room's next group, one flush for all of them (and a
    // room's seqs follow the order its appends arrived at this relay).
    while (this.queue.length > 0 && this.busyWriters.length < this.db.writers) {
      const batch: Array<Pending<Origin>> = [];
      const rest: Array<Pending<Origin>> = [];
      // Rooms whose appends wait behind a commit that waits: they keep their order (§3.6 commits
      // are a batch of their own).
      const behindCommit = new Set<string>();
      let bytes = 0;
      for (const p of this.queue) {
        const fits = batch.length < this.options.maxBatch && (batch.length === 0 || bytes + p.bytes <= this.options.maxBatchBytes)
          && batch[0]?.commit === undefined && (p.commit === undefined || batch.length === 0);
        if (fits && !this.roomsInFlight.has(p.room) && !behindCommit.has(p.room)) {
          batch.push(p);
          bytes += p.bytes;
        } else {
          rest.push(p);
          if (p.commit !== undefined) behindCommit.add(p.room);
        }
      }
      if (batch.length === 0) return; // every queued room is in flight: the next run takes them
      this.queue = rest;
      this.queuedBytes -= bytes;
      let writer = 0;
      while (this.busyWriters.includes(writer)) writer++;
      this.busyWriters.push(writer);
      const rooms = new Set(batch.map((p) => p.room));
      for (const room of rooms) this.roomsInFlight.add(room);
      void this.commitBatch(writer, batch).catch((err: unknown) => this.failBatch(batch, err)).finally(() => {
        this.busyWriters.splice(this.busyWriters.indexOf(writer), 1);
        for (const room of rooms) this.roomsInFlight.delete(room);
        if (this.queue.length > 0) this.schedule();
        else this.notifyIdle();
      });
    }
  }

  private async commitBatch(writer: number, batch: Array<Pending<Origin>>): Promise<void> {
    // The previous batch's doorbell goes first on this writer connection (one query at a time).
    await this.doorbells[writer];
    const client = this.db.writer(writer);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transaction(client, writer, batch);
        return;
      } catch (err) {
        if (!RETRYABLE.has(String((err as { code?: unknown }).code)) || attempt >= MAX_ATTEMPTS) throw err;
        this.stats.retries++;
        this.options.log('pg.batch_retry', { attempt, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private async transaction(client: Client, writer: number, batch: Array<Pending<Origin>>): Promise<void> {
    const only = batch[0];
    if (only?.commit !== undefined) return this.commitTransaction(client, writer, only, only.commit);
    // One statement in autocommit: its implicit transaction commits (WAL flushed, with
    // synchronous_commit on) before the answer comes back. A failure anywhere, COMMIT
    // included, rolls all of it back, the seq allocation too.
    const result = await client.query<{ ord: number; seq: string; ts: string; duplicate: boolean }>({
      name: 'smc_append',
      text: 'SELECT ord, seq, ts, duplicate FROM smc_append($1::text[], $2::text[], $3::text[])',
      values: [batch.map((p) => p.room), batch.map((p) => p.id), batch.map((p) => p.body)],
    });
    const placed: Array<{ seq: number; ts: number; duplicate: boolean } | undefined> = new Array(batch.length);
    for (const row of result.rows) placed[row.ord - 1] = { seq: Number(row.seq), ts: Number(row.ts), duplicate: row.duplicate };
    const fresh: Array<CommittedMessage<Origin>> = [];
    const heads = new Map<string, number>();
    batch.forEach((p, i) => {
      const at = placed[i];
      if (at === undefined || at.duplicate) return;
      fresh.push({ room: p.room, seq: at.seq, ts: at.ts, id: p.id, body: p.body, origin: p.origin });
      if (at.seq > (heads.get(p.room) ?? 0)) heads.set(p.room, at.seq);
    });
    this.stats.commits++;
    this.stats.appended += fresh.length;
    this.stats.duplicates += batch.length - fresh.length;
    // Durable. Publish to the feed (in seq order per room), then answer.
    if (fresh.length > 0) {
      fresh.sort((a, b) => (a.room === b.room ? a.seq - b.seq : a.room < b.room ? -1 : 1));
      this.committed(fresh, heads);
    }
    batch.forEach((p, i) => {
      this.pending.delete(p.key);
      const at = placed[i];
      if (at === undefined) {
        // Cannot happen (smc_append raises unless every message is placed); never ack blindly.
        for (const w of p.waiters) w.reject(new StoreWriteError('the database did not place the message', 'EPLACE'));
        return;
      }
      // The first waiter is the original append; later ones are duplicates of it (§1.5).
      p.waiters.forEach((w, k) => w.resolve({ seq: at.seq, ts: at.ts, duplicate: at.duplicate || k > 0 }));
    });
    this.settled(new Set(batch.map((p) => p.room)));
    this.ring(client, writer, heads);
  }

  private ring(client: Client, writer: number, heads: Map<string, number>): void {
    if (heads.size === 0) return;
    // The doorbell, after the commit and in a transaction of its own that does not wait for
    // the disk: a NOTIFY inside the append's transaction would hold PostgreSQL's global
    // notify lock across our WAL flush and serialise every relay's commits. A doorbell lost
    // (a crash right now) is made up by the feed's poll. Rooms and ids are [A-Za-z0-9_-]
    // (checked in append), seqs integers: safe to inline in this one simple query.
    const calls = [...heads].map(([r, h]) => `pg_notify('${MESSAGE_CHANNEL}', '${r} ${h}')`).join(', ');
    this.doorbells[writer] = client.query(`BEGIN; SET LOCAL synchronous_commit TO off; SELECT ${calls}; COMMIT`).then(() => undefined, () => undefined);
  }

  /** §3.6: one commit, in one autocommit statement (smc_append_commit, schema.ts). */
  private async commitTransaction(client: Client, writer: number, p: Pending<Origin>, commit: NonNullable<Pending<Origin>['commit']>): Promise<void> {
    const result = await client.query<{ outcome: string; seq: string; ts: string; epoch: string }>({
      name: 'smc_append_commit',
      text: 'SELECT outcome, seq, ts, epoch FROM smc_append_commit($1, $2, $3, $4, $5, $6)',
      values: [p.room, p.id, p.body, commit.epoch, commit.authPub, MAX_EPOCHS],
    });
    const row = result.rows[0];
    this.stats.commits++;
    const seq = Number(row?.seq ?? 0);
    const ts = Number(row?.ts ?? 0);
    const epoch = Number(row?.epoch ?? 0);
    let answer: CommitResult | Error;
    switch (row?.outcome) {
      case 'stored':
        this.stats.appended++;
        // Durable, message and epoch together. To the feed (with its epoch), then the answer.
        this.committed([{ room: p.room, seq, ts, id: p.id, body: p.body, origin: p.origin, epoch }], new Map([[p.room, seq]]));
        answer = { stale: false, seq, ts, duplicate: false, epoch };
        break;
      case 'duplicate':
      case 'message':
        this.stats.duplicates++;
        answer = { stale: false, seq, ts, duplicate: true, epoch };
        break;
      case 'stale':
        answer = { stale: true, epoch, seq };
        break;
      case 'none':
        answer = new StoreWriteError('not a private room', 'EINVAL');
        break;
      default:
        answer = new StoreWriteError('the database did not place the commit', 'EPLACE');
    }
    this.pending.delete(p.key);
    commit.waiters.forEach((w, k) => {
      if (answer instanceof Error) w.reject(answer);
      else w.resolve(k > 0 && !answer.stale ? { ...answer, duplicate: true } : answer);
    });
    this.settled(new Set([p.room]));
    if (row?.outcome === 'stored') this.ring(client, writer, new Map([[p.room, seq]]));
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
      for (const w of [...p.waiters, ...(p.commit?.waiters ?? [])]) w.reject(error);
    }
    this.settled(new Set(batch.map((p) => p.room)));
  }

  private rejectQueued(error: Error): void {
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.stats.rejectedUnavailable += queued.length;
    for (const p of queued) {
      this.pending.delete(p.key);
      for (const w of [...p.waiters, ...(p.commit?.waiters ?? [])]) w.reject(error);
    }
    if (queued.length > 0) this.settled(new Set(queued.map((p) => p.room)));
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
