// File-backed stores for the terminal client (docs/security.md "Where keys live"; docs/protocol.md §2.1: "the terminal
// client [keeps keys] in a file of mode 0600"). Both live in $SMC_HOME (default ~/.config/smc),
// a directory of mode 0700:
//   secrets.json  the SecretStore: identity seed and room keys, mode 0600. A secrets file that
//                 group or others can read is refused, as ssh refuses a private key.
//   state.json    the StateStore: room list, known keys, last display name; not secret, 0600 too.
//   outbox/ROOM/  the OutboxStore: one file per message the relay has not acked yet (its sealed
//                 envelope and id, never its text), 0600 in 0700 directories; removed on ack.
// Every write replaces the file atomically (temp file in the same directory, fsync, rename,
// fsync of the directory), so a crash or a full disk leaves the old file or the new one, never
// a partial one.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { lstat, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CoalescedWriter } from '../core/keys/coalescedWriter';
import { OutboxStore, PendingEnvelope, SecretStore, StateStore } from '../core/keys/stores';

export const SECRETS_FILE = 'secrets.json';
export const STATE_FILE = 'state.json';
export const OUTBOX_DIR = 'outbox';
const POSIX = process.platform !== 'win32';

/**
 * Why FileStoreError refuses a path: not a directory or not a regular file, permissions that let
 * others in, another user's file, or a file that is not a JSON object.
 */
export type FileStoreErrorCode = 'not_a_directory' | 'not_a_file' | 'too_open' | 'other_owner' | 'not_json';

/** A store file or directory SMC refuses to use; the message says why and how to fix it. */
export class FileStoreError extends Error {
  constructor(readonly code: FileStoreErrorCode, message: string) {
    super(message);
    this.name = 'FileStoreError';
  }
}

/** $SMC_HOME, or ~/.config/smc. */
export function smcHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.SMC_HOME;
  return home !== undefined && home.length > 0 ? home : join(homedir(), '.config', 'smc');
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Creates the directory with mode 0700 if it is missing. An existing directory that others can
 * write to is refused: whoever can write there can replace the key file.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new FileStoreError('not_a_directory', `'${dir}' is not a directory.`);
  if (POSIX && (st.mode & 0o022) !== 0) {
    throw new FileStoreError('too_open',
      `Permissions ${octal(st.mode)} for '${dir}' are too open: others can replace the files in it.\n` +
        `Fix with: chmod 700 '${dir}'`);
  }
}

/**
 * Checks a key file as ssh checks a private key: a regular file (not a symlink), owned by this
 * user, that neither group nor others can access.
 */
function checkPrivateFile(path: string, st: { mode: number; uid: number; isFile(): boolean }): void {
  if (!st.isFile()) throw new FileStoreError('not_a_file', `'${path}' is not a regular file; SMC will not read keys from it.`);
  if (!POSIX) return;
  if ((st.mode & 0o077) !== 0) {
    throw new FileStoreError('too_open',
      `Permissions ${octal(st.mode)} for '${path}' are too open.\n` +
        'It is required that your key files are NOT accessible by others.\n' +
        `Fix with: chmod 600 '${path}'`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new FileStoreError('other_owner', `'${path}' belongs to another user (uid ${st.uid}); SMC will not use it.`);
  }
}

/** Test hooks for writeFileAtomic: lets a test fail a write at the worst moment. */
export interface AtomicWriteHooks {
  /** Runs after the temp file is written and synced, before the rename. */
  beforeRename?: () => void | Promise<void>;
}

/**
 * Replaces `path` with `data` atomically: temp file (mode 0600, created exclusively) in the
 * same directory, fsync, rename over `path`, fsync of the directory so the rename itself is
 * durable. On failure the temp file is removed and `path` is unchanged.
 */
export async function writeFileAtomic(path: string, data: string, hooks: AtomicWriteHooks = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await hooks.beforeRename?.();
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  if (POSIX) {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/** A temp file (writeFileAtomic's, an outbox entry's) older than this is a crashed writer's. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Removes temp files a crashed writer left behind (they never hold the only copy of anything).
 * Young ones are left: they may be another store's write in flight (another process, or another
 * store on the same folder in this one), whose rename would fail if its temp went.
 */
export function removeStaleTemps(dir: string, file: string): void {
  const prefix = `.${file}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(prefix) && n.endsWith('.tmp')) {
      try {
        if (Date.now() - lstatSync(join(dir, n)).mtimeMs > STALE_TEMP_MS) unlinkSync(join(dir, n));
      } catch {
        // Another process may have just renamed or removed it.
      }
    }
  }
}

function parseObject(path: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FileStoreError('not_json',
      `'${path}' is not a JSON object; SMC will not overwrite it. Move it away to start over ` +
        '(the keys or settings in it are then lost).');
  }
  return value as Record<string, unknown>;
}

/** Sets an own property, even one named "__proto__" (plain assignment would change the prototype). */
function setOwn(obj: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The terminal's SecretStore: secrets.json in `dir`. Each call reads the file again (another
 * `smc` process may have added a room key), checking its permissions every time; writes are
 * serialized within this process. Two processes writing at the same instant can still lose one
 * update (last rename wins); the next write of the loser's value repairs it.
 */
export class FileSecretStore implements SecretStore {
  readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string = smcHome()) {
    ensurePrivateDir(dir);
    this.path = join(dir, SECRETS_FILE);
    removeStaleTemps(dir, SECRETS_FILE);
    // Refuse a file with wide permissions at once, not at the first key lookup.
    try {
      checkPrivateFile(this.path, lstatSync(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  private async read(): Promise<Record<string, string>> {
    let st;
    try {
      st = await lstat(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
    checkPrivateFile(this.path, st);
    const obj = parseObject(this.path, await readFile(this.path, 'utf8'));
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj)) if (typeof v === 'string') setOwn(out, k, v);
    return out;
  }

  private serialized<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  get(key: string): Promise<string | undefined> {
    return this.serialized(async () => {
      const all = await this.read();
      return Object.hasOwn(all, key) ? all[key] : undefined;
    });
  }

  store(key: string, value: string): Promise<void> {
    return this.serialized(async () => {
      const all = await this.read();
      setOwn(all, key, value);
      await writeFileAtomic(this.path, JSON.stringify(all, null, 2) + '\n');
    });
  }

  delete(key: string): Promise<void> {
    return this.serialized(async () => {
      const all = await this.read();
      if (!Object.hasOwn(all, key)) return;
      delete all[key];
      await writeFileAtomic(this.path, JSON.stringify(all, null, 2) + '\n');
    });
  }
}

/**
 * The terminal's StateStore (the shape of vscode.Memento): state.json in `dir`, read once at
 * construction, kept in memory, written through atomically; bursts of updates coalesce into
 * at most one write in flight and one queued.
 */
export class FileStateStore implements StateStore {
  readonly path: string;
  private readonly values: Map<string, string>;
  private readonly writer: CoalescedWriter;

  constructor(readonly dir: string = smcHome()) {
    ensurePrivateDir(dir);
    this.path = join(dir, STATE_FILE);
    removeStaleTemps(dir, STATE_FILE);
    let obj: Record<string, unknown> = {};
    try {
      obj = parseObject(this.path, readFileSync(this.path, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // Values are kept as JSON text, so get() hands out copies, as a Memento does.
    this.values = new Map(Object.entries(obj).map(([k, v]) => [k, JSON.stringify(v)]));
    this.writer = new CoalescedWriter(() => writeFileAtomic(this.path, this.serialize()));
  }

  get<T>(key: string): T | undefined {
    const v = this.values.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, JSON.stringify(value));
    return this.writer.schedule();
  }

  private serialize(): string {
    const obj = Object.fromEntries([...this.values].map(([k, v]) => [k, JSON.parse(v) as unknown]));
    return JSON.stringify(obj, null, 2) + '\n';
  }
}

/** Room ids and message ids are base64url (docs/protocol.md §1.4, §1.5): safe as file names. */
const B64U_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** outbox/ROOM/<order>.<id>.json: the order (16 digits, ms and a counter) sorts as sent. */
const OUTBOX_FILE = /^(\d{16})\.([A-Za-z0-9_-]{1,64})\.json$/;
/** An outbox entry is one envelope (at most a 1 MiB frame, docs/protocol.md §1.1) in JSON: anything larger is not ours. */
const OUTBOX_ENTRY_MAX_BYTES = 2 * 1024 * 1024;

/**
 * The terminal's OutboxStore (docs/protocol.md §1.5): $SMC_HOME/outbox/ROOM/, one file per
 * un-acked message, written atomically (writeFileAtomic: fsync, rename, fsync of the directory)
 * before its send goes out, unlinked on its ack. A file per message, so that two `smc chat`
 * processes on one $SMC_HOME never overwrite each other's, and an add never rewrites the rest.
 * Files that are not ours in shape (a name, a mode, an owner, a JSON) are skipped, not trusted:
 * RelayClient also sends only envelopes this identity signed for the room.
 */
export class FileOutboxStore implements OutboxStore {
  readonly dir: string;
  /** The file of each message this process saved or loaded, by room/id. */
  private readonly files = new Map<string, string>();
  private lastOrder = 0;

  constructor(home: string = smcHome(), private readonly log: (problem: string) => void = () => undefined) {
    ensurePrivateDir(home);
    this.dir = join(home, OUTBOX_DIR);
  }

  private roomDir(room: string): string {
    if (!B64U_NAME.test(room)) throw new Error(`not a room id: ${JSON.stringify(room.slice(0, 64))}`);
    return join(this.dir, room);
  }

  load(room: string): PendingEnvelope[] {
    const dir = this.roomDir(room);
    let names: string[];
    try {
      // The folder itself must be ours too: a link would send, and then unlink, files elsewhere.
      const st = lstatSync(dir);
      if (st.isSymbolicLink() || !st.isDirectory()) {
        this.log(`skipped ${dir}: ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, not an outbox SMC wrote`);
        return [];
      }
      names = readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    // Temp files a crashed writer left (never the only copy of anything: the rename did not
    // happen, so the send never went out); young ones may be another process's write.
    for (const n of names) {
      if (!n.startsWith('.') || !n.endsWith('.tmp')) continue;
      try {
        if (Date.now() - lstatSync(join(dir, n)).mtimeMs > STALE_TEMP_MS) unlinkSync(join(dir, n));
      } catch {
        // gone already
      }
    }
    const out: PendingEnvelope[] = [];
    for (const name of names.filter((n) => OUTBOX_FILE.test(n)).sort()) {
      const path = join(dir, name);
      const id = OUTBOX_FILE.exec(name)![2]!;
      try {
        const st = lstatSync(path);
        checkPrivateFile(path, st);
        if (st.size > OUTBOX_ENTRY_MAX_BYTES) throw new Error(`larger than any envelope (${st.size} bytes); not read`);
        const v = parseObject(path, readFileSync(path, 'utf8'));
        if (v.room !== room || v.id !== id || typeof v.body !== 'string') throw new Error('not an outbox entry of this room');
        this.files.set(`${room}/${id}`, path);
        out.push({ room, id, body: v.body });
      } catch (e) {
        this.log(`skipped ${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return out;
  }

  async save(e: PendingEnvelope): Promise<void> {
    if (!B64U_NAME.test(e.id)) throw new Error('not a message id');
    const dir = this.roomDir(e.room);
    ensurePrivateDir(this.dir);
    ensurePrivateDir(dir);
    this.lastOrder = Math.max(Date.now() * 1000, this.lastOrder + 1);
    const path = join(dir, `${String(this.lastOrder).padStart(16, '0')}.${e.id}.json`);
    await writeFileAtomic(path, JSON.stringify({ room: e.room, id: e.id, body: e.body }) + '\n');
    this.files.set(`${e.room}/${e.id}`, path);
  }

  async remove(room: string, id: string): Promise<void> {
    const k = `${room}/${id}`;
    const path = this.files.get(k);
    if (path === undefined) return;
    this.files.delete(k);
    // Another process on this $SMC_HOME may have had the same ack first.
    await unlink(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  async forget(room: string): Promise<void> {
    for (const k of [...this.files.keys()]) if (k.startsWith(`${room}/`)) this.files.delete(k);
    await rm(this.roomDir(room), { recursive: true, force: true });
  }
}
