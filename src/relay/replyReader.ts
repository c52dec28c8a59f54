// The messages of a join's catch-up (docs/protocol.md §1.4) or a history page (§1.6): the newest
// `limit` stored messages with `after < seq < before`, as msg frames, oldest first, streamed
// from disk as the connection drains (§1.7 slow readers). Nothing of a reply is held beyond the
// chunk being written: the next chunk is read only once the connection's queue is back under
// REPLY_LOW_WATER and the relay's global output budget (outputBudget.ts) grants the chunk's
// worst-case size. A client that never reads therefore holds at most about one chunk in the
// relay, whatever the size of the reply.
import { encodeStoredMsg } from '../core/wire/relayFrames';
import type { RoomLog } from './store/distributed';
import type { StoredMessage } from './store/types';

/** The connection's queue must be at most this before the next chunk is read. */
export const REPLY_LOW_WATER = 64 * 1024;
/** A chunk's worst case (messages × maxFrame) stays near this: what one stalled reply holds. */
export const REPLY_CHUNK_BYTES = 1024 * 1024;
/** Messages per chunk at most (small messages: fewer store calls). */
const MAX_CHUNK_MESSAGES = 128;

/** What a reply needs from the relay's global output budget (OutputBudget). */
export interface ReplyBudget {
  reserve(bytes: number, stillWanted: () => boolean): Promise<boolean>;
  unreserve(bytes: number): void;
}

/** Where a reply goes: a connection. */
export interface ReplyTarget {
  readonly closed: boolean;
  write(data: string | Buffer): void;
  whenOutputBelow(bytes: number): Promise<void>;
}

export interface ReplyResult {
  count: number;
  /** Lowest and highest seq sent (0 when none). */
  from: number;
  to: number;
}

/**
 * Messages per chunk: a chunk is at most about REPLY_CHUNK_BYTES, and at most a quarter of the
 * connection's own bound, so that a chunk written onto a full socket never trips it (§1.7).
 */
export function chunkMessages(maxFrame: number, maxOutput: number): number {
  const bytes = Math.min(REPLY_CHUNK_BYTES, Math.floor(maxOutput / 4));
  return Math.max(1, Math.min(MAX_CHUNK_MESSAGES, Math.floor(bytes / maxFrame)));
}

/**
 * Streams the reply to `target`. `stillWanted()` turns false when the reply should stop (the
 * connection closed, or left the room). Rejects when the store cannot read.
 */
export async function streamNewest(
  store: RoomLog, room: string, after: number, before: number, limit: number,
  target: ReplyTarget, budget: ReplyBudget, maxFrame: number, maxOutput: number, stillWanted: () => boolean,
): Promise<ReplyResult> {
  const result: ReplyResult = { count: 0, from: 0, to: 0 };
  const hi = Math.min(before - 1, store.head(room));
  // Seqs are dense from the oldest retained to head (§1.5), so the newest `limit` start here; a
  // seq missing from the store (compacted meanwhile, or a damaged record) is just not sent,
  // which §1.4/§1.6 allow ("MAY send fewer, always the newest").
  let cursor = Math.max(after + 1, await store.oldest(room), hi - limit + 1);
  const perChunk = chunkMessages(maxFrame, maxOutput);
  while (cursor <= hi) {
    await target.whenOutputBelow(REPLY_LOW_WATER);
    if (target.closed || !stillWanted()) break;
    const n = Math.min(perChunk, hi - cursor + 1);
    const reserved = n * maxFrame;
    if (!(await budget.reserve(reserved, () => !target.closed && stillWanted()))) break;
    let batch: StoredMessage[];
    try {
      // The window (cursor - 1, cursor + n) holds at most n seqs, so all of them come back.
      batch = await store.range(room, cursor - 1, cursor + n, n);
    } finally {
      // Given back before the frames are written: from here on they count as queued output.
      budget.unreserve(reserved);
    }
    if (target.closed || !stillWanted()) break;
    for (const m of batch) {
      target.write(encodeStoredMsg(room, m.seq, m.ts, m.id, m.body, m.epoch));
      if (result.count === 0) result.from = m.seq;
      result.to = m.seq;
      result.count++;
    }
    cursor += n;
  }
  return result;
}
