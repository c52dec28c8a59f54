// The chat panel's view model: a pure reducer over what the host sends, plus the derived
// views the renderer needs (groups by sender, the unread marker). No DOM, so it is tested in
// plain Node (test/unit/webview-model.test.ts).
//
// The webview keeps a bounded window of the room's timeline (WEBVIEW_LIMITS.windowSize items);
// the host holds the whole timeline and pages it out on request. `hasOlder`/`hasNewer` say
// whether the window has been cut at either end.
import {
  WEBVIEW_LIMITS,
  type ChatItem,
  type ConnectionView,
  type PanelSnapshot,
  type PresenceView,
  type RoomView,
} from '../src/shared/messages';

export interface TypingView { name: string; shortFingerprint: string; until: number; keyChanged?: boolean }

export interface ViewState {
  room?: RoomView;
  connection: ConnectionView;
  relay: string;
  items: ChatItem[];
  hasOlder: boolean;
  hasNewer: boolean;
  presence: PresenceView;
  /** The unread marker sits before the first received item with a seq above this. */
  markerSeq: number;
  /** Highest seq the user has seen (reported to the host with markRead). */
  lastReadSeq: number;
  selfName: string;
  selfShortFingerprint?: string;
  typing: TypingView[];
  /** Messages that arrived while the window was cut at the newest end (not shown yet). */
  pendingNewer: number;
}

export type Action =
  | { type: 'snapshot'; snapshot: PanelSnapshot }
  /** `seen`: the reader watches the live end, so the item is read as it arrives (no marker). */
  | { type: 'item'; room: string; item: ChatItem; seen?: boolean; update?: boolean }
  /** A window around one item (a reply's original, a search result), replacing the window. */
  | { type: 'around'; items: ChatItem[]; hasOlder: boolean; hasNewer: boolean }
  /** The timeline's tail, replacing a window cut at the newest end ("Jump to newest"). */
  | { type: 'newest'; items: ChatItem[]; hasOlder: boolean }
  /** A snapshot of the room shown, while the reader is scrolled up: fresh copies of the window. */
  | { type: 'refresh'; snapshot: PanelSnapshot; items: ChatItem[]; hasOlder: boolean; hasNewer: boolean }
  | { type: 'older'; items: ChatItem[]; hasOlder: boolean }
  | { type: 'newer'; items: ChatItem[]; hasNewer: boolean }
  | { type: 'presence'; room: string; presence: PresenceView }
  | { type: 'typing'; room: string; name: string; shortFingerprint: string; keyChanged?: boolean; now: number }
  | { type: 'tick'; now: number }
  | { type: 'connection'; state: ConnectionView; relay: string }
  | { type: 'read'; seq: number };

/** How long a typing indicator stays without a refresh (the client sends them every ~3 s). */
export const TYPING_SHOWN_MS = 6_000;
/** Consecutive messages of one sender closer than this share one header. */
export const GROUP_GAP_MS = 5 * 60_000;

export function initialState(): ViewState {
  return {
    connection: 'offline',
    relay: '',
    items: [],
    hasOlder: false,
    hasNewer: false,
    presence: { online: 0, members: [] },
    markerSeq: 0,
    lastReadSeq: 0,
    selfName: '',
    typing: [],
    pendingNewer: 0,
  };
}

function fromSnapshot(s: PanelSnapshot): ViewState {
  const items = s.items.slice(-WEBVIEW_LIMITS.windowSize);
  return {
    room: s.room,
    connection: s.connection,
    relay: s.relay,
    items,
    hasOlder: s.hasOlder || items.length < s.items.length,
    hasNewer: false,
    presence: s.presence,
    markerSeq: s.lastReadSeq,
    lastReadSeq: s.lastReadSeq,
    selfName: s.selfName,
    selfShortFingerprint: s.selfShortFingerprint,
    typing: [],
    pendingNewer: 0,
  };
}

/** Orders items by seq; items without one (own, not yet acked) stay after every seq'd item. */
function compareItems(a: ChatItem, b: ChatItem): number {
  if (a.seq !== undefined && b.seq !== undefined) return a.seq - b.seq;
  if (a.seq !== undefined) return -1;
  if (b.seq !== undefined) return 1;
  return 0;
}

function upsert(items: ChatItem[], item: ChatItem): ChatItem[] {
  const at = items.findIndex((x) => x.key === item.key);
  if (at !== -1) {
    const next = items.slice();
    next[at] = item;
    // An own message that got its seq may have to move before later pending ones.
    return item.seq !== undefined && items[at]?.seq === undefined ? next.sort(compareItems) : next;
  }
  const last = items[items.length - 1];
  if (!last || compareItems(last, item) <= 0) return [...items, item];
  const next = [...items, item];
  // Array.prototype.sort is stable: equal (pending) items keep their order.
  return next.sort(compareItems);
}

function mergeUnique(existing: ChatItem[], incoming: ChatItem[], where: 'before' | 'after'): ChatItem[] {
  const known = new Set(existing.map((x) => x.key));
  const fresh = incoming.filter((x) => !known.has(x.key));
  return where === 'before' ? [...fresh, ...existing] : [...existing, ...fresh];
}

export function reduce(state: ViewState, action: Action): ViewState {
  const max = WEBVIEW_LIMITS.windowSize;
  switch (action.type) {
    case 'snapshot':
      return fromSnapshot(action.snapshot);
    case 'item': {
      if (action.room !== state.room?.room) return state;
      const known = state.items.some((x) => x.key === action.item.key);
      // A change of an item outside the window (an edit, a reaction) is not a new message.
      if (action.update === true && !known) return state;
      const typing = state.typing.filter((t) => t.shortFingerprint !== action.item.shortFingerprint || t.name !== action.item.name);
      if (!known && state.hasNewer) {
        // The window does not reach the live end: the item joins the timeline on the host and
        // is shown when the user scrolls down to it.
        return { ...state, typing, pendingNewer: state.pendingNewer + 1 };
      }
      let items = upsert(state.items, action.item);
      let hasOlder = state.hasOlder;
      if (items.length > max) {
        items = items.slice(items.length - max);
        hasOlder = true;
      }
      const seq = action.item.seq;
      // Seen as it arrives only while nothing above it is unread: an existing marker stays.
      const seen = action.seen === true && !action.item.own && seq !== undefined && seq > state.markerSeq && unreadMarkerKey(state) === undefined;
      return seen ? { ...state, items, hasOlder, typing, markerSeq: seq } : { ...state, items, hasOlder, typing };
    }
    case 'around': {
      const items = action.items.slice(0, max);
      return { ...state, items, hasOlder: action.hasOlder, hasNewer: action.hasNewer || items.length < action.items.length, pendingNewer: 0 };
    }
    case 'newest': {
      const items = action.items.slice(-max);
      return { ...state, items, hasOlder: action.hasOlder || items.length < action.items.length, hasNewer: false, pendingNewer: 0 };
    }
    case 'refresh': {
      const s = action.snapshot;
      const items = action.items.slice(0, max);
      const hasNewer = action.hasNewer || items.length < action.items.length;
      return {
        ...state,
        connection: s.connection,
        relay: s.relay,
        room: s.room,
        presence: s.presence,
        selfName: s.selfName,
        selfShortFingerprint: s.selfShortFingerprint,
        lastReadSeq: Math.max(state.lastReadSeq, s.lastReadSeq),
        items,
        hasOlder: action.hasOlder,
        hasNewer,
        pendingNewer: hasNewer ? state.pendingNewer : 0,
      };
    }
    case 'older': {
      let items = mergeUnique(state.items, action.items, 'before');
      let hasNewer = state.hasNewer;
      if (items.length > max) {
        items = items.slice(0, max);
        hasNewer = true;
      }
      return { ...state, items, hasOlder: action.hasOlder, hasNewer };
    }
    case 'newer': {
      let items = mergeUnique(state.items, action.items, 'after');
      let hasOlder = state.hasOlder;
      if (items.length > max) {
        items = items.slice(items.length - max);
        hasOlder = true;
      }
      return { ...state, items, hasOlder, hasNewer: action.hasNewer, pendingNewer: action.hasNewer ? state.pendingNewer : 0 };
    }
    case 'presence':
      return action.room === state.room?.room ? { ...state, presence: action.presence } : state;
    case 'typing': {
      if (action.room !== state.room?.room) return state;
      const others = state.typing.filter((t) => !(t.name === action.name && t.shortFingerprint === action.shortFingerprint));
      const entry: TypingView = { name: action.name, shortFingerprint: action.shortFingerprint, until: action.now + TYPING_SHOWN_MS };
      if (action.keyChanged === true) entry.keyChanged = true;
      return { ...state, typing: [...others, entry] };
    }
    case 'tick': {
      const typing = state.typing.filter((t) => t.until > action.now);
      return typing.length === state.typing.length ? state : { ...state, typing };
    }
    case 'connection':
      return { ...state, connection: action.state, relay: action.relay };
    case 'read':
      return action.seq > state.lastReadSeq ? { ...state, lastReadSeq: action.seq } : state;
  }
}

/** One header (name, short fingerprint, time) and the items under it. */
export interface Group {
  key: string;
  first: ChatItem;
  items: ChatItem[];
}

function sameSender(a: ChatItem, b: ChatItem): boolean {
  return (
    a.kind === 'message' && b.kind === 'message' &&
    a.fingerprint === b.fingerprint && a.name === b.name && a.keyChanged === b.keyChanged &&
    (a.identityVerified === true) === (b.identityVerified === true) &&
    Math.abs(b.ts - a.ts) <= GROUP_GAP_MS
  );
}

/** Whether `item` opens a new group after `prev` (used by the incremental renderer). */
export function startsGroup(prev: ChatItem | undefined, item: ChatItem, markerBefore: boolean): boolean {
  return !prev || markerBefore || !sameSender(prev, item);
}

export function groupItems(items: readonly ChatItem[], markerKey?: string): Group[] {
  const groups: Group[] = [];
  let prev: ChatItem | undefined;
  for (const item of items) {
    const current = groups[groups.length - 1];
    if (!current || startsGroup(prev, item, item.key === markerKey)) groups.push({ key: item.key, first: item, items: [item] });
    else current.items.push(item);
    prev = item;
  }
  return groups;
}

/** The key of the item the unread marker goes before, if any item is unread. */
export function unreadMarkerKey(state: ViewState): string | undefined {
  return state.items.find((x) => !x.own && x.seq !== undefined && x.seq > state.markerSeq)?.key;
}

export function unreadCount(state: ViewState): number {
  return state.items.filter((x) => !x.own && x.seq !== undefined && x.seq > state.lastReadSeq).length + state.pendingNewer;
}

/** The highest seq in the window (what markRead reports when the user is at the bottom). */
export function newestSeq(state: ViewState): number {
  let best = 0;
  for (const x of state.items) if (x.seq !== undefined && x.seq > best) best = x.seq;
  return best;
}
