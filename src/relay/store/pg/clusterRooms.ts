// The rooms of a relay in a cluster (issue 9): what the relay does differently when several
// relays on one PostgreSQL database serve the same rooms. The relay keeps its rooms (the members
// connected to it, their sids, the frames held back for members catching up) and this adapter
// connects them to the cluster store, through a sink the relay's protocol layer implements:
// - fan-out comes from the store's feed, never from the ack: every message stored by any relay
//   reaches this relay's members once and in seq order (docs/protocol.md §1.5), the sender excepted
//   (it gets the ack; the feed names it as the message's origin);
// - a member enters a room only once the room's feed has a position (`enter`), and that position
//   is the `head` of its `joined` (§1.4): everything above it comes live, everything at or below
//   it is the catch-up's;
// - presence lists the members of every live relay (§1.4): a join or leave here is written to the
//   database, the database rings every relay's doorbell (this one's too), and each relay lists the
//   room and sends the frame to its own members. One listing per room at a time; changes that
//   arrive meanwhile cause one listing more, so a burst of joins costs a few queries, not one each;
// - ephemeral messages (§1.5, typing) go to this relay's members at once (the relay does that)
//   and to the others' through a NOTIFY (ephemeral.ts), best effort as they are on one relay;
// - private rooms (§3.6) keep their records in the database (privateRooms.ts); a commit stored
//   by any relay reaches every relay's feed with its epoch, and each relay sends it to its
//   members and then `rekey`s them; a reset on one relay rekeys the others' members (NOTIFY,
//   and the feed's poll for one missed). A join is checked against a record no older than what
//   this relay's feed has delivered (privateRoom below), so that a join racing a commit on
//   another relay never stays in the room under the key of an epoch that ended.
import { LIMITS } from '../../../core/wire/frames';
import type { RoomPeer } from '../../room';
import type { RoomLog } from '../distributed';
import type { CommitResult, EpochKey, PrivateRoomRecord, PrivateRoomStore } from '../types';
import type { AppendResult, ClusterStore, RoomPresence, StoredMessage } from './types';

/** How long a join or commit of a private room waits for this relay's feed to catch up. */
const FEED_WAIT_MS = 10_000;
/** Records read again at most for one join while the room keeps changing under it. */
const MAX_REREADS = 8;

/**
 * Where the adapter hands what the relay's members must get: the relay's protocol layer, which
 * owns the rooms, encodes the frames once per room and writes them to its members.
 */
export interface ClusterSink {
  /**
   * A stored message of a watched room, in seq order: to every member here but `origin`; a
   * private room's commit carries the epoch it began (§3.6).
   */
  publish(room: string, seq: number, ts: number, id: string, body: string, origin: RoomPeer | undefined, epoch?: number): void;
  /**
   * §3.6: the room's key changed (a commit at `seq` began `epoch`, or a reset): every member
   * here but `except` gets `rekey` and is no longer in the room.
   */
  rekey(room: string, epoch: number, seq: number, except: RoomPeer | undefined): void;
  /** An ephemeral message another relay received: to every member here. */
  publishEphemeral(room: string, id: string, body: string): void;
  /** The members of `room` on every relay (§1.4): the presence frame for the members here. */
  presence(room: string, presence: RoomPresence): void;
  /** Whether `room` has members on this relay (else nothing is listed for it). */
  hasMembers(room: string): boolean;
}

export interface ClusterRoomsOptions {
  log: (event: string, fields: Record<string, unknown>) => void;
}

export class ClusterRooms {
  /** Rooms whose presence is being listed now; `again`: a change arrived meanwhile. */
  private readonly listing = new Map<string, { again: boolean }>();
  private sink: ClusterSink | undefined;
  private closed = false;
  /** The log as the relay's replies read it (catch-up and history). */
  readonly log: RoomLog;
  /** Presence listings that failed (the database away): for tests and operators. */
  presenceFailures = 0;

  /** §3.6: the private rooms of the cluster, as the relay's private-room handlers use them. */
  readonly privateRooms: PrivateRoomStore<RoomPeer>;

  constructor(readonly store: ClusterStore<RoomPeer>, private readonly options: ClusterRoomsOptions) {
    store.on('message', (m) => {
      this.sink?.publish(m.room, m.seq, m.ts, m.id, m.body, m.origin, m.epoch);
      // §3.6: right after the commit, every member here is rekeyed. The sender (`origin`, when
      // this relay stored it) gets its ack first, then its rekey (privateRooms.ts commitPrivate).
      if (m.epoch !== undefined) this.sink?.rekey(m.room, m.epoch, m.seq, m.origin);
    });
    store.on('reset', (r) => this.sink?.rekey(r.room, r.epoch, r.seq, undefined));
    this.privateRooms = {
      privateRoom: (room) => this.privateRoom(room),
      resetPrivateRoom: (room, owner, epoch, authPub, refuse) => store.resetPrivateRoom(room, owner, epoch, authPub, refuse),
      appendCommit: (room, id, body, epoch, authPub, origin) => this.appendCommit(room, id, body, epoch, authPub, origin),
    };
    store.on('presence', (room) => this.relist(room));
    store.on('ephemeral', (m) => this.sink?.publishEphemeral(m.room, m.id, m.body));
    this.log = {
      head: (room: string) => store.cursor(room),
      oldest: (room: string) => store.oldest(room),
      range: (room: string, after: number, before: number, limit: number): Promise<StoredMessage[]> => store.range(room, after, before, limit),
    };
  }

  /** The relay's protocol layer, once (before `open`). */
  attach(sink: ClusterSink): void {
    if (this.sink !== undefined) throw new Error('ClusterRooms is attached already');
    this.sink = sink;
  }

  open(): Promise<void> {
    return this.store.open();
  }

  /**
   * Stores a message sent by `origin` (one of this relay's connections). The relay acks when it
   * resolves and fans out nothing itself: the feed publishes the message to the room's other
   * members, on every relay.
   */
  append(room: string, id: string, body: string, origin: RoomPeer): Promise<AppendResult> {
    return this.store.append(room, id, body, origin);
  }

  /**
   * An ephemeral message (§1.5): the relay delivers it to its own members; this passes it to the
   * other relays through the database (best effort, as ephemeral messages are).
   */
  ephemeral(room: string, id: string, body: string): void {
    this.store.publishEphemeral(room, id, body);
  }

  /**
   * Call before a connection becomes a member of `room` (not for a join again): resolves once
   * the room's feed has a position, so that `head(room)` can be read. Each `enter` that resolved
   * needs one `exit`; one that rejected (the database away) needs none.
   */
  enter(room: string): Promise<void> {
    return this.store.watch(room);
  }

  /** The head to announce in `joined` and to page history from: what the feed has delivered. */
  head(room: string): number {
    return this.store.cursor(room);
  }

  /** The member `sid` of this relay is in `room` with `tag` (a join, or a join again). */
  present(room: string, sid: string, tag: string | undefined): void {
    this.store.setPresence(room, sid, tag);
  }

  /**
   * The member `sid` left `room` (a leave, or its connection closed): the pair of an `enter`.
   * `sid` is undefined when the connection closed between `enter` and becoming a member.
   */
  exit(room: string, sid: string | undefined): void {
    if (sid !== undefined) this.store.removePresence(room, sid);
    this.store.unwatch(room);
  }

  /**
   * §3.6: the record a join (or commit) is checked against. The relay admits a join under the
   * current epoch's key and puts the member in the room with no wait in between; the record
   * read must therefore be no older than what this relay's feed has delivered, or a commit that
   * the feed delivered (and rekeyed for) meanwhile would leave this member in the room under the
   * key it ended. So: watch the room (kept until the join has entered, below), let the feed
   * deliver up to the record's newest epoch, and read again while the feed has seen a newer
   * commit or reset than the record. From here to the member's entry the relay runs no I/O,
   * so nothing the feed delivers can come in between.
   */
  private async privateRoom(room: string): Promise<PrivateRoomRecord | undefined> {
    let rec = await this.store.privateRoom(room);
    if (rec === undefined) return undefined;
    await this.store.watch(room);
    try {
      for (let reads = 1; ; reads++) {
        const current = rec.epochs[rec.epochs.length - 1] as EpochKey;
        // A reset this relay had not heard of (its NOTIFY missed): the members here are rekeyed.
        if (this.store.raiseGeneration(room, rec.generation)) this.sink?.rekey(room, current.epoch, current.seq, undefined);
        await this.store.reach(room, current.seq, FEED_WAIT_MS);
        const seen = this.store.privateState(room);
        if (seen === undefined || (seen.commitSeq <= current.seq && seen.generation <= rec.generation)) return rec;
        if (reads >= MAX_REREADS) throw new Error(`the private room ${room} changed ${reads} times while a join was checked`);
        rec = await this.store.privateRoom(room);
        if (rec === undefined) return undefined;
      }
    } finally {
      // After the join that asked has entered (its remaining steps run no I/O): a room with no
      // other watcher here would otherwise be dropped and read again at the entry.
      setImmediate(() => this.store.unwatch(room));
    }
  }

  /**
   * §3.6 commit through the group commit. Resolves once this relay's feed has delivered it (to
   * the other members here, then their rekey), so that the relay's ack and the sender's rekey
   * come after, as on one relay.
   */
  private async appendCommit(room: string, id: string, body: string, epoch: number, authPub: Buffer, origin: RoomPeer | undefined): Promise<CommitResult> {
    const result = await this.store.appendCommit(room, id, body, epoch, authPub, origin);
    // Stored: answer even if the feed is held up (the database away): an ack and the sender's
    // rekey then come before the others get the commit, rather than no ack for what is stored.
    if (!result.stale && !result.duplicate) await this.store.reach(room, result.seq, FEED_WAIT_MS).catch(() => undefined);
    return result;
  }

  /** Lists `room` and hands the members to the sink; coalesced per room. */
  private relist(roomId: string): void {
    if (this.closed) return;
    const running = this.listing.get(roomId);
    if (running !== undefined) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.listing.set(roomId, state);
    void (async () => {
      try {
        do {
          state.again = false;
          if (this.sink === undefined || !this.sink.hasMembers(roomId)) break;
          const presence = await this.store.presence(roomId, LIMITS.maxPresenceMembers);
          if (this.closed || !this.sink.hasMembers(roomId)) break;
          this.sink.presence(roomId, presence);
        } while (state.again);
      } catch (err) {
        // The database is away: presence is written again and every room rung when it is back.
        this.presenceFailures++;
        this.options.log('pg.presence_list_failed', { room: roomId, error: err instanceof Error ? err.message : String(err) });
      } finally {
        this.listing.delete(roomId);
      }
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.store.close();
  }
}
