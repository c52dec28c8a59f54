// Test helpers shared by every suite that needs a relay: `RelayProcess` spawns the real
// `smc relay` (node dist/cli.js relay, after `node scripts/build.mjs`) on port 0 in a temporary
// data directory and learns its port from the JSON `listening` log event; `LineClient` is a
// small NDJSON client over real TCP. Keep this API stable: other engineers' tests use it.
//
// Join proofs (PROTOCOL.md §1.9): `randomRoom()` makes a v2 room from a fresh random room key
// and remembers its room-auth key in this process; `LineClient.send` (and so `request`) adds a
// real `auth`/`proof` to every `join` of such a room, signed over the connection's challenge
// from `welcome`. A join that already has an `auth` or `proof` key, a room made by
// `randomId()`, or `sendUnsigned` goes out as written: that is how tests play a stranger or a v1 client.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deriveRoomAuthKey, makeJoinProof, roomIdForAuthKey, type RoomAuthKey } from '../../src/core/crypto/roomAuth';

/** Repository root (this file compiles to out/test/helpers/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli.js');

export type Frame = Record<string, unknown> & { t: string };
export type LogRecord = Record<string, unknown> & { event: string; level: string };

export interface RelayProcessOptions {
  /** Extra `smc relay` arguments, e.g. ['--rate', '0']. */
  args?: string[];
  /** Extra environment, e.g. { SMC_RELAY_HELLO_TIMEOUT_MS: '200' }. */
  env?: Record<string, string>;
  /** Data directory to use (kept afterwards); default: a fresh temp dir, removed by cleanup(). */
  dataDir?: string;
  /** How long to wait for `listening` (default 10 s). */
  startTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A real relay process. Always call `cleanup()` (e.g. in `afterEach`). */
export class RelayProcess {
  readonly host = '127.0.0.1';
  /** Every JSON log line of the relay, parsed, in order. */
  readonly logs: LogRecord[] = [];
  /** Standard output lines that are not JSON, and all of standard error. */
  readonly otherOutput: string[] = [];
  /** Settles when the process exits. */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly logWaiters: { pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    public port: number,
  ) {
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolveExit(this.exitInfo);
      });
    });
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onLine(line);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.otherOutput.push(chunk));
  }

  /** Spawns `node dist/cli.js relay --port 0 --log-format json --data <dir> ...args`. */
  static async start(options: RelayProcessOptions = {}): Promise<RelayProcess> {
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'smc-relay-test-'));
    const child = spawn(process.execPath, [
      CLI_PATH, 'relay', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--data', dataDir,
      ...(options.args ?? []),
    ], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const relay = new RelayProcess(child, dataDir, ownsDataDir, 0);
    try {
      const listening = await Promise.race([
        relay.waitForLog((r) => r.event === 'listening', options.startTimeoutMs ?? 10_000),
        relay.exited.then((e) => {
          throw new Error(`relay exited during start (code ${e.code}, signal ${e.signal}): ${relay.otherOutput.join('')}`);
        }),
      ]);
      relay.port = listening.port as number;
    } catch (err) {
      await relay.cleanup();
      throw err;
    }
    return relay;
  }

  /**
   * Runs `smc relay` with these arguments to its end (for usage errors, --help, exit codes).
   * Does not add --port/--data; give them in `args`.
   */
  static run(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<ExitInfo & { stdout: string; stderr: string }> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`smc ${args.join(' ')} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolveRun({ code, signal, stdout, stderr });
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The first log record (past or future) matching `pred`. */
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs = 5_000): Promise<LogRecord> {
    const seen = this.logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLog, reject) => {
      const waiter = {
        pred,
        resolve: (r: LogRecord) => {
          clearTimeout(timer);
          resolveLog(r);
        },
      };
      const timer = setTimeout(() => {
        this.logWaiters.splice(this.logWaiters.indexOf(waiter), 1);
        reject(new Error(`no matching relay log within ${timeoutMs} ms; last: ${JSON.stringify(this.logs.slice(-5))}`));
      }, timeoutMs);
      this.logWaiters.push(waiter);
    });
  }

  /** Opens a client connection to this relay (not yet hello'd). */
  connect(): Promise<LineClient> {
    return LineClient.connect(this.port, this.host);
  }

  /** Sends a signal (default SIGTERM) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    return withTimeout(this.exited, timeoutMs, `relay did not exit within ${timeoutMs} ms of ${signal}`);
  }

  /** SIGKILL: the process stops at once, as in a crash. */
  kill(): Promise<ExitInfo> {
    return this.stop('SIGKILL');
  }

  /** Kills the process if still running and removes the data directory if we made it. */
  async cleanup(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private onLine(line: string): void {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      this.otherOutput.push(line);
      return;
    }
    this.logs.push(record);
    for (const waiter of [...this.logWaiters]) {
      if (waiter.pred(record)) {
        this.logWaiters.splice(this.logWaiters.indexOf(waiter), 1);
        waiter.resolve(record);
      }
    }
  }
}

/**
 * An NDJSON client over TCP. Received frames queue up; `next(pred)` takes the first unread one
 * matching `pred` (the others stay unread), waiting for it up to a timeout.
 */
export class LineClient {
  /** Every frame received, in order (read or not). */
  readonly received: Frame[] = [];
  /** Lines that were not JSON (should never happen with a correct relay). */
  readonly garbage: string[] = [];
  /** Settles when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  private unread: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  private isClosed = false;
  private nextRid = 1;
  private partial = '';
  /** §1.9: the challenge of this connection's `welcome` ('' before it). */
  challenge = '';

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolveClosed) => {
      socket.on('close', () => {
        this.isClosed = true;
        for (const w of this.waiters) w.reject(new Error(`connection closed while waiting; unread: ${JSON.stringify(this.unread.slice(0, 5))}`));
        this.waiters = [];
        resolveClosed();
      });
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LineClient> {
    return new Promise((resolveConnect, reject) => {
      const socket = connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolveConnect(new LineClient(socket));
      });
    });
  }

  /** Connects and completes `hello` (§1.3); resolves with the `welcome` frame. */
  static async open(port: number, host = '127.0.0.1'): Promise<{ client: LineClient; welcome: Frame }> {
    const client = await LineClient.connect(port, host);
    const welcome = await client.hello();
    return { client, welcome };
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends one frame as a JSON line; a join of a `randomRoom()` room gets its proof (§1.9). */
  send(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(this.withProof(frame)) + '\n');
  }

  /** Sends one frame exactly as given: no proof is added (a stranger, a v1 client). */
  sendUnsigned(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(frame) + '\n');
  }

  /**
   * The frame with `auth` and `proof` for this connection's challenge when it is a join of a
   * room whose key `randomRoom()` made and it has neither `auth` nor `proof` key (one set to
   * `undefined` counts: `{ auth: undefined }` sends a join without a proof); otherwise the frame.
   */
  withProof(frame: Record<string, unknown>): Record<string, unknown> {
    if (frame.t !== 'join' || 'auth' in frame || 'proof' in frame || typeof frame.room !== 'string') return frame;
    const key = ROOM_AUTH_KEYS.get(frame.room);
    if (!key) return frame;
    return { ...frame, ...makeJoinProof(key, this.challenge, frame.room) };
  }

  /** Sends raw bytes or text as they are (for framing tests). */
  sendRaw(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Sends a frame with a fresh `rid` and resolves with the first reply or error echoing it. */
  async request(frame: Record<string, unknown>, timeoutMs = 5_000): Promise<Frame> {
    const rid = this.nextRid++;
    this.send({ ...frame, rid });
    return this.next((f) => f.rid === rid && f.t !== 'msg', timeoutMs);
  }

  /** Says hello (protocol v2 by default) and keeps the welcome's challenge for join proofs. */
  async hello(agent = 'smc-test/0', v = 2): Promise<Frame> {
    this.send({ t: 'hello', v, agent });
    const reply = await this.next((f) => f.t === 'welcome' || f.t === 'error');
    if (reply.t === 'welcome' && typeof reply.challenge === 'string') this.challenge = reply.challenge;
    return reply;
  }

  /** The first unread frame matching `pred` (default: the next frame), removed from unread. */
  next(pred: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const i = this.unread.findIndex(pred);
    if (i !== -1) return Promise.resolve(this.unread.splice(i, 1)[0] as Frame);
    if (this.isClosed) return Promise.reject(new Error(`connection closed; no matching frame; unread: ${JSON.stringify(this.unread.slice(0, 5))}`));
    return new Promise((resolveNext, reject) => {
      const waiter = {
        pred,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolveNext(f);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching frame within ${timeoutMs} ms; unread: ${JSON.stringify(this.unread.slice(0, 5)).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Shorthand: the next frame of type `t` (optionally also matching `pred`). */
  nextOfType(t: string, pred: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    return this.next((f) => f.t === t && pred(f), timeoutMs);
  }

  /** Unread frames, in order, without consuming them. */
  peekUnread(): readonly Frame[] {
    return this.unread;
  }

  /** Takes and returns every unread frame. */
  drain(): Frame[] {
    const all = this.unread;
    this.unread = [];
    return all;
  }

  /** Resolves once the relay closed the connection (rejects after the timeout). */
  waitClosed(timeoutMs = 5_000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, `connection still open after ${timeoutMs} ms`);
  }

  /** Closes our side gracefully. */
  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  /** Resets the connection at once (an abrupt disconnect). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) !== -1) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      let frame: Frame;
      try {
        frame = JSON.parse(line) as Frame;
      } catch {
        this.garbage.push(line);
        continue;
      }
      this.received.push(frame);
      const w = this.waiters.findIndex((x) => x.pred(frame));
      if (w !== -1) {
        const waiter = this.waiters.splice(w, 1)[0] as (typeof this.waiters)[number];
        waiter.resolve(frame);
      } else this.unread.push(frame);
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** A random 22-char room or message id (b64u of 16 random bytes, §1.2). */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/** Room-auth keys of the rooms `randomRoom()` made, by room id. */
const ROOM_AUTH_KEYS = new Map<string, RoomAuthKey>();

/**
 * A fresh v2 room (§2.2): a random room key K, its room-auth key, and the room id bound to it.
 * Every LineClient of this process then joins it with a real proof.
 */
export function randomRoom(): string {
  const auth = deriveRoomAuthKey(randomBytes(32));
  const room = roomIdForAuthKey(auth.publicKey);
  ROOM_AUTH_KEYS.set(room, auth);
  return room;
}

/**
 * Remembers the room-auth key of room key `key` (§2.2), so that LineClients of this process
 * sign their joins of its room as `randomRoom()` rooms; returns the room id.
 */
export function rememberRoomKey(key: Uint8Array): string {
  const auth = deriveRoomAuthKey(key);
  const room = roomIdForAuthKey(auth.publicKey);
  ROOM_AUTH_KEYS.set(room, auth);
  return room;
}

/** The room-auth key of a `randomRoom()` room (to sign by hand in tests). */
export function roomAuthKeyOf(room: string): RoomAuthKey {
  const key = ROOM_AUTH_KEYS.get(room);
  if (!key) throw new Error(`room ${room} was not made by randomRoom()`);
  return key;
}

/** One join line with a real proof for `challenge`, for tests that pipeline raw bytes. */
export function joinLine(room: string, challenge: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ t: 'join', ...extra, room, ...makeJoinProof(roomAuthKeyOf(room), challenge, room) }) + '\n';
}

/**
 * The lock tests start relays in another PID namespace (`unshare --pid --fork --mount-proc`),
 * which needs util-linux and root. As root (CI) a failure is a failed test, never a silent
 * skip; as another user those tests cannot run, and are marked skipped.
 */
export function requirePidNamespaces(ctx: Mocha.Context): void {
  if (canUsePidNamespaces()) return;
  ctx.skip();
}

/** Whether relays can be started in another PID namespace here (see requirePidNamespaces). */
export function canUsePidNamespaces(): boolean {
  if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'true'], { stdio: 'ignore' }).status === 0) return true;
  if (process.getuid?.() === 0) throw new Error('unshare --pid --fork --mount-proc failed as root: util-linux is needed for the PID namespace tests');
  return false;
}
