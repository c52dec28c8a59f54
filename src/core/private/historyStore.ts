// The local history of a private room (docs/protocol.md §3.8). Old epoch secrets are deleted as
// the group moves on (forward secrecy), so nobody, the sender included, can decrypt a message
// twice: each client keeps what it decrypted (and what it sent) here, encrypted at rest under
// the history key HK (32 random bytes, kept as the other secrets are). One record per line:
//   b64u(nonce(12) || AES-256-GCM(HK, nonce, aad = utf8(room) || 0x00 || u64be(seq), JSON))
// Own messages are stored when they are written, before they are sent, under seq 0; the ack's seq
// follows as a record of its own ({"ack":id}), so a crash between the two loses nothing: an own
// record without an ack is a message still to send (the private room's outbox, §3.3). One that
// goes again under a new id, or that the relay refused, is marked {"gone":id}.
// A delete (§2.3 "Order") purges what it deletes from the store, and an acked edit what it
// replaces (historyPurge.ts): the file is rewritten without it by an atomic replace, batched
// (at most one rewrite per purgeIntervalMs, however many deletes come), and load() already hides
// what a rewrite not done yet (a crash, a failed write) still holds, and schedules it again.
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { aesGcmOpen, aesGcmSeal, aesKey, secureRandom } from '../crypto/primitives';
import type { KeyObject } from 'node:crypto';
import { planPurge, type OpenedLine } from './historyPurge';

export const HISTORY_KEY_BYTES = 32;

/** Where the records live: an append-only file of lines ($SMC_HOME/history/<room>.log, 0600). */
export interface HistoryLog {
  append(line: string): Promise<void>;
  /** Appends `lines` (in order) durably, as one write: when present, a burst costs one sync. */
  appendLines?(lines: string[]): Promise<void>;
  /** Every line, oldest first ([] when there is none). */
  readAll(): Promise<string[]>;
  /**
   * Replaces every line at once (§3.8 "Deletes and edits at rest"): durably and atomically, so
   * that a crash at any point leaves the old lines or the new ones, never a mix or none. The
   * store calls it between its appends, never during one.
   */
  replaceAll(lines: string[]): Promise<void>;
  remove(): Promise<void>;
}

export interface HistoryStoreOptions {
  /**
   * The least time between two rewrites of the log (§3.8): the deletes and edits of a burst,
   * or of a flood, are purged together. The first after a quiet spell is purged at once.
   */
  purgeIntervalMs?: number;
}

/** §3.8: a flood of deletes rewrites a room's history at most once every 2 s. */
export const DEFAULT_PURGE_INTERVAL_MS = 2_000;

/** One message as this member saw it. */
export interface HistoryRecord {
  /** 0 for an own message not acked yet. */
  seq: number;
  ts: number;
  id: string;
  epoch: number;
  /** The MLS sender's identity key, hex (§3.2). */
  sender: string;
  /** The payload P as decrypted (§3.3), a JSON string. */
  p: string;
  /**
   * A delete by its sender purged it (§3.8 "Deletes and edits at rest"): `p` keeps only
   * `{id, ts, name, type: "text", text: ""}`; a UI that does not replay the deletes shows it deleted.
   */
  deleted?: true;
}

const SEPARATOR = Buffer.from([0]);

function aad(room: string, seq: number): Buffer {
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(BigInt(seq));
  return Buffer.concat([Buffer.from(room, 'utf8'), SEPARATOR, n]);
}

export class HistoryStore {
  private readonly key: KeyObject;
  /** Appends in order, one batch at a time (a line is never interleaved with another). */
  private tail: Promise<void> = Promise.resolve();
  /**
   * Lines waiting for the batch in flight: written together by the next append (group commit:
   * a burst of messages costs one sync of the file, not one each).
   */
  private queued: { line: string; done: (err?: unknown) => void }[] = [];
  private readonly purgeIntervalMs: number;
  /** A purge is due: its timer, until it is queued behind the appends. */
  private purgeTimer: ReturnType<typeof setTimeout> | undefined;
  private purgeDue = false;
  /** The purge queued or running, and when the last one ended (the interval counts from it). */
  private purging: Promise<void> | undefined;
  private lastPurgeAt = Number.NEGATIVE_INFINITY;
  /** Own edits not acked yet: their ack makes what they replace purgeable. */
  private readonly ownEdits = new Set<string>();
  /** Rewrites done (for the bound's test and the bench). */
  rewrites = 0;

  constructor(private readonly room: string, key: Uint8Array, private readonly log: HistoryLog, options: HistoryStoreOptions = {}) {
    if (key.length !== HISTORY_KEY_BYTES) throw new Error('a history key is 32 bytes');
    this.key = aesKey(key);
    this.purgeIntervalMs = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  }

  async append(record: HistoryRecord): Promise<void> {
    await this.write(record.seq, record);
    // A delete, or an edit another member's seq ranks (§2.3 "Order"), leaves something to purge.
    const type = typeOf(record.p);
    if (type === 'delete' || (type === 'edit' && record.seq > 0)) this.schedulePurge();
    else if (type === 'edit') this.ownEdits.add(record.id);
  }

  /** The relay stored own message `id` under `seq`. */
  async acked(id: string, seq: number): Promise<void> {
    await this.write(seq, { ack: id, seq });
    if (this.ownEdits.delete(id)) this.schedulePurge();
  }

  /**
   * Runs the purge that is due now, and waits for it (§3.8): a client calls it before it exits,
   * so that what a delete removed is gone from the file, not only from the view. Rejects when
   * the rewrite failed (the old file is then intact, and load() still hides the deleted).
   */
  async flush(): Promise<void> {
    for (;;) {
      await this.tail;
      if (this.purging !== undefined) {
        await this.purging;
        continue;
      }
      if (!this.purgeDue) return;
      if (this.purgeTimer !== undefined) clearTimeout(this.purgeTimer);
      this.purgeTimer = undefined;
      this.startPurge();
    }
  }

  /**
   * Own message `id` will never be acked under that id: it goes again under another one (§3.3,
   * an ended epoch), or the relay refused it. It is no message of the history any more, and no
   * restart sends it again.
   */
  superseded(id: string): Promise<void> {
    return this.write(0, { gone: id });
  }

  /**
   * Every record, oldest seq first, own messages with their acked seq (those never acked keep
   * seq 0, last); a line that does not open (damaged, another room's) is skipped and counted.
   */
  async load(): Promise<{ records: HistoryRecord[]; damaged: number }> {
    await this.tail;
    const opened = await this.readOpened();
    // What a purge not done yet still holds is not shown, and is purged (§3.8).
    const plan = planPurge(opened);
    if (plan.size > 0) this.schedulePurge();
    const byId = new Map<string, HistoryRecord>();
    const acks = new Map<string, number>();
    const gone = new Set<string>();
    let damaged = 0;
    for (let i = 0; i < opened.length; i++) {
      const value = plan.get(i) ?? opened[i]!.value;
      if (value === undefined) {
        damaged++;
        continue;
      }
      if (typeof value.ack === 'string' && typeof value.seq === 'number') acks.set(value.ack, value.seq);
      else if (typeof value.gone === 'string') gone.add(value.gone);
      else if (isRecord(value) && !byId.has(value.id)) byId.set(value.id, value);
    }
    for (const id of gone) if (!acks.has(id)) byId.delete(id);
    const records = [...byId.values()].map((r) => (r.seq === 0 && acks.has(r.id) ? { ...r, seq: acks.get(r.id)! } : r));
    records.sort((a, b) => (a.seq === 0 ? Infinity : a.seq) - (b.seq === 0 ? Infinity : b.seq));
    return { records, damaged };
  }

  /** Every line decrypted, as it is in the log (no purge applied, no ack matched): for tests and audits. */
  async decryptAll(): Promise<{ values: Record<string, unknown>[]; damaged: number }> {
    await this.tail;
    const opened = await this.readOpened();
    const values = opened.flatMap((o) => (o.value !== undefined ? [o.value] : []));
    return { values, damaged: opened.length - values.length };
  }

  remove(): Promise<void> {
    if (this.purgeTimer !== undefined) clearTimeout(this.purgeTimer);
    this.purgeTimer = undefined;
    this.purgeDue = false;
    return this.log.remove();
  }

  private async readOpened(): Promise<(OpenedLine & { line: string })[]> {
    const lines = await this.log.readAll();
    return lines.map((line) => {
      const value = this.open(line);
      const seq = value !== undefined && typeof value.seq === 'number' ? value.seq : 0;
      return value !== undefined ? { line, seq, value } : { line, seq };
    });
  }

  /** A purge is due: at once after a quiet spell, else purgeIntervalMs after the last one. */
  private schedulePurge(): void {
    if (this.purgeDue) return;
    this.purgeDue = true;
    if (this.purging !== undefined) return; // startPurge's end schedules it again
    this.armTimer();
  }

  private armTimer(): void {
    const wait = Math.max(0, this.lastPurgeAt + this.purgeIntervalMs - Date.now());
    this.purgeTimer = setTimeout(() => {
      this.purgeTimer = undefined;
      this.startPurge();
    }, wait);
    // A client that exits calls flush(); one killed purges at its next load().
    this.purgeTimer.unref?.();
  }

  /**
   * Queues the rewrite behind the appends written so far (the log is never appended to while
   * it is replaced): every line read, the plan applied, the lines kept as they were and the
   * purged ones sealed again under the same seq, then one atomic replace.
   */
  private startPurge(): void {
    this.purgeDue = false;
    const run = this.tail.then(async () => {
      const opened = await this.readOpened();
      const plan = planPurge(opened);
      if (plan.size === 0) return;
      await this.log.replaceAll(opened.map((o, i) => {
        const value = plan.get(i);
        return value === undefined ? o.line : this.seal(o.seq, value);
      }));
      this.rewrites++;
    });
    this.tail = run.catch(() => undefined);
    this.purging = run.then(() => undefined, (err: unknown) => {
      // Not done: the next delete, flush() or load() tries again.
      this.purgeDue = true;
      throw err;
    }).finally(() => {
      this.purging = undefined;
      this.lastPurgeAt = Date.now();
      if (this.purgeDue && this.purgeTimer === undefined) this.armTimer();
    });
    this.purging.catch(() => undefined);
  }

  private seal(seq: number, value: object): string {
    const nonce = secureRandom(12);
    const sealed = aesGcmSeal(this.key, nonce, aad(this.room, seq), Buffer.from(JSON.stringify({ ...value, seq }), 'utf8'));
    return encodeB64u(Buffer.concat([nonce, sealed])) + `.${seq}`;
  }

  private write(seq: number, value: object): Promise<void> {
    const line = this.seal(seq, value);
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ line, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.queued.length > 1) return;
      // The first of a batch: it runs after the batch in flight, with whatever queued meanwhile.
      this.tail = this.tail.then(async () => {
        const batch = this.queued;
        this.queued = [];
        try {
          if (this.log.appendLines !== undefined) await this.log.appendLines(batch.map((b) => b.line));
          else for (const b of batch) await this.log.append(b.line);
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err ?? new Error('history write failed'));
        }
      });
    });
  }

  private open(line: string): Record<string, unknown> | undefined {
    const dot = line.lastIndexOf('.');
    if (dot < 0) return undefined;
    const seq = Number(line.slice(dot + 1));
    if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
    let bytes: Buffer;
    try {
      bytes = decodeB64u(line.slice(0, dot));
    } catch {
      return undefined;
    }
    if (bytes.length < 12 + 16) return undefined;
    const plain = aesGcmOpen(this.key, bytes.subarray(0, 12), aad(this.room, seq), bytes.subarray(12));
    if (plain === undefined) return undefined;
    try {
      const value = JSON.parse(plain.toString('utf8')) as unknown;
      if (typeof value !== 'object' || value === null || (value as { seq?: unknown }).seq !== seq) return undefined;
      return value as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
}

/** The payload type of a record's P, or undefined (a control message, or P not JSON). */
function typeOf(p: string): string | undefined {
  try {
    const v = JSON.parse(p) as unknown;
    return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string' ? (v as { type: string }).type : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(v: Record<string, unknown>): v is Record<string, unknown> & HistoryRecord {
  return typeof v.seq === 'number' && typeof v.ts === 'number' && typeof v.id === 'string' && typeof v.epoch === 'number' &&
    typeof v.sender === 'string' && typeof v.p === 'string';
}

/** A history log in memory, for tests and for a session that must leave no trace. */
export class MemoryHistoryLog implements HistoryLog {
  lines: string[] = [];
  append(line: string): Promise<void> {
    this.lines.push(line);
    return Promise.resolve();
  }
  readAll(): Promise<string[]> {
    return Promise.resolve([...this.lines]);
  }
  replaceAll(lines: string[]): Promise<void> {
    this.lines = [...lines];
    return Promise.resolve();
  }
  remove(): Promise<void> {
    this.lines = [];
    return Promise.resolve();
  }
}
