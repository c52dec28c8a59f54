// The relay's PostgreSQL store (docs/storage.md "PostgreSQL"): any number of relays on one
// database serve the same rooms. It composes the connections and their health (database.ts),
// the group commit (groupCommit.ts), the feed of every relay's messages (feed.ts), presence
// across relays (presence.ts) and retention (retention.ts) behind the ClusterStore interface.
import { Client } from 'pg';
import { checkDurability, connectionConfig, Database } from './database';
import { EPHEMERAL_CHANNEL, EphemeralRelay } from './ephemeral';
import { Feed } from './feed';
import { GroupCommit, MESSAGE_CHANNEL, type CommitStats } from './groupCommit';
import { ClusterPresence, PRESENCE_CHANNEL } from './presence';
import { Retention } from './retention';
import { PgPrivateRooms, type PgPrivateRecord } from './privateRooms';
import { migrate } from './schema';
import type {
  AppendResult, ClusterStore, ClusterStoreEvents, CommitResult, FeedMessage, ResetResult, ResetSeen, RoomPresence, StoredMessage,
} from './types';

/** §3.6: the channel on which a relay that reset a private room tells the others ("room generation epoch seq"). */
export const PRIVATE_CHANNEL = 'smc_private';

export interface PgStoreOptions {
  /** `postgres://user@host:port/db?sslmode=verify-full...`; PGPASSWORD, ~/.pgpass and PG* apply. */
  url: string;
  /** Messages kept per room at least (§1.6 `retain`, ≥ 1). */
  retain: number;
  /** Run the migrations on open (default true). */
  migrate?: boolean;
  /** Appends waiting for a transaction at most (default 10 000; more get StoreBusyError). */
  maxQueued?: number;
  /** Body bytes waiting at most (default 64 MiB). */
  maxQueuedBytes?: number;
  /** Messages per transaction at most (default 1 000). */
  maxBatch?: number;
  /** Body bytes per transaction at most (default 4 MiB). */
  maxBatchBytes?: number;
  /** Largest body accepted (default 1 MiB; the relay's own frame limit is far lower). */
  maxBodyBytes?: number;
  /** How often the feed compares the watched rooms' heads with its cursors (default 1 000 ms). */
  pollMs?: number;
  /** A relay that stops heartbeating leaves presence after this long (default 5 000 ms). */
  presenceTtlMs?: number;
  /** Read connections (default 4). */
  readers?: number;
  /** Writer connections: group commits in flight at once (default 2). */
  writers?: number;
  /** Reads waiting for a read connection at most (default 2 000; more get StoreBusyError). */
  maxWaitingReads?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  /** application_name of the sessions (default smc-relay), as pg_stat_activity shows it. */
  applicationName?: string;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface PgStoreStats extends CommitStats {
  state: string;
  connectAttempts: number;
  outages: number;
  feedEmitted: number;
  feedReads: number;
  feedPolls: number;
  doorbells: number;
  retentionDeleted: number;
  ephemeralPublished: number;
  ephemeralDropped: number;
  inFlight: number;
}

export class PgStore<Origin = unknown> implements ClusterStore<Origin> {
  private readonly db: Database;
  private readonly commit: GroupCommit<Origin>;
  private readonly feed: Feed<Origin>;
  private readonly presenceState: ClusterPresence;
  private readonly retention: Retention;
  private readonly messageListeners: Array<ClusterStoreEvents<Origin>['message']> = [];
  private readonly presenceListeners: Array<ClusterStoreEvents<Origin>['presence']> = [];
  private readonly ephemeralListeners: Array<ClusterStoreEvents<Origin>['ephemeral']> = [];
  private readonly resetListeners: Array<ClusterStoreEvents<Origin>['reset']> = [];
  private readonly privateRooms: PgPrivateRooms;
  private readonly ephemeralRelay: EphemeralRelay;
  private readonly log: NonNullable<PgStoreOptions['log']>;
  private opened = false;

  constructor(private readonly options: PgStoreOptions) {
    this.log = options.log ?? (() => undefined);
    this.db = new Database({
      url: options.url,
      channels: [MESSAGE_CHANNEL, PRESENCE_CHANNEL, EPHEMERAL_CHANNEL, PRIVATE_CHANNEL],
      readers: options.readers,
      writers: options.writers,
      maxWaitingReads: options.maxWaitingReads,
      backoffMinMs: options.backoffMinMs,
      backoffMaxMs: options.backoffMaxMs,
      connectTimeoutMs: options.connectTimeoutMs,
      applicationName: options.applicationName,
      log: this.log,
    });
    this.retention = new Retention(this.db, { retain: options.retain }, this.log);
    this.feed = new Feed<Origin>(
      this.db, (m) => this.emitMessage(m), (room, id) => this.commit.isPending(room, id), options.pollMs ?? 1_000, this.log,
      (reset) => this.emitReset(reset),
    );
    this.privateRooms = new PgPrivateRooms(this.db);
    this.commit = new GroupCommit<Origin>(this.db, {
      maxQueued: options.maxQueued ?? 10_000,
      maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
      maxBatch: options.maxBatch ?? 1_000,
      maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      log: this.log,
    }, (messages, heads) => {
      this.feed.committed(messages);
      this.retention.noteHeads(heads);
    }, (rooms) => this.feed.settled(rooms));
    this.presenceState = new ClusterPresence(this.db, options.presenceTtlMs ?? 5_000, this.log);
    this.ephemeralRelay = new EphemeralRelay(this.db, this.presenceState.instance, this.log);
    this.db.onNotification((n) => {
      if (n.payload === undefined) return;
      if (n.channel === MESSAGE_CHANNEL) this.feed.doorbell(n.payload);
      else if (n.channel === PRESENCE_CHANNEL && this.feed.isWatched(n.payload)) {
        for (const l of this.presenceListeners) l(n.payload);
      } else if (n.channel === PRIVATE_CHANNEL) {
        const [room, generation, epoch, seq] = n.payload.split(' ');
        const seen = { room: room ?? '', generation: Number(generation), epoch: Number(epoch), seq: Number(seq) };
        this.privateRooms.forget(seen.room);
        if (Number.isSafeInteger(seen.generation) && Number.isSafeInteger(seen.epoch) && Number.isSafeInteger(seen.seq)
          && this.feed.raiseGeneration(seen.room, seen.generation)) this.emitReset(seen);
      } else if (n.channel === EPHEMERAL_CHANNEL) {
        const m = this.ephemeralRelay.received(n.payload);
        if (m !== undefined && this.feed.isWatched(m.room)) for (const l of this.ephemeralListeners) l(m);
      }
    });
    this.db.onUp(() => {
      // Whatever was missed while the database was away: read it now.
      void this.feed.pollAll();
      this.presenceState.reconnected();
    });
  }

  /** This relay's id in smc_instances and smc_presence. */
  get instance(): string {
    return this.presenceState.instance;
  }

  /** Checks and migrates a database without opening a store (`smc relay --migrate-only`). */
  static async migrateOnly(url: string): Promise<number[]> {
    const client = new Client({ ...connectionConfig(url), application_name: 'smc-relay-migrate', connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await checkDurability(client);
      return await migrate(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async open(): Promise<void> {
    let first = true;
    await this.db.open(async (client) => {
      await checkDurability(client);
      if (first && this.options.migrate !== false) {
        const applied = await migrate(client);
        if (applied.length > 0) this.log('pg.migrated', { versions: applied });
      }
      first = false;
    });
    try {
      await this.presenceState.start();
    } catch (err) {
      await this.db.close();
      throw err;
    }
    this.feed.start();
    this.opened = true;
  }

  append(room: string, id: string, body: string, origin?: Origin): Promise<AppendResult> {
    return this.commit.append(room, id, body, origin);
  }

  async head(room: string): Promise<number> {
    const rows = await this.db.query<{ head: string }>('SELECT head FROM smc_rooms WHERE room = $1', [room]);
    return Number(rows[0]?.head ?? 0);
  }

  async range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0 || before <= after + 1) return [];
    // §3.6: a commit that began one of the epochs kept since the room's last reset carries its
    // epoch, in catch-up and history as live (as the embedded store's epochStartedAt).
    const rows = await this.db.query<{ seq: string; ts: string; id: string; body: string; epoch: string | null }>(
      `SELECT m.seq, m.ts, m.id, m.body, e.epoch FROM (
         SELECT room, seq, ts, id, body FROM smc_messages
         WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4
       ) m LEFT JOIN smc_private_epochs e ON e.room = m.room AND e.seq = m.seq AND e.id = m.id
       ORDER BY m.seq`,
      [room, after, before, limit],
    );
    return rows.map((r) => (r.epoch === null
      ? { seq: Number(r.seq), ts: Number(r.ts), id: r.id, body: r.body }
      : { seq: Number(r.seq), ts: Number(r.ts), id: r.id, body: r.body, epoch: Number(r.epoch) }));
  }

  // ---- private rooms (§3.6, privateRooms.ts) ----

  privateRoom(room: string): Promise<PgPrivateRecord | undefined> {
    return this.privateRooms.read(room);
  }

  async resetPrivateRoom(room: string, owner: Buffer, epoch: number, authPub: Buffer, refuse = 0): Promise<ResetResult> {
    const { result, generation } = await this.privateRooms.reset(room, owner, epoch, authPub, refuse);
    if (!result.ok) return result;
    // This relay rekeys its own members (the relay's reset handler); its own NOTIFY is no news.
    this.feed.raiseGeneration(room, generation);
    // The other relays rekey theirs. A NOTIFY lost (the database went away right now) is made
    // up by the feed's poll of the generations.
    this.db.query('SELECT pg_notify($1, $2)', [PRIVATE_CHANNEL, `${room} ${generation} ${epoch} ${result.seq}`]).catch((err: unknown) => {
      this.log('pg.private_notify_failed', { room, error: err instanceof Error ? err.message : String(err) });
    });
    return result;
  }

  appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer, origin?: Origin): Promise<CommitResult> {
    return this.commit.appendCommit(room, id, body, epoch, authPub, origin);
  }

  reach(room: string, seq: number, timeoutMs: number): Promise<void> {
    return this.feed.reach(room, seq, timeoutMs);
  }

  privateState(room: string): { commitSeq: number; generation: number } | undefined {
    return this.feed.privateState(room);
  }

  raiseGeneration(room: string, generation: number): boolean {
    return this.feed.raiseGeneration(room, generation);
  }

  async oldest(room: string): Promise<number> {
    const rows = await this.db.query<{ oldest: string }>(
      `SELECT COALESCE(
         (SELECT seq FROM smc_messages WHERE room = $1 ORDER BY seq LIMIT 1),
         (SELECT head + 1 FROM smc_rooms WHERE room = $1),
         1) AS oldest`,
      [room],
    );
    return Number(rows[0]?.oldest ?? 1);
  }

  watch(room: string): Promise<void> {
    return this.feed.watch(room);
  }

  unwatch(room: string): void {
    this.feed.unwatch(room);
  }

  cursor(room: string): number {
    return this.feed.cursor(room);
  }

  setPresence(room: string, sid: string, tag: string | undefined): void {
    this.presenceState.set(room, sid, tag);
  }

  removePresence(room: string, sid: string): void {
    this.presenceState.remove(room, sid);
  }

  presence(room: string, limit: number): Promise<RoomPresence> {
    return this.presenceState.list(room, limit);
  }

  publishEphemeral(room: string, id: string, body: string): void {
    this.ephemeralRelay.publish({ room, id, body });
  }

  on<E extends keyof ClusterStoreEvents<Origin>>(event: E, listener: ClusterStoreEvents<Origin>[E]): void {
    if (event === 'message') this.messageListeners.push(listener as ClusterStoreEvents<Origin>['message']);
    else if (event === 'presence') this.presenceListeners.push(listener as ClusterStoreEvents<Origin>['presence']);
    else if (event === 'reset') this.resetListeners.push(listener as ClusterStoreEvents<Origin>['reset']);
    else this.ephemeralListeners.push(listener as ClusterStoreEvents<Origin>['ephemeral']);
  }

  private emitReset(reset: ResetSeen): void {
    for (const l of this.resetListeners) l(reset);
  }

  private emitMessage(m: FeedMessage<Origin>): void {
    for (const l of this.messageListeners) l(m);
  }

  /** Runs retention for `room` now as if its head were `head` (tests, operators). */
  trimNow(room: string, head: number): Promise<void> {
    return this.retention.runNow(room, head);
  }

  /** Runs the feed's poll now (tests). */
  pollNow(): Promise<void> {
    return this.feed.pollAll();
  }

  /** Runs presence's heartbeat and expiry now, then writes pending changes (tests). */
  async flushPresence(): Promise<void> {
    await this.presenceState.flush();
  }

  stats(): PgStoreStats {
    return {
      ...this.commit.stats,
      state: this.db.state,
      connectAttempts: this.db.connectAttempts,
      outages: this.db.outages,
      feedEmitted: this.feed.stats.emitted,
      feedReads: this.feed.stats.reads,
      feedPolls: this.feed.stats.polls,
      doorbells: this.feed.stats.doorbells,
      retentionDeleted: this.retention.deleted,
      ephemeralPublished: this.ephemeralRelay.stats.published,
      ephemeralDropped: this.ephemeralRelay.stats.dropped,
      inFlight: this.commit.inFlight,
    };
  }

  async close(): Promise<void> {
    await this.commit.close();
    await this.retention.stop();
    this.feed.stop();
    if (this.opened) await this.presenceState.close();
    await this.db.close();
  }
}
