// The messages of a join's catch-up (PROTOCOL.md §1.4) or a history page (§1.6): the newest
// `limit` stored messages with `after < seq < before`, as encoded msg frames, oldest first,
// cut where the reply would overflow the connection's output bound (§1.4, §1.6: the relay MAY
// send fewer, always the newest). Reads in chunks, newest first, so a cut reply never reads
// more from disk than it sends plus one chunk.
import { encodeFrame } from '../core/wire/codec';
import type { MessageStore, StoredMessage } from './store/types';

/** Messages read from the store per call. */
const READ_CHUNK = 128;

export interface Reply {
  /** Encoded msg frames, oldest first. */
  frames: string[];
  count: number;
  /** Lowest and highest seq sent (0 when none). */
  from: number;
  to: number;
}

/**
 * `budget` is how many bytes the reply may take; `stillWanted()` lets a reader stop early
 * when the connection closed meanwhile.
 */
export async function readNewest(
  store: MessageStore, room: string, after: number, before: number, limit: number, budget: number,
  stillWanted: () => boolean,
): Promise<Reply> {
  const newestFirst: string[] = [];
  let bytes = 0;
  let upper = before;
  let from = 0;
  let to = 0;
  let full = false;
  while (!full && newestFirst.length < limit && upper > after + 1) {
    const want = Math.min(READ_CHUNK, limit - newestFirst.length);
    const batch: StoredMessage[] = await store.range(room, after, upper, want);
    if (!stillWanted() || batch.length === 0) break;
    for (let i = batch.length - 1; i >= 0; i--) {
      const m = batch[i] as StoredMessage;
      const data = encodeFrame({ t: 'msg', room, seq: m.seq, ts: m.ts, id: m.id, body: m.body });
      if (bytes + data.length > budget) {
        full = true;
        break;
      }
      bytes += data.length;
      newestFirst.push(data);
      if (to === 0) to = m.seq;
      from = m.seq;
    }
    upper = (batch[0] as StoredMessage).seq;
    if (batch.length < want) break;
  }
  return { frames: newestFirst.reverse(), count: newestFirst.length, from, to };
}
