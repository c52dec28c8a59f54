// A real PostgreSQL server for tests (issue 9): Debian's binaries, a fresh cluster in a temporary
// directory, run as the `postgres` user when the tests run as root, listening on 127.0.0.1 only,
// on a free port, with fsync on (or off, for the test that the store refuses such a server).
// The server can be stopped cleanly, SIGKILLed (the postmaster and every backend at once, as a
// machine crash would leave them) and started again on the same directory and port. Whatever a
// test does, the process group is killed and the directory removed when the test process exits.
//
// PostgreSQL is required: if it is not installed, `PostgresServer.start()` throws a message
// saying how to install it (CI installs it in .ci/run). Nothing is skipped silently.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

export interface PostgresOptions {
  /** `fsync` setting of the server (default true; false only to test that the store refuses). */
  fsync?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** How long to wait for "ready to accept connections" (default 60 s: initdb on a busy machine). */
  startTimeoutMs?: number;
  /**
   * Files to put in the data directory after initdb (name → content), owned by the server's
   * user, mode 0600: e.g. a TLS certificate and key, then `settings: { ssl: 'on', ssl_cert_file:
   * 'server.crt', ... }` (paths relative to the data directory).
   */
  files?: Record<string, string>;
}

/** Where Debian's (or another) PostgreSQL keeps initdb and postgres; SMC_PG_BIN overrides. */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.SMC_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(join(fromEnv, 'postgres'))) throw new Error(`SMC_PG_BIN=${fromEnv} holds no postgres binary`);
    return fromEnv;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest !== undefined) return join(root, newest, 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // no pg_config either: the message below says what to install
  }
  throw new Error(
    'PostgreSQL is not installed, and the PostgreSQL store tests need a real server: '
    + 'install Debian\'s package (`apt-get install -y postgresql`, as .ci/run does) or set SMC_PG_BIN '
    + 'to the directory holding initdb and postgres.',
  );
}

/** The uid/gid to run the server as: `postgres` when we are root (initdb refuses root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as (Debian\'s postgresql package creates it)');
  }
}

/** A port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<PostgresServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of live) server.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const server of live) server.destroySync();
      process.exit(130);
    });
  }
}

export class PostgresServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly output: string[] = [];
  private databases = 0;

  private constructor(
    readonly binDir: string,
    readonly root: string,
    readonly port: number,
    private readonly user: { uid: number; gid: number } | undefined,
    private readonly options: PostgresOptions,
  ) {}

  get dataDir(): string {
    return join(this.root, 'data');
  }

  get socketDir(): string {
    return join(this.root, 'sock');
  }

  /** URL of a database on this server (default `postgres`). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** The postmaster's pid while it runs. */
  get pid(): number | undefined {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** initdb in a fresh temporary directory, then start. Call `destroy()` after (e.g. in `after`). */
  static async start(options: PostgresOptions = {}): Promise<PostgresServer> {
    const binDir = findPostgresBinDir();
    const user = serverUser();
    installExitHook();
    const root = mkdtempSync(join(tmpdir(), 'smc-pg-'));
    const server = new PostgresServer(binDir, root, await freePort(), user, options);
    live.add(server);
    try {
      mkdirSync(server.socketDir);
      if (user) {
        chownSync(root, user.uid, user.gid);
        chownSync(server.socketDir, user.uid, user.gid);
      }
      await server.run('initdb', ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions']);
      for (const [name, content] of Object.entries(options.files ?? {})) {
        const file = join(server.dataDir, name);
        writeFileSync(file, content, { mode: 0o600 });
        if (user) chownSync(file, user.uid, user.gid);
      }
      await server.startServer();
    } catch (err) {
      server.destroySync();
      throw err;
    }
    return server;
  }

  private run(program: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.binDir, program), args, {
        stdio: ['ignore', 'pipe', 'pipe'], cwd: this.root, ...(this.user ?? {}),
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${program} exited with ${code}: ${out.trim()}`))));
    });
  }

  /** Starts the server on the existing directory and port; resolves once it accepts connections. */
  async startServer(): Promise<void> {
    if (this.pid !== undefined) throw new Error('PostgreSQL is already running');
    const settings: Record<string, string> = {
      fsync: this.options.fsync === false ? 'off' : 'on',
      listen_addresses: '127.0.0.1',
      max_connections: '200',
      ...this.options.settings,
    };
    const args = ['-D', this.dataDir, '-p', String(this.port), '-k', this.socketDir];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    // detached: the postmaster leads its own process group, so kill() reaches every backend.
    const child = spawn(join(this.binDir, 'postgres'), args, {
      stdio: ['ignore', 'pipe', 'pipe'], cwd: this.root, detached: true, ...(this.user ?? {}),
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`PostgreSQL did not become ready in ${timeoutMs} ms:\n${this.output.slice(-20).join('')}`)), timeoutMs);
      const onData = (d: Buffer): void => {
        const text = d.toString();
        this.output.push(text);
        if (this.output.length > 500) this.output.splice(0, this.output.length - 500);
        if (text.includes('database system is ready to accept connections')) done();
      };
      const onExit = (code: number | null, signal: string | null): void => {
        done(new Error(`PostgreSQL exited during start (code ${code}, signal ${signal}):\n${this.output.slice(-20).join('')}`));
      };
      const done = (err?: Error): void => {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
    });
  }

  /** Clean ("fast") shutdown: SIGINT to the postmaster, which rolls back and checkpoints. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    process.kill(pid, 'SIGINT');
    await this.exited;
  }

  /** SIGKILL of the postmaster and every backend at once: committed work must survive. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    // Each backend calls setsid(), so the postmaster's process group holds the postmaster only:
    // its children (backends, WAL writer, checkpointer...) are killed by pid, in the same instant.
    const children = childrenOf(pid);
    for (const target of [-pid, ...children]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exited;
    for (let i = 0; i < 200 && (groupAlive(pid) || children.some(alive)); i++) await new Promise((r) => setTimeout(r, 25));
  }

  /** Stops cleanly (if running) and starts again on the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startServer();
  }

  /** A fresh, empty database on this server; returns its URL. */
  async createDatabase(prefix = 'smc_test'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.databases}`;
    await this.sql(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  /** Runs one statement as the superuser on `database` (a short-lived connection) and returns its rows. */
  async sql(text: string, params: unknown[] = [], database = 'postgres'): Promise<Array<Record<string, unknown>>> {
    const client = new Client({ connectionString: this.url(database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await client.query<Record<string, unknown>>(text, params);
      return result.rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The last lines the server logged (for failure messages). */
  recentOutput(): string {
    return this.output.slice(-40).join('');
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.kill();
    this.destroySync();
  }

  /** Synchronous cleanup for the exit hook: SIGKILL the group, remove the directory. */
  destroySync(): void {
    const pid = this.pid;
    if (pid !== undefined) {
      for (const target of [-pid, ...childrenOf(pid)]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(this.root, { recursive: true, force: true });
    live.delete(this);
  }
}

/** The pids whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** Whether `pid` still runs (a zombie waiting to be reaped does not count). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The PostgreSQL of one mocha suite, as `postgresSuite` or `postgresPerTest` sets it up: `pg`
 * is the server; `url`, `database` and `sql` speak of the running test's own database.
 */
export class SuitePostgres {
  private server: PostgresServer | undefined;
  private current: string | undefined;
  private readonly closers: Array<() => Promise<void>> = [];

  /** The server (started by the suite's `before`). */
  get pg(): PostgresServer {
    if (this.server === undefined) throw new Error('PostgreSQL is not started yet (use it in a test or a hook)');
    return this.server;
  }

  /** The URL of the running test's fresh database (postgresPerTest only). */
  get url(): string {
    if (this.current === undefined) throw new Error('no database for this test: postgresPerTest() makes one per test');
    return this.current;
  }

  /** The name of that database. */
  get database(): string {
    return new URL(this.url).pathname.slice(1);
  }

  /** One statement in the running test's database. */
  sql(text: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    return this.pg.sql(text, params, this.database);
  }

  /** `thing`, closed with `close` after the test (postgresPerTest) or the suite (postgresSuite). */
  closeAfter<T>(thing: T, close: (t: T) => Promise<void>): T {
    this.closers.push(() => close(thing));
    return thing;
  }

  /** Starts the server (a `before` hook). */
  async start(options: PostgresOptions): Promise<void> {
    this.server = await PostgresServer.start(options);
  }

  /** A fresh database for the next test (a `beforeEach` hook). */
  async freshDatabase(): Promise<void> {
    this.current = await this.pg.createDatabase();
  }

  /** Closes what was opened, all at once (an `afterEach` or `after` hook). */
  async closeOpened(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((c) => c()));
  }

  /** Closes what is still open, then stops the server and removes its directory (an `after` hook). */
  async destroy(): Promise<void> {
    await this.closeOpened();
    await this.server?.destroy();
  }
}

/**
 * One PostgreSQL server for the calling `describe`: started in `before`; in `after`, what
 * `closeAfter` was given is closed and the server destroyed. Call it before the suite's own hooks.
 */
export function postgresSuite(options: PostgresOptions = {}): SuitePostgres {
  const s = new SuitePostgres();
  before(() => s.start(options));
  after(() => s.destroy());
  return s;
}

/**
 * `postgresSuite`, and a fresh database for every test (`url`), what the test gave `closeAfter`
 * closed after it.
 */
export function postgresPerTest(options: PostgresOptions = {}): SuitePostgres {
  const s = postgresSuite(options);
  beforeEach(() => s.freshDatabase());
  afterEach(() => s.closeOpened());
  return s;
}
