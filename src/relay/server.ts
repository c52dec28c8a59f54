// The relay of PROTOCOL.md §1: accepts TCP connections, speaks the wire protocol, stores
// messages through a MessageStore and fans them out to the members of each room. It never
// holds a key and never looks inside a body or a tag.
//
// States, after ws's WebSocketServer: RUNNING (accepting) → CLOSING (bye sent, durable writes
// finishing, new connections refused) → CLOSED.
import { X509Certificate } from 'node:crypto';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { encodeFrame, type FrameDecodeError } from '../core/wire/codec';
import {
  ERROR_CODES, LIMITS, SUPPORTED_VERSIONS,
  type AdminFrame, type ErrorCode, type HistoryFrame, type JoinFrame, type LeaveFrame, type SendFrame,
} from '../core/wire/frames';
import { generateChallenge, verifyJoinProof } from '../core/crypto/roomAuth';
import { parseClientFrame } from '../core/wire/validate';
import type { MessageStore } from './store/types';
import type { AdminToken } from './adminToken';
import { Connection, JOIN_PROOF_BURST_PER_RATE, JOIN_PROOF_RATE, formatAddress } from './connection';
import { KeyedBuckets } from './rateLimiter';
import type { RelayLogger } from './log';
import type { RelayOptions } from './options';
import { OutputBudget } from './outputBudget';
import { streamNewest, type ReplyResult } from './replyReader';
import { PresenceCoalescer } from './presence';
import { Room, type Member } from './room';

export type RelayState = 'running' | 'closing' | 'closed';

export interface RelayDeps {
  store: MessageStore;
  log: RelayLogger;
  adminToken: AdminToken;
  /** `agent` in `welcome`, e.g. "smc-relay/0.1.0". */
  agent: string;
  /** §1.8: listen with TLS with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
}

/** SHA-256 of a PEM certificate as 64 lowercase hex digits, the form invites pin (§1.8, §2.7). */
export function certificateFingerprint(pem: Buffer): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** A socket we ended and whose peer never closes is destroyed after this long. */
const LINGER_MS = 2_000;
/**
 * While a reply waits for the global output budget, a connection whose output made no
 * progress for this long is closed as a slow reader to make room (outputBudget.ts).
 */
const BUDGET_STALL_MS = 2_000;

export class RelayServer {
  private stateValue: RelayState = 'running';
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly perIp = new Map<string, number>();
  /** §1.9: join proofs checked per remote address, across its connections. */
  private readonly joinProofsByAddress: KeyedBuckets;
  /** Sockets ended with a frame (busy, closed by the relay) that may linger; destroyed later. */
  private readonly lingering = new Set<{ socket: Socket; since: number }>();
  private readonly rooms = new Map<string, Room>();
  private readonly presence: PresenceCoalescer;
  /** Issue 7 §1.2: what all connections together may hold in output (--max-output-total). */
  private readonly outputBudget: OutputBudget;
  private readonly sweeper: NodeJS.Timeout;
  private nextConnectionId = 1;
  private inflight = 0;
  private inflightDrained: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private resolveClosed: () => void = () => {};
  /** Settles once the relay is CLOSED, whatever stopped it (signal, admin, listen failure). */
  readonly closed: Promise<void> = new Promise((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(
    private readonly options: RelayOptions,
    private readonly deps: RelayDeps,
  ) {
    this.presence = new PresenceCoalescer(options.maxFrame);
    this.joinProofsByAddress = new KeyedBuckets(options.joinRatePerIp, JOIN_PROOF_BURST_PER_RATE * options.joinRatePerIp);
    this.outputBudget = new OutputBudget(options.maxOutputTotal, BUDGET_STALL_MS, (holder) => {
      const conn = holder as Connection;
      this.deps.log.warn('limit', {
        limit: 'max_output_total', conn: conn.id, addr: conn.address, queued: conn.accountedBytes, total: this.outputBudget.total,
      });
    });
    if (deps.tls) {
      // The handshake must fit in the hello timeout too (§1.3): a peer that stalls it is dropped.
      const tlsServer = createTlsServer({ cert: deps.tls.cert, key: deps.tls.key, handshakeTimeout: options.helloTimeoutMs, allowHalfOpen: true }, (socket) => this.accept(socket));
      tlsServer.on('tlsClientError', (err, socket) => {
        this.deps.log.info('tls_error', { addr: formatAddress(socket.remoteAddress ?? 'unknown', socket.remotePort), error: err.message });
      });
      this.server = tlsServer;
    } else {
      // allowHalfOpen: a client that sends its last frames and half-closes (`printf … | nc`) still
      // gets every reply, the acks that wait for the disk included (Connection.finishIfDone).
      this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    }
    // One timer for every connection's hello and idle timeouts (§1.3), not one per connection.
    const sweepEvery = Math.max(5, Math.min(1_000, Math.floor(Math.min(options.helloTimeoutMs, options.idleTimeoutMs) / 4)));
    this.sweeper = setInterval(() => this.sweep(), sweepEvery);
    this.sweeper.unref();
  }

  get state(): RelayState {
    return this.stateValue;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Listens; rejects with the listen error (EADDRINUSE, EACCES, ...). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.deps.log.error('server_error', { error: err.message }));
        const address = this.server.address() as AddressInfo;
        this.deps.log.info('listening', {
          host: address.address, port: address.port, tls: this.deps.tls !== undefined,
          fingerprint: this.deps.tls ? certificateFingerprint(this.deps.tls.cert) : undefined,
        });
        resolve(address);
      });
    });
  }

  /**
   * §1.7 shutdown: stop accepting, `bye` to every client, finish durable writes, close. Also
   * closes the store. Resolves when CLOSED, at the latest after `shutdownMs`.
   */
  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stateValue = 'closing';
    this.deps.log.info('shutdown', { reason, conns: this.connections.size, inflight: this.inflight });
    const started = Date.now();
    this.server.close();
    const bye = encodeFrame({ t: 'bye', reason: 'shutdown' });
    for (const conn of this.connections) {
      conn.byeSent = true;
      conn.write(bye);
    }
    const graceful = (async () => {
      await this.inflightSettled();
      for (const conn of [...this.connections]) conn.end('shutdown');
      await this.deps.store.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.deps.log.warn('shutdown_timeout', { ms: this.options.shutdownMs, inflight: this.inflight });
        resolve();
      }, Math.max(0, this.options.shutdownMs - 500));
    });
    this.stopping = Promise.race([graceful, deadline])
      .catch((err: unknown) => {
        this.deps.log.error('shutdown_error', { error: errorText(err) });
      })
      .finally(() => {
        clearTimeout(timer);
        for (const conn of [...this.connections]) conn.abort('shutdown');
        for (const entry of this.lingering) entry.socket.destroy();
        this.lingering.clear();
        clearInterval(this.sweeper);
        this.presence.dispose();
        this.stateValue = 'closed';
        this.deps.log.flush?.();
        this.deps.log.info('stopped', { ms: Date.now() - started });
        this.resolveClosed();
      });
    return this.stopping;
  }

  // ---- connections ------------------------------------------------------------------------

  private accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    const address = formatAddress(ip, socket.remotePort);
    socket.on('error', () => {});
    if (this.stateValue !== 'running') {
      this.refuse(socket, 'shutting_down', 'the relay is stopping');
      return;
    }
    // §1.7 connection limits: server_busy, then close.
    const fromIp = this.perIp.get(ip) ?? 0;
    if (this.connections.size >= this.options.maxConns) {
      this.deps.log.warn('limit', { limit: 'max_conns', addr: address, conns: this.connections.size });
      this.refuse(socket, 'server_busy', 'the relay has too many connections; try again later');
      return;
    }
    if (fromIp >= this.options.maxConnsPerIp) {
      this.deps.log.warn('limit', { limit: 'max_conns_per_ip', addr: address, fromAddr: fromIp });
      this.refuse(socket, 'server_busy', 'too many connections from your address; try again later');
      return;
    }
    const conn = new Connection(this.nextConnectionId++, socket, this.options, {
      line: (c, line) => this.handleLineSafely(c, line),
      decodeError: (c, code) => this.handleDecodeError(c, code),
      closed: (c, reason) => this.forget(c, reason),
    }, Date.now(), this.outputBudget);
    this.connections.add(conn);
    this.perIp.set(ip, fromIp + 1);
    this.deps.log.info('conn_open', { conn: conn.id, addr: conn.address, conns: this.connections.size, fromAddr: fromIp + 1 });
  }

  private refuse(socket: Socket, code: ErrorCode, message: string): void {
    socket.end(encodeFrame({ t: 'error', code, message }));
    this.lingering.add({ socket, since: Date.now() });
  }

  /** Cleanup of a closed connection: its rooms, counts, and the connection log line. */
  private forget(conn: Connection, reason: string): void {
    if (!this.connections.delete(conn)) return;
    const left = (this.perIp.get(conn.remoteIp) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(conn.remoteIp);
    else this.perIp.set(conn.remoteIp, left);
    for (const roomId of conn.rooms.keys()) this.removeMember(roomId, conn);
    const rooms = conn.rooms.size;
    conn.rooms.clear();
    if (conn.endedAt !== 0) this.lingering.add({ socket: conn.socket, since: conn.endedAt });
    if (reason === 'slow_reader') {
      this.deps.log.warn('limit', { limit: 'max_output', conn: conn.id, addr: conn.address, maxOutput: this.options.maxOutput });
    }
    this.deps.log.info('conn_close', {
      conn: conn.id, addr: conn.address, reason, ms: Date.now() - conn.openedAt, rooms,
      rateLimited: conn.rateLimited || undefined, conns: this.connections.size,
    });
  }

  /** §1.3 hello and idle timeouts, and sockets that linger after we ended them. */
  private sweep(): void {
    const now = Date.now();
    for (const conn of this.connections) {
      if (!conn.helloed && now - conn.openedAt >= this.options.helloTimeoutMs) {
        this.deps.log.info('limit', { limit: 'hello_timeout', conn: conn.id, addr: conn.address });
        conn.abort('hello_timeout');
      } else if (now - conn.lastReceived >= this.options.idleTimeoutMs) {
        this.deps.log.info('limit', { limit: 'idle_timeout', conn: conn.id, addr: conn.address });
        conn.abort('idle_timeout');
      }
    }
    this.outputBudget.sweep(now);
    this.joinProofsByAddress.sweep(now);
    for (const entry of this.lingering) {
      if (entry.socket.destroyed) this.lingering.delete(entry);
      else if (now - entry.since >= LINGER_MS) {
        entry.socket.destroy();
        this.lingering.delete(entry);
      }
    }
  }

  // ---- frames -----------------------------------------------------------------------------

  private handleDecodeError(conn: Connection, code: FrameDecodeError): void {
    this.deps.log.info('protocol_error', { conn: conn.id, addr: conn.address, code });
    const message = code === 'frame_too_large'
      ? `line longer than maxFrame (${this.options.maxFrame} bytes)`
      : 'line is not valid UTF-8';
    conn.sendError(code, message, undefined, true);
  }

  /** A bug in a handler must cost one request, not the relay: `internal`, logged (§1.7). */
  private handleLineSafely(conn: Connection, line: string): void | Promise<void> {
    try {
      return this.handleLine(conn, line);
    } catch (err) {
      this.deps.log.error('internal_error', { conn: conn.id, error: errorText(err) });
      conn.sendError('internal', 'the relay failed to handle this frame', undefined, false);
    }
  }

  private handleLine(conn: Connection, line: string): void | Promise<void> {
    const parsed = parseClientFrame(line, this.options.maxFrame);
    // §1.7: frames received after `bye` get shutting_down and are not processed.
    if (conn.byeSent) {
      conn.sendError('shutting_down', 'the relay is stopping', parsed.ok ? parsed.frame.rid : parsed.rid, true);
      return;
    }
    if (!parsed.ok) {
      // §1.3: before hello, anything but a (well-formed enough) hello is hello_required.
      if (!conn.helloed && parsed.code !== 'bad_frame' && parsed.t !== 'hello') {
        return this.fail(conn, 'hello_required', 'the first frame must be hello', parsed.rid);
      }
      return this.fail(conn, parsed.code, parsed.message, parsed.rid);
    }
    const frame = parsed.frame;
    if (!conn.helloed) {
      if (frame.t !== 'hello') return this.fail(conn, 'hello_required', 'the first frame must be hello', frame.rid);
      if (!SUPPORTED_VERSIONS.includes(frame.v)) {
        return this.fail(conn, 'unsupported_version', `this relay speaks protocol versions ${SUPPORTED_VERSIONS.join(' and ')}`, frame.rid);
      }
      conn.helloed = true;
      // §1.9: the challenge that this connection's join proofs sign; fresh per connection so
      // that a proof seen on the wire cannot be replayed on another connection.
      conn.challenge = generateChallenge();
      const welcome: Record<string, unknown> = {
        t: 'welcome', v: frame.v, agent: this.deps.agent, maxFrame: this.options.maxFrame, time: Date.now(),
        challenge: conn.challenge,
      };
      if (frame.rid !== undefined) welcome.rid = frame.rid;
      conn.sendFrame(welcome);
      return;
    }
    switch (frame.t) {
      case 'hello':
        return this.fail(conn, 'bad_request', 'hello was already received', frame.rid);
      case 'ping':
        conn.sendFrame(frame.rid === undefined ? { t: 'pong' } : { t: 'pong', rid: frame.rid });
        return;
      case 'join':
        return this.join(conn, frame);
      case 'leave':
        return this.leave(conn, frame);
      case 'send':
        return this.send(conn, frame);
      case 'history':
        return this.history(conn, frame);
      case 'admin':
        return this.admin(conn, frame);
    }
  }

  private fail(conn: Connection, code: ErrorCode, message: string, rid: number | undefined): void {
    const close = ERROR_CODES[code].closes;
    if (close) this.deps.log.info('protocol_error', { conn: conn.id, addr: conn.address, code });
    conn.sendError(code, message, rid, close);
  }

  // ---- rooms (§1.4) -----------------------------------------------------------------------

  private join(conn: Connection, frame: JoinFrame): void | Promise<void> {
    // §1.9: only a holder of the room key may join, so only a member can send or read history
    // (both need the room joined). One signature check per join; a join that carries a proof is
    // always checked, even with --allow-v1-joins. A refused join changes nothing: a connection
    // already in the room stays in it as it was.
    if (frame.auth === undefined || frame.proof === undefined) {
      if (!this.options.allowV1Joins) {
        this.deps.log.info('join_refused', { conn: conn.id, addr: conn.address, code: 'auth_required' });
        return this.fail(conn, 'auth_required', 'this relay needs a join proof (protocol v2, §1.9); update the client', frame.rid);
      }
    } else if (!conn.joinProofBucket.take(Date.now())) {
      if (conn.rateLimited++ === 0) this.deps.log.info('limit', { limit: 'join_rate', conn: conn.id, addr: conn.address });
      return this.fail(conn, 'rate_limited', `over ${JOIN_PROOF_RATE} join proofs per second; retry later`, frame.rid);
    } else if (!this.joinProofsByAddress.take(conn.remoteIp, Date.now())) {
      if (conn.rateLimited++ === 0) this.deps.log.info('limit', { limit: 'join_rate_address', conn: conn.id, addr: conn.address });
      return this.fail(conn, 'rate_limited', `over ${this.options.joinRatePerIp} join proofs per second from this address; retry later`, frame.rid);
    } else if (!verifyJoinProof(frame.room, conn.challenge, frame.auth, frame.proof)) {
      this.deps.log.info('join_refused', { conn: conn.id, addr: conn.address, code: 'auth_failed' });
      return this.fail(conn, 'auth_failed', 'the join proof does not match this room and connection', frame.rid);
    }
    let room = this.rooms.get(frame.room);
    const already = conn.rooms.has(frame.room);
    if (!already && conn.rooms.size >= LIMITS.maxRoomsPerConnection) {
      this.deps.log.info('limit', { limit: 'too_many_rooms', conn: conn.id, addr: conn.address });
      return this.fail(conn, 'too_many_rooms', `a connection may be in at most ${LIMITS.maxRoomsPerConnection} rooms`, frame.rid);
    }
    if (!room) {
      room = new Room(frame.room);
      this.rooms.set(frame.room, room);
    }
    const { member } = room.add(conn);
    conn.rooms.set(frame.room, member);
    member.tag = frame.tag;
    const head = this.deps.store.head(frame.room);
    // From here until `synced`, fan-out to this member is queued (§1.4).
    member.pending = [];
    member.pendingBytes = 0;
    member.joinHead = head;
    const joined: Record<string, unknown> = { t: 'joined' };
    if (frame.rid !== undefined) joined.rid = frame.rid;
    Object.assign(joined, { room: frame.room, head, sid: member.sid });
    conn.sendFrame(joined);
    this.presence.mark(room);

    const since = frame.since ?? 0;
    const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
    const finish = (from: number): void => {
      if (conn.closed || conn.rooms.get(frame.room) !== member) return;
      const synced: Record<string, unknown> = { t: 'synced' };
      if (frame.rid !== undefined) synced.rid = frame.rid;
      Object.assign(synced, { room: frame.room, head, from });
      conn.sendFrame(synced);
      const queued = member.pending ?? [];
      member.pending = null;
      member.pendingBytes = 0;
      for (const data of queued) conn.write(data);
    };
    if (since >= head || limit === 0) {
      finish(head + 1);
      return;
    }
    return this.streamReply(conn, frame.room, since, head + 1, limit, () => conn.rooms.get(frame.room) === member).then(
      (reply) => {
        if (conn.closed) return;
        finish(reply.count > 0 ? reply.from : head + 1);
      },
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        if (!conn.closed) conn.sendError('internal', 'could not read the room\'s messages', frame.rid, false);
        finish(head + 1);
      },
    ).catch((err: unknown) => this.deps.log.error('internal_error', { conn: conn.id, error: errorText(err) }));
  }

  private leave(conn: Connection, frame: LeaveFrame): void {
    if (!conn.rooms.has(frame.room)) return this.fail(conn, 'not_joined', 'not in this room', frame.rid);
    conn.rooms.delete(frame.room);
    this.removeMember(frame.room, conn);
    conn.sendFrame(frame.rid === undefined ? { t: 'left', room: frame.room } : { t: 'left', rid: frame.rid, room: frame.room });
  }

  private removeMember(roomId: string, conn: Connection): void {
    const room = this.rooms.get(roomId);
    if (!room || !room.remove(conn)) return;
    if (room.size === 0) {
      this.rooms.delete(roomId);
      this.presence.forget(room);
    } else this.presence.mark(room);
  }

  // ---- messages (§1.5) --------------------------------------------------------------------

  private send(conn: Connection, frame: SendFrame): void {
    if (!conn.rooms.has(frame.room)) return this.fail(conn, 'not_joined', 'join the room before sending', frame.rid);
    if (!conn.bucket.take(Date.now())) {
      if (conn.rateLimited++ === 0) this.deps.log.info('limit', { limit: 'rate', conn: conn.id, addr: conn.address });
      return this.fail(conn, 'rate_limited', `over ${this.options.rate} sends per second; retry later`, frame.rid);
    }
    if (frame.eph) {
      // Not stored, no seq, no dedup (§1.5 ephemeral).
      conn.sendFrame(frame.rid === undefined
        ? { t: 'ack', room: frame.room, id: frame.id }
        : { t: 'ack', rid: frame.rid, room: frame.room, id: frame.id });
      this.rooms.get(frame.room)?.deliver(
        Buffer.from(encodeFrame({ t: 'msg', room: frame.room, id: frame.id, body: frame.body, eph: true })), conn);
      return;
    }
    this.inflight++;
    conn.inflight++;
    this.deps.store.append(frame.room, frame.id, frame.body).then(
      (result) => {
        // Ack only now that the message is durable; forward only a first copy (§1.5).
        const ack: Record<string, unknown> = { t: 'ack' };
        if (frame.rid !== undefined) ack.rid = frame.rid;
        Object.assign(ack, { room: frame.room, id: frame.id, seq: result.seq, ts: result.ts });
        conn.sendFrame(ack);
        if (!result.duplicate) {
          // Encoded once per room, the same bytes written to every member (issue 2 §4).
          const msg = Buffer.from(encodeFrame({ t: 'msg', room: frame.room, seq: result.seq, ts: result.ts, id: frame.id, body: frame.body }));
          this.rooms.get(frame.room)?.deliver(msg, conn, result.seq);
        }
      },
      (err: unknown) => {
        this.storeError('append_failed', frame.room, err);
        conn.sendError('internal', 'the relay could not store the message; send it again later', frame.rid, false);
      },
    ).catch((err: unknown) => {
      this.deps.log.error('internal_error', { conn: conn.id, error: errorText(err) });
    }).finally(() => {
      conn.inflight--;
      conn.finishIfDone();
      if (--this.inflight === 0) this.inflightDrained?.();
    });
  }

  private history(conn: Connection, frame: HistoryFrame): void | Promise<void> {
    if (!conn.rooms.has(frame.room)) return this.fail(conn, 'not_joined', 'join the room before asking for history', frame.rid);
    const store = this.deps.store;
    const head = store.head(frame.room);
    const before = frame.before ?? head + 1;
    const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
    const page = (from: number, to: number): void => {
      const oldest = store.oldest(frame.room);
      // §1.6: more = stored messages older than `from` remain (none sent: older than `before`).
      const more = from > 0 ? oldest < from : oldest <= head && oldest < before;
      const reply: Record<string, unknown> = { t: 'page' };
      if (frame.rid !== undefined) reply.rid = frame.rid;
      Object.assign(reply, { room: frame.room, from, to, more });
      conn.sendFrame(reply);
    };
    if (limit === 0 || before <= 1) {
      page(0, 0);
      return;
    }
    // The reply streams over several ticks: live frames of the room wait until after `page`,
    // so that they never land among the page's messages (as when the reply was written at once).
    const member = conn.rooms.get(frame.room) as Member;
    member.pending = [];
    member.pendingBytes = 0;
    member.joinHead = 0;
    const release = (): void => {
      if (conn.closed || conn.rooms.get(frame.room) !== member || member.pending === null) return;
      const queued = member.pending;
      member.pending = null;
      member.pendingBytes = 0;
      for (const data of queued) conn.write(data);
    };
    return this.streamReply(conn, frame.room, 0, before, limit, () => conn.rooms.get(frame.room) === member).then(
      (reply) => {
        if (conn.closed) return;
        page(reply.count > 0 ? reply.from : 0, reply.count > 0 ? reply.to : 0);
        release();
      },
      (err: unknown) => {
        this.storeError('read_failed', frame.room, err);
        conn.sendError('internal', 'could not read the room\'s messages', frame.rid, false);
        release();
      },
    ).catch((err: unknown) => this.deps.log.error('internal_error', { conn: conn.id, error: errorText(err) }));
  }

  /** §1.4/§1.6 reply messages, streamed as the connection drains (replyReader.ts). */
  private streamReply(
    conn: Connection, room: string, after: number, before: number, limit: number, stillWanted: () => boolean,
  ): Promise<ReplyResult> {
    return streamNewest(this.deps.store, room, after, before, limit, conn, this.outputBudget, this.options.maxFrame, this.options.maxOutput, stillWanted);
  }

  // ---- admin and errors (§1.7) ------------------------------------------------------------

  private admin(conn: Connection, frame: AdminFrame): void {
    if (!this.deps.adminToken.matches(frame.token)) {
      this.deps.log.warn('admin_denied', { conn: conn.id, addr: conn.address, enabled: this.deps.adminToken.enabled });
      return this.fail(conn, 'bad_request', 'wrong or missing admin token', frame.rid);
    }
    this.deps.log.info('admin_shutdown', { conn: conn.id, addr: conn.address });
    void this.shutdown('admin');
  }

  private storeError(event: string, room: string, err: unknown): void {
    this.deps.log.error(event, { room, error: errorText(err) });
  }

  private inflightSettled(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.inflightDrained = resolve;
    });
  }
}

/** An error's code and message, never its data (a store error carries no body, but be sure). */
function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
