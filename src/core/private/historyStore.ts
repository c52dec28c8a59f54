// The local history of a private room (docs/protocol.md §3.8). Old epoch secrets are deleted as
// the group moves on (forward secrecy), so nobody, the sender included, can decrypt a message
// twice: each client keeps what it decrypted (and what it sent) here, encrypted at rest under
// the history key HK (32 random bytes, kept as the other secrets are). One record per line:
//   b64u(nonce(12) || AES-256-GCM(HK, nonce, aad = utf8(room) || 0x00 || u64be(seq), JSON))
// Own messages are stored when they are written, before they are sent, under seq 0; the ack's seq
// follows as a record of its own ({"ack":id}), so a crash between the two loses nothing: an own
// record without an ack is a message still to send (the private room's outbox, §3.3). One that
// goes again under a new id, or that the relay refused, is marked {"gone":id}.
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { aesGcmOpen, aesGcmSeal, aesKey, secureRandom } from '../crypto/primitives';
import type { KeyObject } from 'node:crypto';

export const HISTORY_KEY_BYTES = 32;

/** Where the records live: an append-only file of lines ($SMC_HOME/history/<room>.log, 0600). */
export interface HistoryLog {
  append(line: string): Promise<void>;
  /** Appends `lines` (in order) durably, as one write: when present, a burst costs one sync. */
  appendLines?(lines: string[]): Promise<void>;
  /** Every line, oldest first ([] when there is none). */
  readAll(): Promise<string[]>;
  remove(): Promise<void>;
}

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

  constructor(private readonly room: string, key: Uint8Array, private readonly log: HistoryLog) {
    if (key.length !== HISTORY_KEY_BYTES) throw new Error('a history key is 32 bytes');
    this.key = aesKey(key);
  }

  append(record: HistoryRecord): Promise<void> {
    return this.write(record.seq, record);
  }

  /** The relay stored own message `id` under `seq`. */
  acked(id: string, seq: number): Promise<void> {
    return this.write(seq, { ack: id, seq });
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
    const lines = await this.log.readAll();
    const byId = new Map<string, HistoryRecord>();
    const acks = new Map<string, number>();
    const gone = new Set<string>();
    let damaged = 0;
    for (const line of lines) {
      const value = this.open(line);
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

  remove(): Promise<void> {
    return this.log.remove();
  }

  private write(seq: number, value: object): Promise<void> {
    const nonce = secureRandom(12);
    const sealed = aesGcmSeal(this.key, nonce, aad(this.room, seq), Buffer.from(JSON.stringify({ ...value, seq }), 'utf8'));
    const line = encodeB64u(Buffer.concat([nonce, sealed])) + `.${seq}`;
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
  remove(): Promise<void> {
    this.lines = [];
    return Promise.resolve();
  }
}
