// The terminal's history log of a private room (docs/protocol.md §3.8): $SMC_HOME/history/<room>.log,
// one encrypted record per line, mode 0600 in a directory of mode 0700. Appends only; a record
// is one write of its lines (a batch of them, group commit), synced, so a crash leaves whole lines (a torn last line does not
// open and is skipped by the reader). A purge (§3.8 "Deletes and edits at rest") replaces the
// whole file atomically (writeFileAtomic: temp file, fsync, rename, fsync of the directory), so a
// crash leaves the old file or the new one; a temp file a crash left behind is removed on open.
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryLog } from '../core/private/historyStore';
import { smcHome, writeFileAtomic, type AtomicWriteHooks } from './fileStores';

const ROOM_ID = /^[A-Za-z0-9_-]{22}$/;

export class FileHistoryLog implements HistoryLog {
  readonly path: string;

  /** `hooks`: for tests, a failure (or a kill) between the temp file's sync and the rename. */
  constructor(room: string, home: string = smcHome(), private readonly hooks: AtomicWriteHooks = {}) {
    if (!ROOM_ID.test(room)) throw new Error('not a room id');
    const dir = join(home, 'history');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, `${room}.log`);
    removeStaleTemps(dir, `${room}.log`);
  }

  async replaceAll(lines: string[]): Promise<void> {
    await writeFileAtomic(this.path, lines.map((l) => l + '\n').join(''), this.hooks);
  }

  append(line: string): Promise<void> {
    return this.appendLines([line]);
  }

  async appendLines(lines: string[]): Promise<void> {
    const f = await open(this.path, 'a', 0o600);
    try {
      await f.chmod(0o600);
      await f.write(lines.map((l) => l + '\n').join(''));
      await f.sync();
    } finally {
      await f.close();
    }
  }

  async readAll(): Promise<string[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return text.split('\n').filter((l) => l.length > 0);
  }

  async remove(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** writeFileAtomic's temp files (`.<room>.log.<hex>.tmp`) a crashed rewrite left: never the only copy. */
function removeStaleTemps(dir: string, file: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(`.${file}.`) || !n.endsWith('.tmp')) continue;
    try {
      unlinkSync(join(dir, n));
    } catch {
      // Another process may have just renamed or removed it.
    }
  }
}
