// The cluster store's connections to PostgreSQL and their health (issue 9 "Failures"):
// - one writer connection, which carries every group-commit transaction in turn;
// - one listener connection (LISTEN for other relays' doorbells);
// - a small pool for reads (range, head, presence).
// While the database is up, work goes to these. When any of them fails with a connection error,
// the store goes DOWN: every request fails at once with StoreUnavailableError (never a new
// connection per request: a naive retry exhausts the ephemeral ports within seconds), and one
// reconnect loop, with exponential backoff and jitter, tries one connection at a time until the
// database answers again; then the listener and pool come back and the store is UP.
import { randomInt } from 'node:crypto';
import { Client, Pool, type ClientBase, type ClientConfig, type Notification, type QueryResultRow } from 'pg';
import { StoreBusyError, StoreRefusedError, StoreUnavailableError } from './types';
import { libpqCompatible } from './url';

export type DatabaseState = 'new' | 'up' | 'down' | 'closed';

export interface DatabaseOptions {
  /** libpq-style URL (`postgres://user@host:port/db?sslmode=...`); PG* variables fill the rest. */
  url: string;
  /** Channels the listener connection LISTENs to. */
  channels: string[];
  /** Read connections at most (default 4). */
  readers?: number;
  /**
   * Writer connections (default 2): group commits in flight at once, on different rooms (the
   * group commit keeps one group per room in flight): one room's group waiting for its WAL
   * flush does not hold back the other rooms'.
   */
  writers?: number;
  /** Reads waiting for a read connection at most (default 2 000); more get StoreBusyError. */
  maxWaitingReads?: number;
  /** First and longest wait between reconnect attempts (defaults 100 ms and 5 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Timeout of one connection attempt (default 5 s). */
  connectTimeoutMs?: number;
  /** application_name of the relay's sessions. */
  applicationName?: string;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * Session settings of every relay connection. synchronous_commit=on: COMMIT returns only once
 * the commit record is flushed (and, with a synchronous standby, replicated), so an ack is never
 * sent for what a crash can take back (docs/protocol.md §1.5), whatever the server's default. The
 * idle-in-transaction timeout frees a room's lock if a relay freezes mid-transaction.
 */
const SESSION_SETTINGS: Record<string, string> = {
  synchronous_commit: 'on',
  idle_in_transaction_session_timeout: '10000',
  statement_timeout: '30000',
};

/**
 * The client configuration: the URL as given, with the session settings passed in the startup
 * packet's `options` (after any the URL carries, so ours win), so that every connection, pooled
 * ones included, has them from its first statement.
 */
export function connectionConfig(url: string): { connectionString: string; options: string } {
  const ours = Object.entries(SESSION_SETTINGS).map(([k, v]) => `-c ${k}=${v}`).join(' ');
  let connectionString = libpqCompatible(url);
  let theirs = '';
  try {
    const parsed = new URL(connectionString);
    theirs = parsed.searchParams.get('options') ?? '';
    if (theirs !== '') {
      parsed.searchParams.delete('options');
      connectionString = parsed.toString();
    }
  } catch {
    // not a URL (a socket path): pg parses it; no options to merge
  }
  return { connectionString, options: theirs === '' ? ours : `${theirs} ${ours}` };
}

/** SQLSTATE classes and codes that mean the connection (not the statement) failed. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // 08: connection exception; 57P01-57P05: admin/crash shutdown, cannot connect now...;
    // 53300: too many connections; 3D000: the database does not exist (yet).
    return code.startsWith('08') || code.startsWith('57P') || code === '53300';
  }
  // No SQLSTATE: a socket error (ECONNREFUSED, ECONNRESET...) or pg's own "Connection terminated".
  return true;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

export class Database {
  private stateValue: DatabaseState = 'new';
  private writerClients: Client[] = [];
  private listenerClient: Client | undefined;
  private pool: Pool | undefined;
  private reconnecting: Promise<void> | undefined;
  private wakeReconnect: (() => void) | undefined;
  private readonly upListeners: Array<() => void> = [];
  private readonly downListeners: Array<(reason: string) => void> = [];
  private readonly notificationListeners: Array<(n: Notification) => void> = [];
  private readonly log: NonNullable<DatabaseOptions['log']>;
  /** Connection attempts made (each client's connect counts one), for tests and operators. */
  connectAttempts = 0;
  /** Times the store went down. */
  outages = 0;

  constructor(private readonly options: DatabaseOptions) {
    this.log = options.log ?? (() => undefined);
  }

  get state(): DatabaseState {
    return this.stateValue;
  }

  /** Connects for the first time; rejects (and stays closed) if the database is unfit or away. */
  async open(prepare: (client: ClientBase) => Promise<void>): Promise<void> {
    if (this.stateValue !== 'new') throw new Error(`database already ${this.stateValue}`);
    try {
      await this.connectAll(prepare);
    } catch (err) {
      this.stateValue = 'closed';
      await this.teardown();
      throw err;
    }
    this.stateValue = 'up';
  }

  onUp(listener: () => void): void {
    this.upListeners.push(listener);
  }

  onDown(listener: (reason: string) => void): void {
    this.downListeners.push(listener);
  }

  onNotification(listener: (n: Notification) => void): void {
    this.notificationListeners.push(listener);
  }

  /** Writer connection `i`; throws StoreUnavailableError unless the store is up. */
  writer(i: number): Client {
    const client = this.writerClients[i];
    if (this.stateValue !== 'up' || client === undefined) throw this.unavailable();
    return client;
  }

  /** How many writer connections there are (each carries one group commit at a time). */
  get writers(): number {
    return this.options.writers ?? 2;
  }

  private owns(client: Client): boolean {
    return this.writerClients.includes(client) || this.listenerClient === client;
  }

  /**
   * Bounds the reads waiting for the pool (pg's Pool queues without limit): a flood of joins on a
   * slow database is refused at once (StoreBusyError) instead of growing the relay's memory.
   */
  private admitRead(): void {
    const pool = this.pool;
    const max = this.options.maxWaitingReads ?? 2_000;
    if (pool !== undefined && pool.waitingCount >= max) throw new StoreBusyError(`more than ${max} reads are waiting for the database`);
  }

  /** One read (or short autocommit write) on the pool; connection failures take the store down. */
  async query<R extends QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    const pool = this.pool;
    if (this.stateValue !== 'up' || pool === undefined) throw this.unavailable();
    this.admitRead();
    try {
      const result = await pool.query<R>(text, params);
      return result.rows;
    } catch (err) {
      if (isConnectionError(err)) {
        this.fail(err);
        throw this.unavailable();
      }
      throw err;
    }
  }

  /** Runs `work` in one transaction on a pooled connection. */
  async transaction<T>(work: (client: ClientBase) => Promise<T>): Promise<T> {
    const pool = this.pool;
    if (this.stateValue !== 'up' || pool === undefined) throw this.unavailable();
    this.admitRead();
    let client;
    try {
      client = await pool.connect();
    } catch (err) {
      if (isConnectionError(err)) this.fail(err);
      throw this.unavailable();
    }
    let broken = false;
    // Checked out, the client has no listener of the pool's: the database going away while no
    // query of ours runs on it (between two statements) would emit an 'error' nobody handles,
    // and that ends the process. Ours takes the store down instead.
    const onError = (err: Error): void => {
      broken = true;
      this.fail(err);
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (isConnectionError(err)) {
        broken = true;
        this.fail(err);
        throw this.unavailable();
      }
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  private unavailable(): StoreUnavailableError {
    return new StoreUnavailableError(this.stateValue === 'closed' ? 'the store is closed' : 'the database is unreachable; the relay is reconnecting');
  }

  /** A connection failed: go down (once), drop every connection, start the one reconnect loop. */
  fail(err: unknown): void {
    if (this.stateValue !== 'up') return;
    this.stateValue = 'down';
    this.outages++;
    const reason = describe(err);
    this.log('pg.down', { error: reason });
    void this.teardown();
    for (const l of this.downListeners) l(reason);
    this.reconnecting ??= this.reconnectLoop().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private prepareFn: ((client: ClientBase) => Promise<void>) | undefined;

  private async reconnectLoop(): Promise<void> {
    let wait = this.options.backoffMinMs ?? 100;
    const max = this.options.backoffMaxMs ?? 5_000;
    while (this.stateValue === 'down') {
      // Full jitter: relays that lost the database together do not come back in lockstep.
      await this.sleep(Math.max(10, randomInt(Math.floor(wait / 2), wait + 1)));
      if (this.currentState() !== 'down') return;
      try {
        await this.connectAll(this.prepareFn ?? (async () => undefined));
      } catch (err) {
        await this.teardown();
        this.log('pg.reconnect_failed', { error: describe(err), nextMs: Math.min(max, wait * 2) });
        wait = Math.min(max, wait * 2);
        continue;
      }
      if (this.currentState() !== 'down') {
        await this.teardown();
        return;
      }
      this.stateValue = 'up';
      this.log('pg.up', { outages: this.outages });
      for (const l of this.upListeners) l();
    }
  }

  /** The state, read afresh after an await. */
  private currentState(): DatabaseState {
    return this.stateValue;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeReconnect = undefined;
        resolve();
      }, ms);
      this.wakeReconnect = () => {
        clearTimeout(timer);
        this.wakeReconnect = undefined;
        resolve();
      };
    });
  }

  private clientConfig(): ClientConfig {
    return {
      ...connectionConfig(this.options.url),
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: this.options.applicationName ?? 'smc-relay',
    };
  }

  /** Writer first (one attempt), then the listener; the pool connects on demand. */
  private async connectAll(prepare: (client: ClientBase) => Promise<void>): Promise<void> {
    this.prepareFn = prepare;
    // The first writer alone checks the server and migrates; then the others connect, one at a
    // time (a reconnect never opens more than one connection at once).
    const first = await this.connectClient();
    this.writerClients = [first];
    await prepare(first);
    for (let i = 1; i < this.writers; i++) this.writerClients.push(await this.connectClient());
    const listener = await this.connectClient();
    this.listenerClient = listener;
    listener.on('notification', (n) => {
      for (const l of this.notificationListeners) l(n);
    });
    for (const channel of this.options.channels) await listener.query(`LISTEN ${channel}`);
    const pool = new Pool({ ...this.clientConfig(), max: this.options.readers ?? 4, idleTimeoutMillis: 30_000 });
    pool.on('connect', () => {
      this.connectAttempts++;
    });
    // An idle pooled connection that dies emits here; without a listener it would crash the relay.
    pool.on('error', (err) => {
      if (this.pool === pool) this.fail(err);
    });
    this.pool = pool;
  }

  private async connectClient(): Promise<Client> {
    const client = new Client(this.clientConfig());
    // Without a listener, an error on an idle connection would crash the process.
    // A late error of a connection already replaced must not take the new ones down.
    client.on('error', (err) => {
      if (this.owns(client)) this.fail(err);
    });
    client.on('end', () => {
      if (this.owns(client)) this.fail(new Error('connection ended'));
    });
    this.connectAttempts++;
    try {
      await client.connect();
      // The ack's promise rests on this one: check it rather than trust the startup options.
      const sync = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      if (sync.rows[0]?.synchronous_commit !== 'on') throw new StoreRefusedError(`synchronous_commit is ${sync.rows[0]?.synchronous_commit} on this session, not on`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  /** Ends every connection (errors ignored: they are usually dead already). */
  private async teardown(): Promise<void> {
    const clients = [...this.writerClients, this.listenerClient];
    const pool = this.pool;
    this.writerClients = [];
    this.listenerClient = undefined;
    this.pool = undefined;
    const ends: Array<Promise<unknown>> = [];
    for (const c of clients) {
      if (c === undefined) continue;
      c.removeAllListeners('end');
      ends.push(c.end().catch(() => undefined));
    }
    if (pool !== undefined) ends.push(pool.end().catch(() => undefined));
    await Promise.all(ends);
  }

  async close(): Promise<void> {
    this.stateValue = 'closed';
    this.wakeReconnect?.();
    await this.reconnecting;
    await this.teardown();
  }
}

/** The check that refuses a server unfit for durable acks (issue 9: fsync off). */
export async function checkDurability(client: ClientBase): Promise<void> {
  const rows = (await client.query<{ fsync: string }>('SHOW fsync')).rows;
  if (rows[0]?.fsync !== 'on') {
    throw new StoreRefusedError(
      'refusing to use this PostgreSQL server: its `fsync` setting is off, so a committed message '
      + 'can be lost in a crash and an ack would be a lie (docs/protocol.md §1.5). Turn fsync on in postgresql.conf.',
    );
  }
}
