// The relay's protocol layer (docs/protocol.md §1.3-§1.7, §1.9): the frame handlers. Each
// connection has one Session, which alone holds and changes that connection's protocol state
// (hello received, bye sent, rooms joined, rate buckets, the join challenge); RelayProtocol
// holds what sessions share (the rooms, presence, join proofs per address, appends in flight)
// and the one place where a stored message fans out to a room.
//
// Roles after ws: RelayServer (server.ts) is the WebSocketServer (lifecycle, admission,
// sweeping), Connection (connection.ts) the Receiver/Sender pair (lines in, bytes out, flow
// control), and a Session what ws's WebSocket adds on top: the protocol of one peer. A Session
// sees its connection only through SessionLink, so it runs over a scripted link in tests.
//
// The store is reached in three places that a store on a distributed engine (several relays
// on one database) changes: the head taken when a member enters a room (enter), the head and
// oldest seq a history page is computed from (history), and the fan-out of a stored message
// (publish), which such a store calls from its feed of every relay's messages instead of from
// the append.
import type { FrameDecodeError } from '../core/wire/codec';
import {
  ERROR_CODES, LIMITS, SUPPORTED_VERSIONS,
  type AdminFrame, type ErrorCode, type HelloFrame, type HistoryFrame, type JoinFrame, type LeaveFrame, type SendFrame,
} from '../core/wire/frames';
import { commitPrivate, joinPrivate, privateRoomStoreOf, readOnlyHistory, resetPrivate, type PrivateSession } from './privateRooms';
import {
  encodeAck, encodeBye, encodeEphemeralMsg, encodeError, encodeJoined, encodeLeft, encodePage, encodePong,
  encodePresence, encodeRekey, encodeStoredMsg, encodeSynced, encodeWelcome,
} from '../core/wire/relayFrames';
import { parseClientFrame } from '../core/wire/validate';
import { generateChallenge, verifyJoinProof } from '../core/crypto/roomAuth';
import type { AdminToken } from './adminToken';
import type { RelayLogger } from './log';
import { DEFAULT_RELAY_OPTIONS, type RelayOptions } from './options';
import { PresenceCoalescer } from './presence';
import { RoomQuota } from './roomQuota';
import { KeyedBuckets, TokenBucket } from './rateLimiter';
import { streamNewest, type ReplyBudget, type ReplyResult, type ReplyTarget } from './replyReader';
import { Room, holdBack, releaseHeld, type Member, type RoomPeer } from './room';
import type { RoomLog } from './store/distributed';
import { ClusterRooms } from './store/pg/clusterRooms';
import { StoreBusyError, type RoomPresence } from './store/pg/types';
import type { AppendResult, MessageStore } from './store/types';

/**
 * Join proofs a connection may have checked (§1.9): each costs one Ed25519 verification, 0.1 to
 * 0.4 ms of the event loop, so a burst of 40 (a client joins at most 32 rooms, and re-joins a
 * few when it resyncs), then 8 a second. Past it a join gets `rate_limited` (open) and is not
 * processed, as a send would; the client retries it later.
 */
export const JOIN_PROOF_RATE = 8;
export const JOIN_PROOF_BURST = 40;
/**
 * The same, per remote address and across connections (`--join-rate-per-ip`, default 32/s,
 * burst this many times the rate): without it, a stranger who reconnects gets a fresh bucket
 * each time (2 500 checks a second from one address in an attack). A team behind one NAT
 * re-joining after a relay restart (30 people × 8 rooms) fits in the default burst of 256.
 */
export const JOIN_PROOF_BURST_PER_RATE = 8;

/** §1.7: every connection gets the same line when the relay stops. */
const BYE_SHUTDOWN = encodeBye('shutdown');

/** What a session needs from its connection (Connection; a scripted link in tests). */
export interface SessionLink extends RoomPeer, ReplyTarget {
  readonly id: number;
  /** "1.2.3.4:5" or "[::1]:5", for logs. */
  readonly address: string;
  readonly remoteIp: string;
  /** Closes after what is queued is flushed. */
  end(reason: string): void;
  /**
   * `work` answers a frame without holding the frames behind it (a send waiting to be
   * durable): a peer that half-closed is ended only once it settled, so it gets every answer.
   */
  track(work: Promise<unknown>): void;
}

export type ProtocolOptions = Pick<
  RelayOptions, 'maxFrame' | 'maxOutput' | 'rate' | 'burst' | 'joinRatePerIp' | 'allowV1Joins'
> & Partial<Pick<RelayOptions, 'roomBytes'>>;

export interface ProtocolDeps {
  /** The embedded store, or the rooms of a relay in a cluster (issue 9, store/pg/clusterRooms.ts). */
  store: MessageStore | ClusterRooms;
  log: RelayLogger;
  adminToken: AdminToken;
  /** `agent` in `welcome`, e.g. "smc-relay/0.1.0". */
  agent: string;
  /** The relay's global output budget, which reply streams reserve from (outputBudget.ts). */
  budget: ReplyBudget;
  /** An admin asked the relay to stop (§1.7). */
  shutdown(reason: string): void;
}

/** What the sessions of one relay share. */
export class RelayProtocol {
  private readonly rooms = new Map<string, Room>();
  /** Each connection's session, so that a §3.6 rekey can end memberships. */
  private readonly sessions = new Map<RoomPeer, Session>();
  private readonly presence: PresenceCoalescer;
  /** §1.9: join proofs checked per remote address, across its connections. */
  private readonly joinProofsByAddress: KeyedBuckets;
  /** §1.7 `room_quota`: the bytes each room may still store this hour. */
  readonly roomQuota: RoomQuota;
  private appendsInFlight = 0;
  private appendsDrained: (() => void) | undefined;
  /**
   * In a cluster: stored messages fan out from the store's feed (every relay's, in seq order),
   * not from the ack, and presence lists every relay's members.
   */
  private readonly cluster: ClusterRooms | undefined;
  /** What catch-up and history read (head, oldest, range). */
  readonly log: RoomLog;

  constructor(
    readonly options: ProtocolOptions,
    readonly deps: ProtocolDeps,
  ) {
    this.cluster = deps.store instanceof ClusterRooms ? deps.store : undefined;
    this.log = deps.store instanceof ClusterRooms ? deps.store.log : deps.store;
    this.cluster?.attach({
      publish: (room, seq, ts, id, body, origin, epoch) => this.publish(room, seq, ts, id, body, origin, epoch),
      rekey: (room, epoch, seq, except) => this.rekey(room, epoch, seq, except),
      publishEphemeral: (room, id, body) => this.rooms.get(room)?.fanOut(Buffer.from(encodeEphemeralMsg(room, id, body)), undefined),
      presence: (room, presence) => this.clusterPresence(room, presence),
      hasMembers: (room) => (this.rooms.get(room)?.size ?? 0) > 0,
    });
    this.presence = new PresenceCoalescer(options.maxFrame);
    this.joinProofsByAddress = new KeyedBuckets(options.joinRatePerIp, JOIN_PROOF_BURST_PER_RATE * options.joinRatePerIp);
    this.roomQuota = new RoomQuota(options.roomBytes ?? DEFAULT_RELAY_OPTIONS.roomBytes);
  }

  /** A new connection's session (before its hello). */
  open(link: SessionLink, now: number): Session {
    const session = new Session(this, link, now);
    this.sessions.set(link, session);
    return session;
  }

  /** The connection closed. */
  forget(link: RoomPeer): void {
    this.sessions.delete(link);
  }

  /**
   * §3.6: the room's key changed (a commit at `seq` began `epoch`, or a reset): every member,
   * the sender included, gets `rekey` after what it was sent before, and is no longer in the room.
   * `except` (a cluster's feed, for the sender of a commit this relay stored): not yet, it gets
   * its ack first and its rekey after (privateRooms.ts commitPrivate).
   */
  rekey(roomId: string, epoch: number, seq: number, except?: RoomPeer): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.fanOut(Buffer.from(encodeRekey({ t: 'rekey', room: roomId, epoch, seq })), except);
    for (const peer of [...room.members.keys()]) if (peer !== except) this.sessions.get(peer)?.endMembership(roomId);
  }

  /** Sends that are not yet durable, on every connection (for the shutdown log). */
  get inflight(): number {
    return this.appendsInFlight;
  }

  /** Resolves once no send waits for the store (§1.7 shutdown: durable writes finish first). */
  settled(): Promise<void> {
    if (this.appendsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.appendsDrained = resolve;
    });
  }

  /** From the relay's sweeper: forgets the per-address buckets that have refilled. */
  sweep(now: number): void {
    this.joinProofsByAddress.sweep(now);
  }

  /** The relay stopped: no more presence frames. */
  dispose(): void {
    this.presence.dispose();
  }

  // ---- for sessions ---------------------------------------------------------------------

  /** §1.9: one more join proof from `ip` may be checked now. */
  takeJoinProof(ip: string, now: number): boolean {
    return this.joinProofsByAddress.take(ip, now);
  }

  /** Whether stored messages fan out from the store's feed (a cluster) rather than from the ack. */
  get publishesFromStore(): boolean {
    return this.cluster !== undefined;
  }

  /**
   * In a cluster, before `peer` enters `roomId` (not for a join again): resolves once the
   * room's feed has a position to take the head from; undefined when nothing is to wait for.
   */
  beforeEnter(roomId: string): Promise<void> | undefined {
    return this.cluster?.enter(roomId);
  }

  /** The connection closed while waiting for beforeEnter: the pair of that enter. */
  abandonEnter(roomId: string): void {
    this.cluster?.exit(roomId, undefined);
  }

  /**
   * Puts `peer` in the room (again: same sid, §1.4) with `tag` and takes the room's head, in
   * one step with no message in between: from here until releaseHeld, frames for the member
   * are held back, except stored messages up to that head, which its catch-up carries.
   */
  enter(roomId: string, peer: RoomPeer, tag: string | undefined): { room: Room; member: Member; head: number } {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new Room(roomId);
      this.rooms.set(roomId, room);
    }
    const { member } = room.add(peer);
    member.tag = tag;
    const head = this.log.head(roomId);
    holdBack(member, head);
    // In a cluster the store lists presence for every relay and rings each (this one too).
    this.cluster?.present(roomId, member.sid, tag);
    return { room, member, head };
  }

  /** §1.4: the members of `room` changed; they get a presence frame soon. */
  membershipChanged(room: Room): void {
    if (this.cluster === undefined) this.presence.mark(room);
  }

  leave(roomId: string, peer: RoomPeer): void {
    const room = this.rooms.get(roomId);
    const sid = room?.members.get(peer)?.sid;
    if (!room || !room.remove(peer)) return;
    if (this.cluster !== undefined) {
      this.cluster.exit(roomId, sid);
      if (room.size === 0) this.rooms.delete(roomId);
      return;
    }
    if (room.size === 0) {
      this.rooms.delete(roomId);
      this.presence.forget(room);
    } else this.presence.mark(room);
  }

  /**
   * §1.5: stores a message from `origin` durably; the one place where sends reach the store (in a
   * cluster `origin` goes with it: the feed leaves it out of the fan-out).
   */
  append(room: string, id: string, body: string, origin: RoomPeer): Promise<AppendResult> {
    const store = this.deps.store;
    return store instanceof ClusterRooms ? store.append(room, id, body, origin) : store.append(room, id, body);
  }

  /** Counts `work` (a send's handling) as in flight until it settles. */
  track(work: Promise<unknown>): void {
    this.appendsInFlight++;
    const done = (): void => {
      if (--this.appendsInFlight === 0) this.appendsDrained?.();
    };
    work.then(done, done);
  }

  /**
   * §1.5: a stored message goes to every member of its room but `origin` (the sender, which
   * gets the ack), in seq order: encoded once, the same bytes written to every member.
   */
  publish(roomId: string, seq: number, ts: number, id: string, body: string, origin: RoomPeer | undefined, epoch?: number): void {
    const room = this.rooms.get(roomId);
    if (room) room.fanOut(Buffer.from(encodeStoredMsg(roomId, seq, ts, id, body, epoch)), origin, seq);
  }

  /** §1.5 ephemeral: not stored, no seq, to every member but the sender (on every relay). */
  publishEphemeral(roomId: string, id: string, body: string, origin: RoomPeer): void {
    const room = this.rooms.get(roomId);
    if (room) room.fanOut(Buffer.from(encodeEphemeralMsg(roomId, id, body)), origin);
    this.cluster?.ephemeral(roomId, id, body);
  }

  /** §1.4 in a cluster: the members of every relay, to the members here. */
  private clusterPresence(roomId: string, presence: RoomPresence): void {
    const room = this.rooms.get(roomId);
    if (room) room.fanOut(Buffer.from(encodePresence(roomId, presence.online, presence.members, this.options.maxFrame)), undefined);
  }

  /** §1.4/§1.6 reply messages, streamed as the connection drains (replyReader.ts). */
  streamReply(
    target: ReplyTarget, room: string, after: number, before: number, limit: number, stillWanted: () => boolean,
  ): Promise<ReplyResult> {
    return streamNewest(this.log, room, after, before, limit, target, this.deps.budget, this.options.maxFrame, this.options.maxOutput, stillWanted);
  }
}

/** The protocol state of one connection, and the handlers of its frames. */
export class Session implements PrivateSession {
  private helloedValue = false;
  /** §1.9: the challenge sent in this connection's welcome (empty before hello). */
  challenge = '';
  /** `bye` was sent (§1.7): later frames get `shutting_down`. */
  private byeSent = false;
  /** Rooms joined, by room id. */
  private readonly rooms = new Map<string, Member>();
  /** §3.6: members that got `rekey` while a reply streamed; they leave once it is written. */
  private readonly rekeyed = new Set<Member>();
  /** §3.6: rooms joined read-only with an older epoch's key, and the last seq they may read. */
  readonly readOnly = new Map<string, number>();
  /** §1.7: sends per second. */
  private readonly sendBucket: TokenBucket;
  /** §1.9: bounds the signature checks this connection can make the relay do. */
  private readonly joinProofBucket: TokenBucket;
  private rateLimitedCount = 0;

  constructor(
    readonly relay: RelayProtocol,
    readonly link: SessionLink,
    now: number,
  ) {
    this.sendBucket = new TokenBucket(relay.options.rate, relay.options.burst, now);
    this.joinProofBucket = new TokenBucket(JOIN_PROOF_RATE, JOIN_PROOF_BURST, now);
  }

  /** A `hello` was accepted (§1.3): the hello timeout no longer applies. */
  get helloed(): boolean {
    return this.helloedValue;
  }

  /** Sends refused with room_quota (the first is logged). */
  private roomQuotaCount = 0;
  /** Frames refused with rate_limited (for the connection's log line). */
  get rateLimited(): number {
    return this.rateLimitedCount;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** §1.7 shutdown: `bye`; frames after it get `shutting_down`. */
  bye(): void {
    this.byeSent = true;
    this.link.write(BYE_SHUTDOWN);
  }

  /** The connection closed: it leaves every room (§1.4). Returns how many it was in. */
  close(): number {
    this.relay.forget(this.link);
    for (const roomId of this.rooms.keys()) this.relay.leave(roomId, this.link);
    const count = this.rooms.size;
    this.rooms.clear();
    return count;
  }

  /** The decoder gave up (§1.1): the error, then close. */
  onDecodeError(code: FrameDecodeError): void {
    this.relay.deps.log.info('protocol_error', { conn: this.link.id, addr: this.link.address, code });
    const message = code === 'frame_too_large'
      ? `line longer than maxFrame (${this.relay.options.maxFrame} bytes)`
      : 'line is not valid UTF-8';
    this.sendError(code, message, undefined, true);
  }

  /**
   * One line from the client. A returned promise holds the connection's later lines until it
   * settles (Connection). A bug in a handler costs one request, not the relay: `internal`,
   * logged (§1.7).
   */
  onLine(line: string): void | Promise<void> {
    try {
      return this.handleLine(line);
    } catch (err) {
      this.relay.deps.log.error('internal_error', { conn: this.link.id, error: errorText(err) });
      this.sendError('internal', 'the relay failed to handle this frame', undefined, false);
    }
  }

  private handleLine(line: string): void | Promise<void> {
    const parsed = parseClientFrame(line, this.relay.options.maxFrame);
    // §1.7: frames received after `bye` get shutting_down and are not processed.
    if (this.byeSent) {
      this.sendError('shutting_down', 'the relay is stopping', parsed.ok ? parsed.frame.rid : parsed.rid, true);
      return;
    }
    if (!parsed.ok) {
      // §1.3: before hello, anything but a (well-formed enough) hello is hello_required.
      if (!this.helloedValue && parsed.code !== 'bad_frame' && parsed.t !== 'hello') {
        return this.fail('hello_required', 'the first frame must be hello', parsed.rid);
      }
      return this.fail(parsed.code, parsed.message, parsed.rid);
    }
    const frame = parsed.frame;
    if (!this.helloedValue) {
      if (frame.t !== 'hello') return this.fail('hello_required', 'the first frame must be hello', frame.rid);
      return this.hello(frame);
    }
    switch (frame.t) {
      case 'hello':
        return this.fail('bad_request', 'hello was already received', frame.rid);
      case 'ping':
        this.link.write(encodePong(frame.rid));
        return;
      case 'join':
        return this.join(frame);
      case 'leave':
        return this.leave(frame);
      case 'send':
        return this.send(frame);
      case 'history':
        return this.history(frame);
      case 'admin':
        return this.admin(frame);
      case 'reset':
        return resetPrivate(this, frame);
    }
  }

  /** §1.3. */
  private hello(frame: HelloFrame): void {
    if (!SUPPORTED_VERSIONS.includes(frame.v)) {
      return this.fail('unsupported_version', `this relay speaks protocol versions ${SUPPORTED_VERSIONS.join(' and ')}`, frame.rid);
    }
    this.helloedValue = true;
    // §1.9: the challenge that this connection's join proofs sign; fresh per connection so
    // that a proof seen on the wire cannot be replayed on another connection.
    this.challenge = generateChallenge();
    this.link.write(encodeWelcome({
      t: 'welcome', rid: frame.rid, v: frame.v, agent: this.relay.deps.agent, maxFrame: this.relay.options.maxFrame,
      time: Date.now(), challenge: this.challenge,
    }));
  }

  // ---- rooms (§1.4) -----------------------------------------------------------------------

  private join(frame: JoinFrame): void | Promise<void> {
    // §3.6: a private room's joins are checked under its stored epoch keys (privateRooms.ts).
    const privateRooms = privateRoomStoreOf(this.relay);
    if (privateRooms === undefined) return this.joinLink(frame);
    return privateRooms.privateRoom(frame.room).then(
      (rec) => (rec === undefined ? this.joinLink(frame) : joinPrivate(this, frame, rec)),
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        this.sendError('internal', 'could not read the room\'s record', frame.rid, false);
      },
    );
  }

  /** §1.9 and the rate of proof checks: one more signature check, or `rate_limited` (answered). */
  takeProofCheck(rid: number | undefined, what: string): boolean {
    const log = this.relay.deps.log;
    const link = this.link;
    if (!this.joinProofBucket.take(Date.now())) {
      if (this.rateLimitedCount++ === 0) log.info('limit', { limit: 'join_rate', conn: link.id, addr: link.address, what });
      this.fail('rate_limited', `over ${JOIN_PROOF_RATE} signature checks (join proofs, resets, commits) per second; retry later`, rid);
      return false;
    }
    if (!this.relay.takeJoinProof(link.remoteIp, Date.now())) {
      if (this.rateLimitedCount++ === 0) log.info('limit', { limit: 'join_rate_address', conn: link.id, addr: link.address, what });
      this.fail('rate_limited', `over ${this.relay.options.joinRatePerIp} signature checks per second from this address; retry later`, rid);
      return false;
    }
    return true;
  }

  /** `work` answers a frame without holding later ones; shutdown waits for it (§1.7). */
  track(work: Promise<unknown>): void {
    this.link.track(work);
    this.relay.track(work);
  }

  /** §3.6: a rekey ended this connection's membership of `roomId` (RelayProtocol.rekey). */
  endMembership(roomId: string): void {
    const member = this.rooms.get(roomId);
    if (member === undefined) return;
    this.relay.leave(roomId, this.link);
    // A reply still streaming (catch-up, history) finishes first: its frames, then the rekey.
    if (member.held === null) this.rooms.delete(roomId);
    else this.rekeyed.add(member);
  }

  dropMembership(roomId: string): void {
    this.readOnly.delete(roomId);
    if (!this.rooms.has(roomId)) return;
    this.rooms.delete(roomId);
    this.relay.leave(roomId, this.link);
  }

  /** The room's member, unless a rekey ended it (§3.6). */
  private memberOf(roomId: string): Member | undefined {
    const member = this.rooms.get(roomId);
    return member === undefined || this.rekeyed.has(member) ? undefined : member;
  }

  /** After a held reply: a member a rekey ended leaves now. */
  private afterRelease(roomId: string, member: Member): void {
    if (!this.rekeyed.delete(member)) return;
    if (this.rooms.get(roomId) === member) this.rooms.delete(roomId);
  }

  private joinLink(frame: JoinFrame): void | Promise<void> {
    const log = this.relay.deps.log;
    const link = this.link;
    // §1.9: only a holder of the room key may join, so only a member can send or read history
    // (both need the room joined). One signature check per join; a join that carries a proof is
    // always checked, even with --allow-v1-joins. A refused join changes nothing: a connection
    // already in the room stays in it as it was.
    if (frame.auth === undefined || frame.proof === undefined) {
      if (!this.relay.options.allowV1Joins) {
        log.info('join_refused', { conn: link.id, addr: link.address, code: 'auth_required' });
        return this.fail('auth_required', 'this relay needs a join proof (protocol v2, §1.9); update the client', frame.rid);
      }
    } else if (!this.takeProofCheck(frame.rid, 'join')) {
      return;
    } else if (!verifyJoinProof(frame.room, this.challenge, frame.auth, frame.proof)) {
      log.info('join_refused', { conn: link.id, addr: link.address, code: 'auth_failed' });
      return this.fail('auth_failed', 'the join proof does not match this room and connection', frame.rid);
    }
    return this.admit(frame);
  }

  /** §1.4: the proof was checked; enter the room and send its catch-up. */
  admit(frame: JoinFrame, epoch?: number): void | Promise<void> {
    const log = this.relay.deps.log;
    const link = this.link;
    if (!this.rooms.has(frame.room) && this.rooms.size >= LIMITS.maxRoomsPerConnection) {
      log.info('limit', { limit: 'too_many_rooms', conn: link.id, addr: link.address });
      return this.fail('too_many_rooms', `a connection may be in at most ${LIMITS.maxRoomsPerConnection} rooms`, frame.rid);
    }
    // In a cluster a room's feed needs a position before its first member here enters (one
    // read); the later frames of this connection wait for it, as they wait for a catch-up.
    const ready = this.rooms.has(frame.room) ? undefined : this.relay.beforeEnter(frame.room);
    if (ready === undefined) return this.enter(frame, epoch);
    return ready.then(
      () => {
        if (link.closed) {
          this.relay.abandonEnter(frame.room);
          return;
        }
        return this.enter(frame, epoch);
      },
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        if (!link.closed) this.sendError('internal', 'could not read the room\'s head; join again later', frame.rid, false);
      },
    );
  }

  /** The join's second half: the member enters, `joined`, the catch-up, `synced` (§1.4). */
  private enter(frame: JoinFrame, epoch?: number): void | Promise<void> {
    const log = this.relay.deps.log;
    const link = this.link;
    const { room, member, head } = this.relay.enter(frame.room, link, frame.tag);
    this.rekeyed.delete(member);
    this.readOnly.delete(frame.room);
    this.rooms.set(frame.room, member);
    // §3.6: a private room's joined says the relay's current epoch.
    link.write(encodeJoined({ t: 'joined', rid: frame.rid, room: frame.room, head, sid: member.sid, epoch }));
    this.relay.membershipChanged(room);

    const since = frame.since ?? 0;
    const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
    const stillWanted = (): boolean => this.rooms.get(frame.room) === member;
    const finish = (from: number): void => {
      if (link.closed || !stillWanted()) return;
      link.write(encodeSynced({ t: 'synced', rid: frame.rid, room: frame.room, head, from }));
      releaseHeld(member);
      this.afterRelease(frame.room, member);
    };
    if (since >= head || limit === 0) {
      finish(head + 1);
      return;
    }
    return this.relay.streamReply(link, frame.room, since, head + 1, limit, stillWanted).then(
      (reply) => {
        if (link.closed) return;
        finish(reply.count > 0 ? reply.from : head + 1);
      },
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        if (!link.closed) this.sendError('internal', 'could not read the room\'s messages', frame.rid, false);
        finish(head + 1);
      },
    ).catch((err: unknown) => log.error('internal_error', { conn: link.id, error: errorText(err) }));
  }

  private leave(frame: LeaveFrame): void {
    if (this.memberOf(frame.room) === undefined) {
      if (!this.readOnly.delete(frame.room)) return this.fail('not_joined', 'not in this room', frame.rid);
      this.link.write(encodeLeft({ t: 'left', rid: frame.rid, room: frame.room }));
      return;
    }
    this.rooms.delete(frame.room);
    this.relay.leave(frame.room, this.link);
    this.link.write(encodeLeft({ t: 'left', rid: frame.rid, room: frame.room }));
  }

  // ---- messages (§1.5) --------------------------------------------------------------------

  private send(frame: SendFrame): void {
    const link = this.link;
    if (this.memberOf(frame.room) === undefined) return this.fail('not_joined', 'join the room before sending', frame.rid);
    if (!this.sendBucket.take(Date.now())) {
      if (this.rateLimitedCount++ === 0) this.relay.deps.log.info('limit', { limit: 'rate', conn: link.id, addr: link.address });
      return this.fail('rate_limited', `over ${this.relay.options.rate} sends per second; retry later`, frame.rid);
    }
    if (frame.eph) {
      // Not stored, no seq, no dedup (§1.5 ephemeral).
      link.write(encodeAck({ t: 'ack', rid: frame.rid, room: frame.room, id: frame.id }));
      this.relay.publishEphemeral(frame.room, frame.id, frame.body, link);
      return;
    }
    // §1.7: what one room may store, whichever connection sends (the relay cannot read a
    // body, so it bounds bytes); a commit of a private room is stored like any message.
    const now = Date.now();
    if (!this.relay.roomQuota.take(frame.room, frame.body.length, now)) {
      if (this.roomQuotaCount++ === 0) this.relay.deps.log.info('limit', { limit: 'room_quota', conn: link.id, addr: link.address });
      const perHour = this.relay.roomQuota.bytesPerHour;
      const budget = perHour >= 1024 * 1024 ? `${Math.round(perHour / (1024 * 1024))} MiB` : `${perHour} bytes`;
      const secs = Math.ceil(this.relay.roomQuota.waitFor(frame.room, frame.body.length, now) / 1000);
      return this.fail('room_quota', `this room has stored as much as this relay accepts per room (${budget} an hour); room for this message in about ${secs} s`, frame.rid);
    }
    if (frame.epoch !== undefined && frame.next !== undefined && frame.rot !== undefined) {
      return commitPrivate(this, { ...frame, epoch: frame.epoch, next: frame.next, rot: frame.rot });
    }
    const work = this.relay.append(frame.room, frame.id, frame.body, link).then(
      (result) => {
        // Ack only now that the message is durable; forward only a first copy (§1.5). In a
        // cluster the store's feed forwards it (it was published there before this ack).
        link.write(encodeAck({ t: 'ack', rid: frame.rid, room: frame.room, id: frame.id, seq: result.seq, ts: result.ts }));
        if (!result.duplicate && !this.relay.publishesFromStore) this.relay.publish(frame.room, result.seq, result.ts, frame.id, frame.body, link);
      },
      (err: unknown) => {
        this.storeError('append_failed', frame.room, err);
        this.sendError('internal', err instanceof StoreBusyError
          ? 'the relay is busy storing other messages; send it again later'
          : 'the relay could not store the message; send it again later', frame.rid, false);
      },
    ).catch((err: unknown) => {
      this.relay.deps.log.error('internal_error', { conn: link.id, error: errorText(err) });
    });
    link.track(work);
    this.relay.track(work);
  }

  // ---- history (§1.6) ---------------------------------------------------------------------

  private history(frame: HistoryFrame): void | Promise<void> {
    const link = this.link;
    const member = this.memberOf(frame.room);
    if (member === undefined) {
      // §3.6: after a read-only join with an older epoch's key, history up to that epoch's end.
      const until = this.readOnly.get(frame.room);
      if (until !== undefined) return readOnlyHistory(this, frame, until);
      return this.fail('not_joined', 'join the room before asking for history', frame.rid);
    }
    const store = this.relay.log;
    const head = store.head(frame.room);
    const before = frame.before ?? head + 1;
    const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
    const writePage = (from: number, to: number, oldest: number): void => {
      // §1.6: more = stored messages older than `from` remain (none sent: older than `before`).
      const more = from > 0 ? oldest < from : oldest <= head && oldest < before;
      link.write(encodePage({ t: 'page', rid: frame.rid, room: frame.room, from, to, more }));
    };
    // The embedded store knows `oldest` at once; a cluster's is read from the database.
    const page = (from: number, to: number): void | Promise<void> => {
      const oldest = store.oldest(frame.room);
      if (typeof oldest === 'number') return writePage(from, to, oldest);
      return oldest.then((o) => {
        if (!link.closed) writePage(from, to, o);
      });
    };
    const pageFailed = (err: unknown): void => {
      this.storeError('read_failed', frame.room, err);
      if (!link.closed) this.sendError('internal', 'could not read the room\'s messages', frame.rid, false);
    };
    if (limit === 0 || before <= 1) {
      return page(0, 0)?.catch(pageFailed);
    }
    // The reply streams over several ticks: live frames of the room wait until after `page`,
    // so that they never land among the page's messages (as when the reply was written at once).
    holdBack(member, 0);
    const stillWanted = (): boolean => this.rooms.get(frame.room) === member;
    const release = (): void => {
      if (link.closed || !stillWanted()) return;
      releaseHeld(member);
      this.afterRelease(frame.room, member);
    };
    return this.relay.streamReply(link, frame.room, 0, before, limit, stillWanted).then(
      (reply) => {
        if (link.closed) return;
        const written = page(reply.count > 0 ? reply.from : 0, reply.count > 0 ? reply.to : 0);
        if (written === undefined) return release();
        return written.then(release, (err: unknown) => {
          pageFailed(err);
          release();
        });
      },
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        this.sendError('internal', 'could not read the room\'s messages', frame.rid, false);
        release();
      },
    ).catch((err: unknown) => this.relay.deps.log.error('internal_error', { conn: link.id, error: errorText(err) }));
  }

  // ---- admin and errors (§1.7) ------------------------------------------------------------

  private admin(frame: AdminFrame): void {
    const { adminToken, log } = this.relay.deps;
    if (!adminToken.matches(frame.token)) {
      log.warn('admin_denied', { conn: this.link.id, addr: this.link.address, enabled: adminToken.enabled });
      return this.fail('bad_request', 'wrong or missing admin token', frame.rid);
    }
    log.info('admin_shutdown', { conn: this.link.id, addr: this.link.address });
    this.relay.deps.shutdown('admin');
  }

  fail(code: ErrorCode, message: string, rid: number | undefined): void {
    const close = ERROR_CODES[code].closes;
    if (close) this.relay.deps.log.info('protocol_error', { conn: this.link.id, addr: this.link.address, code });
    this.sendError(code, message, rid, close);
  }

  /** Sends `error` (§1.7); closes the connection after it when `close`. */
  private sendError(code: ErrorCode, message: string, rid: number | undefined, close: boolean): void {
    this.link.write(encodeError(rid, code, message));
    if (close) this.link.end(code);
  }

  storeError(event: string, room: string, err: unknown): void {
    this.relay.deps.log.error(event, { room, error: errorText(err) });
  }
}

/** An error's code and message, never its data (a store error carries no body, but be sure). */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
