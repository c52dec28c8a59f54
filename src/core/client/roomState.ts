// What the client's parts share about each joined room, and what each request id waits for.
// Data only: the room sync (roomSync.ts) drives `sync`, the opener (opener.ts) decides what is
// shown, the sender (sender.ts) reads `joined` and `refused`; RelayClient owns the map.
import type { PreparedOpen, RoomCipher } from '../crypto/index';
import type { RecentIds } from './recentIds';
import type { SeqTracker } from './seqTracker';
import type { ShownWindow } from './shownWindow';
import type { ChatMessage, UnverifiableMessage } from './types';

/**
 * A message opened (or not), ready to be shown (or held while its room catches up, then shown
 * in seq order). `solicited`: the message came in answer to this client's join or history
 * request, so an id shown in an earlier run may legitimately come again (§2.8 across restarts,
 * see Opener.show()).
 */
export type Opened =
  | { kind: 'msg'; seq?: number; message: ChatMessage; solicited?: boolean }
  | { kind: 'bad'; seq?: number; bad: UnverifiableMessage };

/** A catch-up message past §2.4 steps 1-2 whose signature (step 3) the verifier is checking. */
export interface VerifyingItem {
  kind: 'verifying';
  seq: number;
  prepared: PreparedOpen;
  /** Decided on arrival, as for a message opened at once. */
  history: boolean;
  /** The verifier's answer (step 3), once it came. */
  valid?: boolean;
}

/** What a catch-up holds until it is shown. */
export type CatchUpItem = Opened | VerifyingItem;

/** One join's catch-up (§1.4) and the history pages it asks for (§1.6). */
export interface SyncState {
  rid: number;
  /** `since` sent in the join. */
  since: number;
  /** The join's `limit` as the relay counts it (§1.4: at most LIMITS.maxLimit). */
  limit: number;
  /**
   * Where the join's reply is (§1.4): before `joined` (what comes is an earlier join's reply or
   * live), between `joined` and `synced` (only stored messages with since < seq ≤ head, at most
   * `limit`), then paging back (history pages, and live messages with seq > head).
   */
  phase: 'joining' | 'catchup' | 'paging';
  /** Messages of the join's catch-up so far. */
  caughtUp: number;
  /** Messages before `joined` and live messages while paging, held in `items` (bounded). */
  extra: number;
  /** Nothing seen before: load only the newest `initialHistory` (§1.4 `limit`). */
  fresh: boolean;
  items: CatchUpItem[];
  /** rid of the latest step (the join, then each history page) whose end decides what follows. */
  stepRid: number;
  /** `before` of that step: its messages have lower seqs (the join's: head + 1). */
  stepBefore: number;
  /** The page after that step is already asked for (prefetched on its first message). */
  successor: boolean;
  /** `limit` of that step: how many of its messages may still come. */
  stepLimit: number;
  /** Prepared messages not yet handed to the verifier. */
  unsent: VerifyingItem[];
  /** Batches at the verifier; they settle once every item of theirs has `valid` (never reject). */
  batches: Promise<void>[];
}

export interface RoomState {
  room: string;
  name: string;
  cipher: RoomCipher;
  seqs: SeqTracker;
  savedSeq: number;
  seen: RecentIds;
  /** Ids shown in this and earlier runs, with their seqs, kept across restarts (§2.8). */
  shown: ShownWindow;
  joined: boolean;
  /**
   * The relay refused this room's join proof (§1.9: auth_required / auth_failed). Not retried,
   * not even after a reconnect, until the user joins the room again.
   */
  refused?: string;
  sync?: SyncState;
  head: number;
  /** Lowest seq shown, for loadOlder (§1.6 `before`). */
  oldest: number;
  more: boolean;
  sid?: string;
  lastTypingAt: number;
  gapFilling: boolean;
  /**
   * Set while a finished catch-up waits for its signatures: what would be shown meanwhile (live
   * messages, a later catch-up) waits here, in arrival order, and is shown after it.
   */
  waiting?: (() => void)[];
}

/** Why a history request was sent (§1.6): a catch-up page, loadOlder, or a live gap. */
export type HistoryPurpose = 'sync' | 'older' | 'gap';

export interface HistoryRequest {
  kind: 'history'; room: string; purpose: HistoryPurpose; before: number;
  /** As the relay counts it (§1.6: at least 1, at most LIMITS.maxLimit). */
  limit: number;
  /** Messages of its page so far (§1.6: at most `limit`, every seq < `before`). */
  received: number;
  resolve?: (r: { more: boolean }) => void; reject?: (e: Error) => void;
}

/** What the reply to one request id (§1.2 `rid`) settles; the link keeps them per connection. */
export type OpenRequest =
  | { kind: 'join'; room: string }
  | { kind: 'send'; room: string; id: string }
  | { kind: 'eph' }
  | { kind: 'ping' }
  | { kind: 'leave'; resolve: () => void }
  | HistoryRequest;
