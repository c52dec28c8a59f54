// A MessageStore in memory, for tests that run a RelayServer in-process (the relay program
// itself always uses FileStore). Appends resolve on a later tick, like a group commit, in
// order; a duplicate id resolves with the first copy's place once that copy "is durable".
import type { AppendResult, MessageStore, StoredMessage } from '../../src/relay/store/types';

export class MemoryStore implements MessageStore {
  private readonly rooms = new Map<string, StoredMessage[]>();
  private readonly ids = new Map<string, Promise<AppendResult>>();
  /** When set, the next appends reject with this error (a full disk, say). */
  failAppends: Error | undefined;

  async open(): Promise<void> {}

  append(room: string, id: string, body: string): Promise<AppendResult> {
    if (this.failAppends) return Promise.reject(this.failAppends);
    const key = `${room}/${id}`;
    const first = this.ids.get(key);
    if (first) return first.then((r) => ({ ...r, duplicate: true }));
    const result = new Promise<AppendResult>((resolve) => {
      setImmediate(() => {
        let list = this.rooms.get(room);
        if (!list) this.rooms.set(room, (list = []));
        const m = { seq: list.length + 1, ts: Date.now(), id, body };
        list.push(m);
        resolve({ seq: m.seq, ts: m.ts, duplicate: false });
      });
    });
    this.ids.set(key, result);
    return result;
  }

  head(room: string): number {
    return this.rooms.get(room)?.length ?? 0;
  }

  async range(room: string, after: number, before: number, limit: number): Promise<StoredMessage[]> {
    const list = (this.rooms.get(room) ?? []).filter((m) => m.seq > after && m.seq < before);
    return limit === 0 ? [] : list.slice(-limit);
  }

  oldest(room: string): number {
    return this.rooms.get(room)?.length ? 1 : this.head(room) + 1;
  }

  async close(): Promise<void> {}
}
