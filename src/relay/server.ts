// The relay of docs/protocol.md §1: accepts TCP connections (admission: the connection
// limits of §1.7), gives each a Connection (flow control, connection.ts) and a Session (the
// protocol, protocol.ts), sweeps the timeouts of §1.3, and stops as §1.7 says. It never holds
// a key and never looks inside a body or a tag.
//
// States, after ws's WebSocketServer: RUNNING (accepting) → CLOSING (bye sent, durable writes
// finishing, new connections refused) → CLOSED.
import { X509Certificate } from 'node:crypto';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ErrorCode } from '../core/wire/frames';
import { encodeError } from '../core/wire/relayFrames';
import type { ClusterRooms } from './store/pg/clusterRooms';
import type { MessageStore } from './store/types';
import type { AdminToken } from './adminToken';
import { Connection, formatAddress } from './connection';
import type { RelayLogger } from './log';
import type { RelayOptions } from './options';
import { OutputBudget } from './outputBudget';
import { RelayProtocol, errorText, type Session } from './protocol';

export type RelayState = 'running' | 'closing' | 'closed';

export interface RelayDeps {
  /** The embedded store, or the rooms of a relay in a cluster (issue 9). */
  store: MessageStore | ClusterRooms;
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
  /** Every open connection and its protocol session. */
  private readonly connections = new Map<Connection, Session>();
  private readonly perIp = new Map<string, number>();
  /** Sockets ended with a frame (busy, closed by the relay) that may linger; destroyed later. */
  private readonly lingering = new Set<{ socket: Socket; since: number }>();
  private readonly protocol: RelayProtocol;
  /** §1.7: what all connections together may hold in output (--max-output-total). */
  private readonly outputBudget: OutputBudget<Connection>;
  private readonly sweeper: NodeJS.Timeout;
  private nextConnectionId = 1;
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
    this.outputBudget = new OutputBudget<Connection>(options.maxOutputTotal, BUDGET_STALL_MS, (conn) => {
      this.deps.log.warn('limit', {
        limit: 'max_output_total', conn: conn.id, addr: conn.address, queued: conn.accountedBytes, total: this.outputBudget.total,
      });
    });
    this.protocol = new RelayProtocol(options, {
      store: deps.store, log: deps.log, adminToken: deps.adminToken, agent: deps.agent, budget: this.outputBudget,
      shutdown: (reason) => void this.shutdown(reason),
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
    this.deps.log.info('shutdown', { reason, conns: this.connections.size, inflight: this.protocol.inflight });
    const started = Date.now();
    this.server.close();
    for (const session of this.connections.values()) session.bye();
    const graceful = (async () => {
      await this.protocol.settled();
      for (const conn of [...this.connections.keys()]) conn.end('shutdown');
      await this.deps.store.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.deps.log.warn('shutdown_timeout', { ms: this.options.shutdownMs, inflight: this.protocol.inflight });
        resolve();
      }, Math.max(0, this.options.shutdownMs - 500));
    });
    this.stopping = Promise.race([graceful, deadline])
      .catch((err: unknown) => {
        this.deps.log.error('shutdown_error', { error: errorText(err) });
      })
      .finally(() => {
        clearTimeout(timer);
        for (const conn of [...this.connections.keys()]) conn.abort('shutdown');
        for (const entry of this.lingering) entry.socket.destroy();
        this.lingering.clear();
        clearInterval(this.sweeper);
        this.protocol.dispose();
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
    const now = Date.now();
    const conn = new Connection(this.nextConnectionId++, socket, this.options, {
      line: (c, line) => this.connections.get(c)?.onLine(line),
      decodeError: (c, code) => this.connections.get(c)?.onDecodeError(code),
      closed: (c, reason) => this.forget(c, reason),
    }, now, this.outputBudget);
    this.connections.set(conn, this.protocol.open(conn, now));
    this.perIp.set(ip, fromIp + 1);
    this.deps.log.info('conn_open', { conn: conn.id, addr: conn.address, conns: this.connections.size, fromAddr: fromIp + 1 });
  }

  private refuse(socket: Socket, code: ErrorCode, message: string): void {
    socket.end(encodeError(undefined, code, message));
    this.lingering.add({ socket, since: Date.now() });
  }

  /** Cleanup of a closed connection: its rooms, counts, and the connection log line. */
  private forget(conn: Connection, reason: string): void {
    const session = this.connections.get(conn);
    if (session === undefined) return;
    this.connections.delete(conn);
    const left = (this.perIp.get(conn.remoteIp) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(conn.remoteIp);
    else this.perIp.set(conn.remoteIp, left);
    const rooms = session.close();
    if (conn.endedAt !== 0) this.lingering.add({ socket: conn.socket, since: conn.endedAt });
    if (reason === 'slow_reader') {
      this.deps.log.warn('limit', { limit: 'max_output', conn: conn.id, addr: conn.address, maxOutput: this.options.maxOutput });
    }
    this.deps.log.info('conn_close', {
      conn: conn.id, addr: conn.address, reason, ms: Date.now() - conn.openedAt, rooms,
      rateLimited: session.rateLimited || undefined, conns: this.connections.size,
    });
  }

  /** §1.3 hello and idle timeouts, and sockets that linger after we ended them. */
  private sweep(): void {
    const now = Date.now();
    for (const [conn, session] of this.connections) {
      if (!session.helloed && now - conn.openedAt >= this.options.helloTimeoutMs) {
        this.deps.log.info('limit', { limit: 'hello_timeout', conn: conn.id, addr: conn.address });
        conn.abort('hello_timeout');
      } else if (now - conn.lastReceived >= this.options.idleTimeoutMs) {
        this.deps.log.info('limit', { limit: 'idle_timeout', conn: conn.id, addr: conn.address });
        conn.abort('idle_timeout');
      }
    }
    this.outputBudget.sweep(now);
    this.protocol.sweep(now);
    for (const entry of this.lingering) {
      if (entry.socket.destroyed) this.lingering.delete(entry);
      else if (now - entry.since >= LINGER_MS) {
        entry.socket.destroy();
        this.lingering.delete(entry);
      }
    }
  }
}
