// Retention of the cluster store (docs/protocol.md §1.6: keep at least `retain` newest messages per
// room). After its commits, a relay notes rooms that have grown a slack beyond `retain`, and a
// background task trims them oldest first, in small batches of one short transaction each: a
// range delete on the primary key (room, seq), far below the head where appends insert, so it
// never waits for nor blocks an append, and no transaction holds many row locks for long. A
// transaction-level advisory lock per room lets one relay trim a room while the others skip it.
// Deleted rows are reclaimed by (auto)vacuum.
import type { Database } from './database';

export interface RetentionOptions {
  retain: number;
  /** Rows deleted per transaction (default 1 000). */
  batchRows?: number;
  /** Trim a room once it holds this many more than `retain` (default max(100, retain / 10)). */
  slack?: number;
}

export class Retention {
  private readonly retain: number;
  private readonly batchRows: number;
  private readonly slack: number;
  /** Lowest seq still stored, as far as this relay knows, per room it wrote to. */
  private readonly oldestKnown = new Map<string, number>();
  private readonly due = new Map<string, number>();
  private running: Promise<void> | undefined;
  private stopped = false;
  deleted = 0;

  constructor(
    private readonly db: Database,
    options: RetentionOptions,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
  ) {
    if (!Number.isSafeInteger(options.retain) || options.retain < 1) throw new RangeError(`retain must be an integer ≥ 1, got ${options.retain}`);
    this.retain = options.retain;
    this.batchRows = options.batchRows ?? 1_000;
    this.slack = options.slack ?? Math.max(100, Math.floor(options.retain / 10));
  }

  /** Heads after a commit. */
  noteHeads(heads: Map<string, number>): void {
    for (const [room, head] of heads) {
      const oldest = this.oldestKnown.get(room) ?? 1;
      if (head - oldest + 1 > this.retain + this.slack) this.due.set(room, head);
    }
    if (this.due.size > 0) this.kick();
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.due.size > 0 && this.db.state === 'up') setImmediate(() => this.kick());
    });
  }

  /** Trims every room that is due (for tests and operators: await it). */
  async runNow(room?: string, head?: number): Promise<void> {
    if (room !== undefined && head !== undefined) this.due.set(room, head);
    await this.running;
    this.kick();
    await this.running;
  }

  private async drain(): Promise<void> {
    while (this.due.size > 0 && !this.stopped && this.db.state === 'up') {
      const [room, head] = this.due.entries().next().value as [string, number];
      this.due.delete(room);
      try {
        await this.trim(room, head);
      } catch (err) {
        this.log('pg.retention_failed', { room, error: err instanceof Error ? err.message : String(err) });
        return;
      }
    }
  }

  private async trim(room: string, head: number): Promise<void> {
    const cutoff = head - this.retain; // delete seq ≤ cutoff
    const first = await this.db.query<{ seq: string }>('SELECT seq FROM smc_messages WHERE room = $1 ORDER BY seq LIMIT 1', [room]);
    let lo = Number(first[0]?.seq ?? cutoff + 1);
    this.oldestKnown.set(room, lo);
    let removed = 0;
    while (lo <= cutoff && !this.stopped) {
      const hi = Math.min(cutoff, lo + this.batchRows - 1);
      const done = await this.db.transaction(async (client) => {
        const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtextextended('smc-retention:' || $1, 0)) AS ok", [room]);
        if (lock.rows[0]?.ok !== true) return -1;
        const result = await client.query('DELETE FROM smc_messages WHERE room = $1 AND seq >= $2 AND seq <= $3', [room, lo, hi]);
        return result.rowCount ?? 0;
      });
      if (done < 0) return; // another relay is trimming this room
      removed += done;
      lo = hi + 1;
      this.oldestKnown.set(room, lo);
    }
    this.deleted += removed;
    if (removed > 0) this.log('pg.retention', { room, removed, oldest: lo });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
