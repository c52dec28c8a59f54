// Private rooms on the PostgreSQL store (docs/protocol.md §3.6; docs/storage.md "PostgreSQL:
// private rooms"): the records that the embedded store keeps in private.log, in the tables
// smc_private_rooms and smc_private_epochs (schema.ts, migration 3), shared by every relay of
// the cluster. A reset is one call of smc_private_reset; a commit goes through the group commit
// (groupCommit.ts, smc_append_commit) because it is also a message of the room.
//
// A relay reads a room's record for every join and every commit. A room holds up to MAX_EPOCHS
// epochs (about 1 000 rows), so the record is kept in memory per room (bounded, least recently
// used first out) and each read asks the database only for what changed: one query that
// returns the room's generation and current epoch and, when the generation is the one cached,
// the epochs above the newest cached one (usually none). A reset changes the generation; then
// the whole record is read again.
import { MAX_EPOCHS } from '../privateLog';
import type { EpochKey, PrivateRoomRecord, ResetResult } from '../types';
import type { Database } from './database';

/** A private room's record as the cluster store reads it: with its reset generation. */
export interface PgPrivateRecord extends PrivateRoomRecord {
  /** Resets the room has had: a record of another generation has other epochs. */
  generation: number;
}

/** Rooms whose records are kept in memory at most (each up to MAX_EPOCHS × about 100 bytes). */
const CACHED_ROOMS = 256;
/**
 * Link rooms (no record) remembered, and for how long. Every join asks whether its room is
 * private; without this a link room's join would wait for a query, and a burst of one
 * connection's joins and leaves would no longer reach presence together (§1.4 coalescing). A
 * room becomes private only by its first reset (its id is the hash of its owner key, which no
 * link room's key can give), which forgets it here on the relay that stores it and, by NOTIFY,
 * on the others; the time bounds a NOTIFY missed.
 */
const LINK_ROOMS = 10_000;
const LINK_ROOM_MS = 5_000;

interface EpochRow {
  epoch: string;
  auth: Buffer;
  seq: string;
  ts: string;
  id: string;
}

function epochOf(r: EpochRow): EpochKey {
  return { epoch: Number(r.epoch), authPub: r.auth, seq: Number(r.seq), ts: Number(r.ts), id: r.id };
}

export class PgPrivateRooms {
  /** Insertion order is recency: a read moves its room to the end. */
  private readonly cache = new Map<string, PgPrivateRecord>();
  /** Rooms read as link rooms, and until when that holds (insertion order: oldest first). */
  private readonly linkRooms = new Map<string, number>();

  constructor(private readonly db: Database) {}

  /** The room's record, or undefined for a room never reset (a link room). */
  read(room: string): Promise<PgPrivateRecord | undefined> {
    const until = this.linkRooms.get(room);
    if (until !== undefined && until > Date.now()) return Promise.resolve(undefined);
    return this.readRecord(room);
  }

  /** `room` was reset (here, or another relay said so): it is no link room. */
  forget(room: string): void {
    this.linkRooms.delete(room);
  }

  private async readRecord(room: string): Promise<PgPrivateRecord | undefined> {
    const cached = this.cache.get(room);
    const last = cached?.epochs[cached.epochs.length - 1];
    // One round trip: the room's row, and the epochs the cache lacks if its generation holds.
    const rows = await this.db.query<{ owner: Buffer; generation: string; current: string } & Partial<EpochRow>>(
      `SELECT p.owner, p.generation, p.epoch AS current, e.epoch, e.auth, e.seq, e.ts, e.id
       FROM smc_private_rooms p
       LEFT JOIN smc_private_epochs e ON e.room = p.room AND p.generation = $2 AND e.epoch > $3
       WHERE p.room = $1 ORDER BY e.epoch`,
      [room, cached?.generation ?? -1, last?.epoch ?? -1],
    );
    const head = rows[0];
    if (head === undefined) {
      this.cache.delete(room);
      this.linkRooms.delete(room);
      this.linkRooms.set(room, Date.now() + LINK_ROOM_MS);
      if (this.linkRooms.size > LINK_ROOMS) {
        const oldest = this.linkRooms.keys().next().value;
        if (oldest !== undefined) this.linkRooms.delete(oldest);
      }
      return undefined;
    }
    const generation = Number(head.generation);
    const current = Number(head.current);
    let rec: PgPrivateRecord;
    if (cached !== undefined && generation === cached.generation) {
      const fresh = rows.filter((r) => r.epoch !== null && r.epoch !== undefined).map((r) => epochOf(r as EpochRow));
      const epochs = fresh.length === 0 ? cached.epochs : [...cached.epochs, ...fresh].slice(-MAX_EPOCHS);
      rec = { owner: cached.owner, generation, epochs };
    } else {
      const all = await this.db.query<EpochRow>(
        'SELECT epoch, auth, seq, ts, id FROM smc_private_epochs WHERE room = $1 ORDER BY epoch',
        [room],
      );
      rec = { owner: head.owner, generation, epochs: all.map(epochOf) };
    }
    if (rec.epochs.length === 0) return undefined;
    // A commit or reset between the two reads of a whole record: it is newer than `head` said,
    // consistent in itself (one snapshot of the epochs), but not cached under that generation.
    if (rec.epochs[rec.epochs.length - 1]?.epoch === current) this.remember(room, rec);
    else this.cache.delete(room);
    return rec;
  }

  /**
   * §3.6 reset (the relay checked the signature), or with `refuse` > 0 a repair: see
   * smc_private_reset (schema.ts).
   */
  async reset(room: string, owner: Buffer, epoch: number, authPub: Buffer, refuse: number): Promise<{ result: ResetResult; generation: number }> {
    const rows = await this.db.query<{ outcome: string; seq: string; generation: string }>(
      'SELECT outcome, seq, generation FROM smc_private_reset($1, $2, $3, $4, $5)',
      [room, owner, epoch, authPub, refuse],
    );
    const row = rows[0];
    const generation = Number(row?.generation ?? 0);
    if (row?.outcome === 'owner' || row?.outcome === 'stale') return { result: { ok: false, reason: row.outcome }, generation };
    if (row?.outcome !== 'ok') throw new Error('the database did not answer the reset');
    this.cache.delete(room);
    this.forget(room);
    return { result: { ok: true, seq: Number(row.seq) }, generation };
  }

  private remember(room: string, rec: PgPrivateRecord): void {
    this.cache.delete(room);
    this.cache.set(room, rec);
    if (this.cache.size > CACHED_ROOMS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
