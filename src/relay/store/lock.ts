// The data directory's lock (docs/storage.md "Lock"): two relays writing one log would give one
// seq to two messages (PROTOCOL.md §1.5). The lock is a file created exclusively ('wx') that
// names its holder: pid, the process's start time (Linux) and host. A lock whose holder is gone
// (no such pid, or the pid now belongs to a process that started later) is stale and taken over.

import { promises as fsp, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const LOCK_FILE = 'lock';

interface LockContent {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), or null. */
  start: number | null;
  host: string;
  token: string;
}

/** Directories locked by this process: a second FileStore on one directory is refused too. */
const heldHere = new Set<string>();

export class LockedError extends Error {
  readonly code = 'ELOCKED';
  constructor(message: string) {
    super(message);
    this.name = 'LockedError';
  }
}

function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
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

/** True while the lock's holder may still be using the directory. */
function holderAlive(held: LockContent, dir: string): boolean {
  if (held.host !== hostname()) return true; // another machine: we cannot tell, so respect it
  if (held.pid === process.pid) return heldHere.has(dir);
  if (!pidAlive(held.pid)) return false;
  const start = processStart(held.pid);
  // A different start time means the pid was reused by an unrelated process.
  return !(held.start !== null && start !== null && start !== held.start);
}

function parse(text: string): LockContent | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockContent>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, start: typeof v.start === 'number' ? v.start : null, host: v.host, token: v.token };
    }
  } catch {
    // unreadable content: handled below
  }
  return undefined;
}

/** A held lock; release() removes the file if it is still ours. */
export class DirLock {
  private constructor(private readonly dir: string, private readonly path: string, private readonly token: string) {}

  /**
   * Takes the lock of `dir` or throws a LockedError. A lock file that cannot be parsed is left in
   * place (a person should look at it) and reported as locked.
   */
  static async acquire(dirPath: string): Promise<DirLock> {
    // The real path, so that two names of one directory (a symlink) are one lock in this process.
    const dir = await fsp.realpath(dirPath);
    const path = join(dir, LOCK_FILE);
    const content: LockContent = { pid: process.pid, start: processStart(process.pid), host: hostname(), token: randomBytes(12).toString('hex') };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await fsp.open(path, 'wx', 0o600);
        try {
          await fh.writeFile(JSON.stringify(content) + '\n');
          await fh.sync();
        } finally {
          await fh.close();
        }
        heldHere.add(dir);
        return new DirLock(dir, path, content.token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let text: string;
      try {
        text = await fsp.readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw err;
      }
      const held = parse(text);
      if (held === undefined) {
        // A holder may be between creating the file and writing its content.
        if (text.length === 0 && attempt < 2) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        throw new LockedError(`data directory ${dir} is locked: ${path} exists but does not name a holder; if no relay uses this directory, delete that file`);
      }
      if (holderAlive(held, dir)) {
        throw new LockedError(`data directory ${dir} is in use by another relay (pid ${held.pid} on ${held.host}); stop it first, or give this relay another --data directory`);
      }
      // Stale: its holder is gone. Remove it only if it is still the file we judged. (Two relays
      // taking over one stale lock in the same instant could both succeed: docs/storage.md.)
      const again = await fsp.readFile(path, 'utf8').catch(() => '');
      if (again === text) await fsp.unlink(path).catch(() => undefined);
    }
    throw new LockedError(`data directory ${dir} is locked: could not take ${path}`);
  }

  async release(): Promise<void> {
    heldHere.delete(this.dir);
    const text = await fsp.readFile(this.path, 'utf8').catch(() => '');
    if (parse(text)?.token === this.token) await fsp.unlink(this.path).catch(() => undefined);
  }
}
