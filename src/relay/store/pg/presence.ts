// Presence across the relays of a cluster (docs/protocol.md §1.4, docs/storage.md). Each relay instance has a
// row in smc_instances whose `expires_at` it pushes forward with a heartbeat; its members are rows
// of smc_presence. A listing counts only the members of instances that have not expired, so a
// relay that dies drops out of presence within one TTL; any relay that sees an expired instance
// deletes it with its rows and rings the rooms' doorbell so that every relay lists them again.
// Changes are coalesced into one short transaction per tick and mirrored in memory, so that after
// an outage (or after others expired this instance) the whole of this relay's presence is
// written again.
import { randomUUID } from 'node:crypto';
import type { ClientBase } from 'pg';
import type { Database } from './database';
import type { RoomPresence } from './types';

export const PRESENCE_CHANNEL = 'smc_presence';

interface Op {
  room: string;
  sid: string;
  tag: string | null;
  remove: boolean;
}

export class ClusterPresence {
  readonly instance = randomUUID();
  private readonly mine = new Map<string, Map<string, string | null>>();
  private ops = new Map<string, Op>();
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Set when the database must be told everything again (after an outage or an expiry). */
  private resync = false;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly ttlMs: number,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
  ) {}

  async start(): Promise<void> {
    await this.db.query('INSERT INTO smc_instances (instance, expires_at) VALUES ($1, now() + $2 * interval \'1 millisecond\')', [this.instance, this.ttlMs]);
    // Three heartbeats per TTL: one lost or late heartbeat does not expire a live relay.
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.ttlMs / 3)));
    this.heartbeatTimer.unref();
  }

  /** After a reconnect: write everything again (rows may have been expired meanwhile). */
  reconnected(): void {
    this.resync = true;
    this.scheduleFlush(0);
  }

  set(room: string, sid: string, tag: string | undefined): void {
    let members = this.mine.get(room);
    if (members === undefined) this.mine.set(room, (members = new Map()));
    members.set(sid, tag ?? null);
    this.ops.set(room + '\u0000' + sid, { room, sid, tag: tag ?? null, remove: false });
    this.scheduleFlush(5);
  }

  remove(room: string, sid: string): void {
    const members = this.mine.get(room);
    if (members === undefined || !members.delete(sid)) return;
    if (members.size === 0) this.mine.delete(room);
    this.ops.set(room + '\u0000' + sid, { room, sid, tag: null, remove: true });
    this.scheduleFlush(5);
  }

  async list(room: string, limit: number): Promise<RoomPresence> {
    const rows = await this.db.query<{ sid: string; tag: string | null; online: string }>(
      `SELECT p.sid, p.tag, count(*) OVER () AS online
       FROM smc_presence p JOIN smc_instances i ON i.instance = p.instance
       WHERE p.room = $1 AND i.expires_at > now()
       ORDER BY p.joined LIMIT $2`,
      [room, Math.max(1, limit)],
    );
    const online = rows.length === 0 ? 0 : Number(rows[0]?.online);
    return {
      online,
      members: limit <= 0 ? [] : rows.map((r) => (r.tag === null ? { sid: r.sid } : { sid: r.sid, tag: r.tag })),
    };
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushTimer !== undefined || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delayMs);
  }

  /** Writes the coalesced changes (or everything, after an outage) in one transaction. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => {
      this.flushing = undefined;
      if ((this.ops.size > 0 || this.resync) && this.db.state === 'up') this.scheduleFlush(5);
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    if (this.db.state !== 'up' || (this.ops.size === 0 && !this.resync)) return;
    const full = this.resync;
    const ops = this.ops;
    this.ops = new Map();
    this.resync = false;
    try {
      await this.db.transaction(async (client) => {
        const rooms = new Set<string>();
        if (full) {
          await client.query(`INSERT INTO smc_instances (instance, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
                              ON CONFLICT (instance) DO UPDATE SET expires_at = EXCLUDED.expires_at`, [this.instance, this.ttlMs]);
          const gone = await client.query<{ room: string }>('DELETE FROM smc_presence WHERE instance = $1 RETURNING room', [this.instance]);
          for (const r of gone.rows) rooms.add(r.room);
          const all: Op[] = [];
          for (const [room, members] of this.mine) for (const [sid, tag] of members) all.push({ room, sid, tag, remove: false });
          await this.upsert(client, all);
          for (const o of all) rooms.add(o.room);
          for (const o of ops.values()) rooms.add(o.room);
        } else {
          const removes = [...ops.values()].filter((o) => o.remove);
          const sets = [...ops.values()].filter((o) => !o.remove);
          if (removes.length > 0) {
            await client.query('DELETE FROM smc_presence p USING unnest($2::text[], $3::text[]) AS d(room, sid) WHERE p.instance = $1 AND p.room = d.room AND p.sid = d.sid',
              [this.instance, removes.map((o) => o.room), removes.map((o) => o.sid)]);
          }
          await this.upsert(client, sets);
          for (const o of ops.values()) rooms.add(o.room);
        }
        await this.ring(client, [...rooms]);
      });
    } catch (err) {
      // Not written: keep the changes (newer ones win) and write them when the database is back.
      for (const [k, o] of ops) if (!this.ops.has(k)) this.ops.set(k, o);
      if (full) this.resync = true;
      this.log('pg.presence_write_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private async upsert(client: ClientBase, sets: Op[]): Promise<void> {
    if (sets.length === 0) return;
    // In the order of `sets` (join order), so that `joined` numbers them in that order.
    await client.query(`INSERT INTO smc_presence (room, instance, sid, tag)
                        SELECT d.room, $1, d.sid, d.tag FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS d(room, sid, tag, o)
                        ORDER BY d.o
                        ON CONFLICT (room, instance, sid) DO UPDATE SET tag = EXCLUDED.tag`,
    [this.instance, sets.map((o) => o.room), sets.map((o) => o.sid), sets.map((o) => o.tag)]);
  }

  private async ring(client: ClientBase, rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    await client.query(`SELECT pg_notify('${PRESENCE_CHANNEL}', r) FROM unnest($1::text[]) AS t(r)`, [rooms]);
  }

  /** Pushes this instance's expiry forward, and expires the instances that stopped doing so. */
  private async heartbeat(): Promise<void> {
    if (this.db.state !== 'up' || this.closed) return;
    try {
      const alive = await this.db.query('UPDATE smc_instances SET expires_at = now() + $2 * interval \'1 millisecond\' WHERE instance = $1 RETURNING 1', [this.instance, this.ttlMs]);
      if (alive.length === 0) {
        // Others expired us (we were cut off for longer than the TTL): announce everything again.
        this.log('pg.presence_expired', { instance: this.instance });
        this.reconnected();
      }
      const rooms = await this.db.query<{ room: string }>(
        `WITH dead AS (DELETE FROM smc_instances WHERE expires_at < now() RETURNING instance),
              gone AS (DELETE FROM smc_presence p USING dead WHERE p.instance = dead.instance RETURNING p.room)
         SELECT DISTINCT room FROM gone`,
      );
      if (rooms.length > 0) {
        this.log('pg.presence_expired_instances', { rooms: rooms.length });
        await this.db.query(`SELECT pg_notify('${PRESENCE_CHANNEL}', r) FROM unnest($1::text[]) AS t(r)`, [rooms.map((r) => r.room)]);
      }
    } catch (err) {
      this.log('pg.heartbeat_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Stops heartbeating; removes this instance and its members (others list them no more). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.flushing;
    if (this.db.state !== 'up') return;
    try {
      await this.db.transaction(async (client) => {
        await client.query('DELETE FROM smc_instances WHERE instance = $1', [this.instance]);
        const gone = await client.query<{ room: string }>('DELETE FROM smc_presence WHERE instance = $1 RETURNING room', [this.instance]);
        await this.ring(client, [...new Set(gone.rows.map((r) => r.room))]);
      });
    } catch (err) {
      this.log('pg.presence_close_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
