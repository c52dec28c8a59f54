// The link: one relay connection at a time, and the next one after it (docs/protocol.md §1.1-1.3).
// It owns the transport, hello/welcome, the keepalive (§1.3 ping), reconnecting with backoff,
// request ids and the requests open on the current connection, and the one phase the
// connection is in. Frames after the welcome go to RelayClient, which routes them to the parts.
import { formatHostPort } from '../hostPort';
import { LIMITS, PROTOCOL_VERSION } from '../wire/frames';
import type { ClientFrame } from '../wire/frames';
import { parseRelayFrame } from '../wire/relayFrames';
import type { ReceivedBye, ReceivedFrame, ReceivedWelcome, RelayFrameFailure } from '../wire/relayFrames';
import { Backoff } from './backoff';
import type { OpenRequest } from './roomState';
import { ClientError, type ClientLog, type ClientTuning, type ConnectionState, type Transport, type TransportFactory } from './types';
import { unref } from './util';

/** The frames the link hands on: all but welcome, pong and bye, which it handles itself. */
export type RoutedFrame = Exclude<ReceivedFrame, ReceivedWelcome | ReceivedBye | { t: 'pong' }>;

/**
 * Where the connection is (as ws's readyState): 'idle' — none, and none wanted until
 * connect(); 'waiting' — none, the next one opens when the backoff timer fires; 'opening' — a
 * transport, hello sent or about to be, no welcome yet; 'open' — welcomed (§1.3), frames flow;
 * 'bye' — the relay said bye (§1.7), welcomed or not: acks may still come, nothing new is sent.
 * Whether the connection was welcomed is its challenge (§1.9: every welcome carries one).
 */
export type LinkPhase = 'idle' | 'waiting' | 'opening' | 'open' | 'bye';

/** What the link tells its owner. Called synchronously, in the order of the wire. */
export interface LinkHooks {
  log: ClientLog;
  /** The state a UI shows changed (RelayClient's `state` event). */
  state(state: ConnectionState, detail?: string): void;
  error(err: ClientError): void;
  /** The relay welcomed this connection (§1.3): rooms can be joined. */
  welcomed(): void;
  /** A frame after the welcome (the link keeps welcome, pong and bye to itself). */
  frame(f: RoutedFrame): void;
  /**
   * A frame whose form is wrong in a way a relay was always forgiven (parseRelayFrame's
   * non-fatal failures): it is dropped, but it may still answer a request (its `rid`).
   */
  ignored(failure: RelayFrameFailure): void;
  /** The connection is gone with these requests open on it; the link has forgotten them. */
  lost(requests: OpenRequest[], wasConnected: boolean): void;
  /** After `lost`, once the next connection is scheduled (or not) and its state said. */
  closed(): void;
}

export interface LinkOptions {
  host: string;
  port: number;
  agent: string;
  transport: TransportFactory;
  tuning: ClientTuning;
}

export class RelayLink {
  private phaseNow: LinkPhase = 'idle';
  /** The user wants a connection: reconnect after a close (cleared by disconnect, an old relay). */
  private wanted = false;
  private transport?: Transport;
  /** The state last reported to the owner (a UI's view, not a control flag). */
  private reported: ConnectionState = 'offline';
  private nextRid = 1;
  private readonly requests = new Map<number, OpenRequest>();
  private readonly backoff: Backoff;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private stableTimer?: ReturnType<typeof setTimeout>;
  private keepaliveTimer?: ReturnType<typeof setInterval>;
  private closedWaiters: (() => void)[] = [];
  /** The relay's maxFrame (§1.1), from its welcome. */
  private maxFrameNow: number = LIMITS.maxFrame;
  /** §1.9: this connection's challenge, from its welcome; every join signs it. */
  private challengeNow: string | undefined;
  private openedAt = 0;
  private lastRx = 0;
  private pingSentAt?: number;
  private outageReported = false;

  constructor(private readonly options: LinkOptions, private readonly hooks: LinkHooks) {
    this.backoff = new Backoff(options.tuning.reconnectBaseMs, options.tuning.reconnectMaxMs);
  }

  get phase(): LinkPhase {
    return this.phaseNow;
  }

  /** The state a UI shows. */
  get state(): ConnectionState {
    return this.reported;
  }

  /** Welcomed and not closed: frames of this connection are handled (after a bye too). */
  get connected(): boolean {
    return this.challengeNow !== undefined;
  }

  /** New requests may be sent (§1.7: not after bye). */
  get writable(): boolean {
    return this.phaseNow === 'open';
  }

  get maxFrame(): number {
    return this.maxFrameNow;
  }

  /** §1.9: the challenge of the current connection (undefined before its welcome). */
  get challenge(): string | undefined {
    return this.challengeNow;
  }

  /** `host:port` of the relay (`[v6]:port`), for sentences. */
  get where(): string {
    return formatHostPort(this.options.host, this.options.port);
  }

  /** Starts connecting; reconnects by itself until disconnect(). */
  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.outageReported = false;
    this.backoff.reset();
    this.open();
  }

  /**
   * Stops reconnecting and closes the connection; resolves once it is closed. `beforeClose`
   * runs once nothing will reconnect and before the transport is asked to close.
   */
  async disconnect(beforeClose?: () => void): Promise<void> {
    this.wanted = false;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.phaseNow === 'waiting') this.phaseNow = 'idle';
    beforeClose?.();
    const t = this.transport;
    if (t !== undefined) {
      const closed = new Promise<void>((resolve) => this.closedWaiters.push(resolve));
      t.close();
      await closed;
    }
  }

  /** Reports `offline` (after disconnect and whatever the owner did meanwhile). */
  reportOffline(): void {
    this.setState('offline');
  }

  // ---- requests --------------------------------------------------------------------------

  /** A fresh request id (§1.2 `rid`), unique on this client. */
  reserveRid(): number {
    return this.nextRid++;
  }

  /** Remembers what the reply to `rid` settles. */
  track(rid: number, request: OpenRequest): void {
    this.requests.set(rid, request);
  }

  /** Sends a frame with a fresh rid and remembers what its reply settles. */
  request(frame: ClientFrame, request: OpenRequest): number {
    const rid = this.reserveRid();
    this.requests.set(rid, request);
    this.write({ ...frame, rid });
    return rid;
  }

  /** The open request of `rid`, still open. */
  peek(rid: number): OpenRequest | undefined {
    return this.requests.get(rid);
  }

  /** The open request of `rid`, now answered (forgotten). */
  take(rid: number): OpenRequest | undefined {
    const r = this.requests.get(rid);
    this.requests.delete(rid);
    return r;
  }

  /** Open requests in the order they were sent (the relay answers in order, §1.6). */
  openRequests(): IterableIterator<OpenRequest> {
    return this.requests.values();
  }

  write(frame: ClientFrame): void {
    this.transport?.write(JSON.stringify(frame));
  }

  /** Writes a frame already encoded (the sender measures it against maxFrame first). */
  writeLine(line: string): void {
    this.transport?.write(line);
  }

  // ---- connection ------------------------------------------------------------------------

  private open(): void {
    if (!this.wanted || this.transport !== undefined) return;
    this.reconnectTimer = undefined;
    this.phaseNow = 'opening';
    this.setState('connecting');
    const { host, port } = this.options;
    this.hooks.log('connecting', { host, port });
    let t: Transport;
    try {
      t = this.options.transport(host, port);
    } catch (err) {
      this.onClose(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.transport = t;
    this.openedAt = Date.now();
    this.lastRx = this.openedAt;
    this.pingSentAt = undefined;
    this.startKeepalive();
    t.on('open', () => {
      if (this.transport !== t) return;
      this.write({ t: 'hello', v: PROTOCOL_VERSION, agent: this.options.agent });
    });
    t.on('line', (line) => {
      if (this.transport === t) this.onLine(line);
    });
    t.on('close', (err) => {
      if (this.transport === t) this.onClose(err);
    });
  }

  private onClose(err?: Error): void {
    const wasConnected = this.connected;
    const sawBye = this.phaseNow === 'bye';
    this.transport = undefined;
    this.challengeNow = undefined;
    this.phaseNow = 'idle';
    this.stopKeepalive();
    if (this.stableTimer !== undefined) clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    this.hooks.log('closed', { reason: err?.message ?? 'closed', wasConnected });
    // Everything in flight on this connection is void; the owner settles what waited for it.
    const open = [...this.requests.values()];
    this.requests.clear();
    this.hooks.lost(open, wasConnected);
    this.scheduleReconnect(err, wasConnected, sawBye);
    this.hooks.closed();
    for (const w of this.closedWaiters.splice(0)) w();
  }

  private scheduleReconnect(err: Error | undefined, wasConnected: boolean, sawBye: boolean): void {
    if (!this.wanted) {
      this.setState('offline');
      return;
    }
    const delay = this.backoff.next();
    const why = err?.message ?? (sawBye ? 'the relay is shutting down' : 'connection closed');
    if (!this.outageReported) {
      this.outageReported = true;
      const msg = wasConnected ? `Lost the connection to the relay at ${this.where} (${why}); reconnecting.` : `Cannot reach the relay at ${this.where} (${why}); retrying.`;
      this.hooks.error(new ClientError('connection_failed', msg));
    }
    this.phaseNow = 'waiting';
    this.setState('connecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private onWelcome(f: ReceivedWelcome): void {
    // §1.3, §1.9: a v2 relay answers v 2 with a challenge (the parser checked its form);
    // without one it cannot check a join proof, and this client does not join rooms on a
    // relay that lets anyone in.
    if (f.v !== PROTOCOL_VERSION) return this.stopForOldRelay();
    this.challengeNow = f.challenge;
    this.outageReported = false;
    this.maxFrameNow = f.maxFrame ?? LIMITS.maxFrame;
    if (this.phaseNow === 'opening') this.phaseNow = 'open';
    this.setState('connected');
    this.hooks.log('connected', { relayAgent: f.agent?.slice(0, 64) });
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.options.tuning.stableAfterMs);
    unref(this.stableTimer);
    this.hooks.welcomed();
  }

  /**
   * A relay of protocol v1 (no challenge, or `unsupported_version` for hello v 2): said once,
   * plainly, and not retried, since every retry would get the same answer (no reconnect loop).
   * connect() tries again, e.g. once the relay is updated.
   */
  stopForOldRelay(): void {
    this.hooks.log('relay_too_old', { where: this.where });
    this.wanted = false;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.hooks.error(new ClientError('relay_too_old',
      `The relay at ${this.where} is too old (protocol v1): it cannot check that only members enter a room. ` +
      'Ask its operator to update it (or use another relay). SMC does not retry until you connect again.'));
    this.drop(new Error('the relay is too old (protocol v1)'));
    this.setState('offline', 'the relay is too old (protocol v1)');
  }

  private startKeepalive(): void {
    const { pingAfterMs, deadAfterMs } = this.options.tuning;
    const tick = Math.max(20, Math.floor(Math.min(pingAfterMs, deadAfterMs) / 4));
    this.keepaliveTimer = setInterval(() => this.keepalive(), tick);
    unref(this.keepaliveTimer);
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  /** §1.3: ping after pingAfterMs of silence; no answer within deadAfterMs means a dead link. */
  private keepalive(): void {
    if (this.transport === undefined) return;
    const now = Date.now();
    const { pingAfterMs, deadAfterMs } = this.options.tuning;
    if (!this.connected) {
      if (now - this.openedAt >= deadAfterMs) {
        this.hooks.log('connect_timeout', {});
        this.drop(new Error('no answer from the relay'));
      }
      return;
    }
    if (this.pingSentAt === undefined) {
      if (now - this.lastRx >= pingAfterMs) {
        this.pingSentAt = now;
        this.request({ t: 'ping' }, { kind: 'ping' });
      }
    } else if (now - this.pingSentAt >= deadAfterMs) {
      this.hooks.log('dead_connection', { silentMs: now - this.lastRx });
      this.drop(new Error('the relay stopped answering'));
    }
  }

  /** Ends a connection that is not usable any more; it is then reconnected (if wanted). */
  drop(err: Error): void {
    const t = this.transport;
    if (t === undefined) return;
    this.onClose(err);
    t.close();
  }

  /** The relay broke docs/protocol.md: said once, and the connection is dropped (then reconnected). */
  protocolError(what: string): void {
    this.hooks.log('protocol_error', { what });
    this.hooks.error(new ClientError('protocol_error', 'The relay sent something SMC does not understand; reconnecting.'));
    this.drop(new Error('protocol error'));
  }

  // ---- frames in -------------------------------------------------------------------------

  /**
   * Every line from the relay passes here, and here only is a malformed one handled
   * (parseRelayFrame says how bad it is): a broken frame is a protocol error that drops the
   * connection (a welcome without a v2 challenge: an old relay, §1.3); a frame of the wrong
   * shape a relay was always forgiven is ignored; any frame but welcome, error and bye before
   * the welcome is a protocol error.
   */
  private onLine(line: string): void {
    this.lastRx = Date.now();
    this.pingSentAt = undefined;
    const r = parseRelayFrame(line);
    const t = r.ok ? r.frame.t : r.t;
    if (t === undefined) return this.protocolError(r.ok ? 'a frame without a type' : r.message);
    if (!this.connected && t !== 'welcome' && t !== 'error' && t !== 'bye') {
      return this.protocolError(`${t.slice(0, 32)} before welcome`);
    }
    if (!r.ok) {
      if (r.code === 'unknown_type') return this.hooks.log('unknown_frame', { t: t.slice(0, 32) });
      if (t === 'welcome') return this.stopForOldRelay();
      if (r.fatal) return this.protocolError(r.message);
      return this.hooks.ignored(r);
    }
    const frame = r.frame;
    switch (frame.t) {
      case 'welcome': return this.onWelcome(frame);
      case 'pong': return this.settle(frame.rid);
      case 'bye':
        // §1.7: acks for sends received before `bye` may still follow; the relay closes.
        this.phaseNow = 'bye';
        this.hooks.log('bye', { reason: frame.reason?.slice(0, 64) });
        return;
      default:
        return this.hooks.frame(frame);
    }
  }

  /** Removes a request that needs no more handling than "it is answered". */
  settle(rid: number | undefined): void {
    if (rid === undefined) return;
    const p = this.take(rid);
    if (p?.kind === 'leave') p.resolve();
  }

  private setState(state: ConnectionState, detail?: string): void {
    if (state === this.reported && detail === undefined) return;
    this.reported = state;
    this.hooks.state(state, detail);
  }
}
