// The data directory's lock (docs/storage.md "Lock"). Two relays writing one log
// would give one seq to two messages and lose acked ones (docs/protocol.md §1.5), so no second process
// may open the directory while the first lives, whatever its PID namespace (two containers with
// one volume and the same hostname see different pids and hosts that look alike).
//
// Node has no flock, so the lock is held by the kernel as a listening Unix socket bound inside
// the directory. The kernel keeps it for exactly the life of the process: a live holder accepts a
// connection (even when stopped: the kernel queues it), a dead one leaves a file on which connect
// fails with ECONNREFUSED. A connection gets one line naming the holder (pid, host) and whether
// it holds the lock or is still starting.
//
// The race to avoid: two starters find the same dead socket, both unlink it and bind anew, and
// the second unlinks the first one's fresh socket. Checking after binding does not help, because
// a starter may unlink by name a socket it probed long before. So no starter ever unlinks a name
// that a live process may own, and taking the lock is two steps:
//   1. Announce: listen on `lock-<nonce>.new` (a name only this process uses), then rename it to
//      `lock-<nonce>.sock`. A `.sock` name therefore appears only once it accepts connections, and
//      the kernel refuses a connection on it only once its holder is gone: a `.sock` (or `.new`)
//      that refuses is dead and removed, by anyone, safely. (Removing a `.new` whose owner is
//      between bind and listen only makes that owner's rename fail; it then starts over.)
//   2. Check: list the directory and connect to every other `.sock`. If none answers, the lock is
//      ours. If a holder answers, or a socket accepts but does not answer, the directory is
//      locked. If only other starters answer, withdraw (remove our `.sock`) and try again after a
//      random pause.
// Of two starters A and B, each announces before it checks, so the one that checks last sees the
// other's `.sock` alive and does not take the lock: at most one process ever holds it. The random
// pauses make it very likely that one of several racing starters soon checks alone.
//
// A Unix socket address holds at most 107 bytes of path (sun_path). For a longer data directory
// the sockets are bound and reached through /proc/self/fd/<fd of the directory>/, which resolves
// to the directory itself without changing the process's working directory (Linux); elsewhere a
// too long path is a clear error. The lock is local to one kernel: a directory on a network
// filesystem shared by two machines is not protected by it (docs/storage.md).

import { randomBytes, randomInt } from 'node:crypto';
import { constants as fsConstants, promises as fsp, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The lock file of relays before this design (pid based): respected while its holder lives. */
export const LEGACY_LOCK_FILE = 'lock';
const LOCK_NAME = /^lock-([0-9a-f]{24})\.(sock|new)$/;
const ANNOUNCED = '.sock';
/** Lock sockets probed at once while checking. */
const PROBES_AT_ONCE = 16;
/** Bytes of path a Unix socket address holds, without its terminating NUL. */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;
/** How long a socket that accepted a connection may take to say who holds it. */
const ANSWER_TIMEOUT_MS = 2_000;
/** Rounds of announce-and-check against other starters before giving up. */
const MAX_ATTEMPTS = 40;
/**
 * Rounds in a row in which a socket accepts but does not answer before it counts as a holder.
 * A stopped holder (SIGSTOP) stays silent in every round; a starter that was only slow to
 * answer (a loaded machine) has answered or withdrawn by the next round, so racing starters
 * on a busy machine do not all give up.
 */
const SILENT_ROUNDS = 3;

type State = 'starting' | 'holding';
type Outcome = 'ours' | 'again' | 'silent';

interface Identity {
  pid: number;
  host: string;
  nonce: string;
  state: State;
}

/**
 * What connecting to a lock socket found: `dead` (refused: nobody listens), `gone` (no such file),
 * `alive` (it answered, or accepted and stayed silent past the timeout), or `cut` (it accepted,
 * then closed or reset the connection without answering: a holder dying that very moment).
 */
type Probe = { kind: 'dead' | 'gone' | 'cut' } | { kind: 'alive'; who: Identity | undefined };

export class LockedError extends Error {
  readonly code = 'ELOCKED';
  constructor(message: string) {
    super(message);
    this.name = 'LockedError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseIdentity(line: string): Identity | undefined {
  try {
    const v = JSON.parse(line) as Partial<Identity>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string' && (v.state === 'starting' || v.state === 'holding')) {
      return { pid: v.pid, host: v.host, nonce: v.nonce, state: v.state };
    }
  } catch {
    // not an identity line: treated as an unknown holder
  }
  return undefined;
}

/** Connects to a lock socket once (see Probe). */
function probeOnce(address: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect(address);
    let connected = false;
    let text = '';
    const done = (p: Probe): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(p);
    };
    // Accepted but silent (a stopped or very busy holder), or not even accepted: still alive.
    const timer = setTimeout(() => done({ kind: 'alive', who: undefined }), ANSWER_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) done({ kind: 'alive', who: parseIdentity(text.slice(0, nl)) });
      else if (text.length > 4096) done({ kind: 'alive', who: undefined });
    });
    socket.on('end', () => done({ kind: 'cut' }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Only a refusal proves the holder gone; another error before connecting (EAGAIN: backlog
      // full, EACCES) does not.
      if (connected) done({ kind: 'cut' });
      else if (err.code === 'ECONNREFUSED') done({ kind: 'dead' });
      else if (err.code === 'ENOENT') done({ kind: 'gone' });
      else done({ kind: 'alive', who: undefined });
    });
  });
}

/**
 * Connects to a lock socket until it says something definite. A connection cut without an answer
 * is asked again (a dying holder is soon refusing); one that keeps being cut is taken as alive.
 */
async function probe(address: string): Promise<Exclude<Probe, { kind: 'cut' }>> {
  for (let tries = 1; ; tries++) {
    const p = await probeOnce(address);
    if (p.kind !== 'cut') return p;
    if (tries >= 10) return { kind: 'alive', who: undefined };
    await sleep(10 * tries);
  }
}

/** How to name a file of the directory in a socket address (see the top of this file). */
class SocketPlace {
  private constructor(readonly dir: string, private readonly prefix: string, private readonly dirHandle: fsp.FileHandle | undefined) {}

  static async open(dir: string): Promise<SocketPlace> {
    const longest = Buffer.byteLength(join(dir, `lock-${'0'.repeat(24)}.sock`));
    if (longest <= MAX_SOCKET_PATH) return new SocketPlace(dir, dir, undefined);
    const tooLong = Object.assign(new Error(`data directory path ${dir} is too long for its lock socket (${longest} bytes, at most ${MAX_SOCKET_PATH}); use a shorter --data path`), { code: 'ENAMETOOLONG' });
    if (process.platform !== 'linux') throw tooLong;
    // Held open for the lock's life: the sockets are bound and reached through it.
    const handle = await fsp.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    const prefix = `/proc/self/fd/${handle.fd}`;
    // The fd must be the directory as seen through /proc (mounted in every Linux container).
    const seen = await fsp.stat(prefix).catch(() => undefined);
    const real = await handle.stat();
    if (seen === undefined || seen.ino !== real.ino || seen.dev !== real.dev || Buffer.byteLength(`${prefix}/lock-${'0'.repeat(24)}.sock`) > MAX_SOCKET_PATH) {
      await handle.close();
      throw tooLong;
    }
    return new SocketPlace(dir, prefix, handle);
  }

  address(name: string): string {
    return `${this.prefix}/${name}`;
  }

  /** Closes the directory handle; only once every socket bound through it is closed. */
  async close(): Promise<void> {
    await this.dirHandle?.close();
  }
}

/** A held lock; release() gives it up (the socket is closed and its file removed). */
export class DirLock {
  private readonly nonce = randomBytes(12).toString('hex');
  private state: State = 'starting';
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();
  private readonly announced: string;
  private readonly unannounced: string;

  private constructor(private readonly place: SocketPlace) {
    this.announced = `lock-${this.nonce}${ANNOUNCED}`;
    this.unannounced = `lock-${this.nonce}.new`;
  }

  /** Takes the lock of `dirPath` or throws a LockedError naming the holder where it is known. */
  static async acquire(dirPath: string): Promise<DirLock> {
    // The real path, so that two names of one directory (a symlink) are one lock.
    const dir = await fsp.realpath(dirPath);
    await checkLegacyLock(dir);
    const place = await SocketPlace.open(dir);
    try {
      let silent = 0;
      for (let attempt = 1; ; attempt++) {
        const lock = new DirLock(place);
        const outcome = await lock.tryOnce();
        if (outcome === 'ours') return lock;
        silent = outcome === 'silent' ? silent + 1 : 0;
        if (silent >= SILENT_ROUNDS) throw lock.silentHolderError();
        if (attempt >= MAX_ATTEMPTS) throw new LockedError(`data directory ${dir} is locked: other relays kept starting on it at the same time; start one relay per directory`);
        await sleep(randomInt(5, Math.min(500, 20 + 30 * attempt)));
      }
    } catch (err) {
      await place.close();
      throw err;
    }
  }

  /**
   * One round of announce and check: 'ours' when the lock is ours, 'again' to try again,
   * 'silent' when a socket accepted but did not say who it is (try again; SILENT_ROUNDS).
   */
  private async tryOnce(): Promise<Outcome> {
    try {
      return await this.announceAndCheck();
    } catch (err) {
      await this.withdraw();
      throw err;
    }
  }

  private silentName = '';

  /** The error once a silent socket has counted as a holder (SILENT_ROUNDS). */
  silentHolderError(): LockedError {
    return new LockedError(`data directory ${this.place.dir} is in use by another relay (it holds ${this.silentName} but did not say who it is); stop it first, or give this relay another --data directory`);
  }

  private async announceAndCheck(): Promise<Outcome> {
    const { dir } = this.place;
    const server = createServer((conn) => {
      this.conns.add(conn);
      conn.on('close', () => this.conns.delete(conn));
      conn.on('error', () => undefined);
      const who: Identity = { pid: process.pid, host: hostname(), nonce: this.nonce, state: this.state };
      conn.end(JSON.stringify(who) + '\n');
    });
    server.maxConnections = 16;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.place.address(this.unannounced), () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Never keeps the process alive by itself; the store closes it.
    server.unref();
    server.on('error', () => undefined);
    try {
      await fsp.rename(join(dir, this.unannounced), join(dir, this.announced));
    } catch (err) {
      // Another starter removed our `.new` before we listened on it (step 1 above): start over.
      await this.withdraw();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'again';
      throw err;
    }
    const others = await this.others();
    const holder = others.find((p) => p.who !== undefined && p.who.state !== 'starting');
    if (holder?.who !== undefined) {
      await this.withdraw();
      throw new LockedError(`data directory ${dir} is in use by another relay (pid ${holder.who.pid} on ${holder.who.host}); stop it first, or give this relay another --data directory`);
    }
    const silentOne = others.find((p) => p.who === undefined);
    if (silentOne !== undefined) {
      this.silentName = silentOne.name;
      await this.withdraw();
      return 'silent';
    }
    if (others.length > 0) {
      await this.withdraw();
      return 'again';
    }
    this.state = 'holding';
    // Our own socket must still be reachable under its name and be us (an operator may have
    // removed it); otherwise later starters could not see us.
    const self = await probe(this.place.address(this.announced));
    if (!(self.kind === 'alive' && self.who?.nonce === this.nonce)) {
      await this.withdraw();
      return 'again';
    }
    return 'ours';
  }

  /** Other processes' announced sockets that are alive; removes dead lock sockets on the way. */
  private async others(): Promise<Array<{ name: string; who: Identity | undefined }>> {
    const { dir } = this.place;
    const names = (await fsp.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isSocket() && LOCK_NAME.test(e.name) && e.name !== this.announced && e.name !== this.unannounced)
      .map((e) => e.name);
    const alive: Array<{ name: string; who: Identity | undefined }> = [];
    // A few at a time: many stale sockets must not run the process out of file descriptors
    // (an EMFILE would read as "alive" and refuse the start).
    for (let i = 0; i < names.length; i += PROBES_AT_ONCE) {
      await Promise.all(names.slice(i, i + PROBES_AT_ONCE).map(async (name) => {
        const p = await probe(this.place.address(name));
        if (p.kind === 'dead') await fsp.unlink(join(dir, name)).catch(() => undefined);
        // A `.new` is a starter that has not announced yet: it checks after announcing, so it
        // will see us (step 2 above).
        else if (p.kind === 'alive' && name.endsWith(ANNOUNCED)) alive.push({ name, who: p.who });
      }));
    }
    return alive;
  }

  /** Stops listening and removes our socket file (announced or not). */
  private async withdraw(): Promise<void> {
    const { dir } = this.place;
    await fsp.unlink(join(dir, this.announced)).catch(() => undefined);
    await fsp.unlink(join(dir, this.unannounced)).catch(() => undefined);
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    // A client that never reads must not hold up a close.
    for (const c of this.conns) c.destroy();
    await closed;
  }

  async release(): Promise<void> {
    await this.withdraw();
    await this.place.close();
  }
}

// ---- the pid-based lock file of earlier relays --------------------------------------------

interface LegacyLock {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), or null. */
  start: number | null;
  host: string;
}

function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(start) ? start : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A `lock` file left by an earlier relay version: while its holder may still run (same host, the
 * pid alive and started when the file says), refuse; once it is gone, remove the file. An
 * earlier relay does not know the socket lock: stop those before starting this version.
 */
async function checkLegacyLock(dir: string): Promise<void> {
  const path = join(dir, LEGACY_LOCK_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let held: LegacyLock | undefined;
  try {
    const v = JSON.parse(text) as Partial<LegacyLock>;
    if (typeof v.pid === 'number' && typeof v.host === 'string') held = { pid: v.pid, host: v.host, start: typeof v.start === 'number' ? v.start : null };
  } catch {
    // handled below
  }
  if (held === undefined) {
    throw new LockedError(`data directory ${dir} is locked: ${path} exists but does not name a holder; if no relay uses this directory, delete that file`);
  }
  const start = held.pid === process.pid ? null : processStart(held.pid);
  const alive = held.host !== hostname() || (held.pid !== process.pid && pidAlive(held.pid) && !(held.start !== null && start !== null && start !== held.start));
  if (alive) {
    throw new LockedError(`data directory ${dir} is in use by another relay (pid ${held.pid} on ${held.host}, an earlier version, by ${path}); stop it first, or give this relay another --data directory; if no relay uses this directory, delete that file`);
  }
  await fsp.unlink(path).catch(() => undefined);
}
