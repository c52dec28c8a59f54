// The host <-> webview message map of the chat panel: one set of types imported by both sides
// (src/vscode/chatPanel.ts and webview/), so that neither can drift from the other
// (the continue `core/protocol` style: { name: [request, response] }).
//
// Trust: the webview renders strings that came from the network, so it is LESS trusted than
// the host. The host validates every message from the webview at runtime (validate.ts) and
// never sends it a key, a seed, a body, or anything it did not mean to display.
//
// ---- Stable hooks for the integration and end-to-end tests -------------------------------
// Command ids:  smc.startRelay, smc.stopRelay, smc.openChat, smc.createRoom, smc.joinRoom,
//               smc.copyInvite, smc.shareSelection, smc.showFingerprint, smc.connect,
//               smc.disconnect, smc.toggleConnection (status bar click)
// Palette titles: "SMC: Start Relay", "SMC: Stop Relay", "SMC: Open Chat", "SMC: Create Room",
//               "SMC: Join Room", "SMC: Copy Invite Link", "SMC: Share Selection",
//               "SMC: Show My Fingerprint", "SMC: Connect to Relay", "SMC: Disconnect from Relay",
//               "SMC: Toggle Connection"
// Status bar item text (id "smc.status"):
//               "$(circle-slash) SMC offline" | "$(sync~spin) SMC connecting…" |
//               "$(plug) SMC connected" (no room) | "$(lock) <room name> · <N> online",
//               followed by " $(bell-dot) <unread>" when there are unread messages.
// Settings:     smc.relay.host, smc.relay.port, smc.displayName, smc.localRelay.host,
//               smc.localRelay.port, smc.notifications
// Output channels: "SMC" (extension log), "SMC Relay" (the local relay's log)
// Webview panel: viewType "smc.chat", title "SMC Chat" or "SMC: <room name>"
// Webview DOM:  #messages (role=log, aria-live=polite, aria-label "Messages"),
//               .message[data-key=<id>][data-state=sending|sent|failed|received]
//                 [data-waiting] (queued while offline), #offline-banner (role=status),
//                 [data-kind=message|unverifiable], .message .body (rendered Markdown),
//               .message .retry (button "Retry sending"), .key-changed, .unverifiable,
//               .identity-verified / .identity-unverified (beside a sender and a member),
//               .snippet .open-snippet (button "Open in editor"),
//               #composer (vscode-textarea, aria-label "Message"), #send (button "Send"),
//               #presence (list, aria-label "Members online"), #typing (aria-live=polite),
//               #connection (connection state text), #unread-marker, #empty-state buttons
//               [data-command=<command id>].
// extension API (for tests only; free of secrets): activate() returns
//   { testing: { relayPort(): number | undefined, relayPid(): number | undefined,
//                connectionState(): string, currentRoom(): { room, name, relay } | undefined,
//                statusText(): string, onlineCount(): number,
//                lastConnectionError(): string | undefined } }

export type ConnectionView = 'offline' | 'connecting' | 'connected';

/** The state of one item: own messages go sending -> sent | failed; others are received. */
export type ItemState = 'sending' | 'sent' | 'failed' | 'received';

export interface SnippetView {
  lang: string;
  path: string;
  start: number;
  end: number;
  code: string;
}

/** One line of the timeline as the webview sees it. `key` is the message id (§1.2). */
export interface ChatItem {
  key: string;
  /**
   * `unverifiable`: a message that failed §2.4; nothing of it but its place is shown.
   * `membership`: a private room's membership event ("alice added bob", §3.5), made by the
   * host from an applied commit, never from a message's content.
   */
  kind: 'message' | 'unverifiable' | 'membership';
  seq?: number;
  ts: number;
  name: string;
  fingerprint: string;
  shortFingerprint: string;
  /** §2.3 `type`; anything but text/snippet is shown as unsupported. */
  type: string;
  text?: string;
  snippet?: SnippetView;
  own: boolean;
  state: ItemState;
  error?: string;
  /**
   * An own message that is `failed` only because no relay answered in time while the connection
   * was down: it is still queued and is sent again by itself once connected (§1.5). The panel
   * shows it calmly, as waiting, with no Retry.
   */
  waiting?: boolean;
  /** §2.4: a later key under a name already seen with another key. */
  keyChanged: boolean;
  /** The user compared this sender's fingerprint over another channel (Verify…) and it matched. */
  identityVerified?: boolean;
  // ---- chat features (docs/protocol.md §2.3.1-2.3.6); all optional, absent on plain items ----
  /** §2.3.1: what this message replies to (the original's text and sender when the host has it). */
  reply?: ReplyView;
  /** §2.3.2: this installation's user is in `mentions`. */
  mentionsMe?: boolean;
  /** §2.3.2: the `@name` strings of the text that bind to a listed fingerprint (highlighted). */
  mentionNames?: string[];
  /** §2.3.3: the reactions shown on this message. */
  reactions?: ReactionItem[];
  /** §2.3.4: edited by its sender's key. */
  edited?: boolean;
  /** §2.3.4: deleted by its sender's key: nothing of its content is left. */
  deleted?: boolean;
  /** §2.3.5: a file message and how far it has come. */
  file?: FileView;
  /** §2.3.6: a shared diff. */
  patch?: PatchView;
}

/** §2.3.1 as the panel shows it. */
export interface ReplyView {
  /** The original's id. */
  to: string;
  /** The original's text when the host has it, else the replier's quote; always plain text. */
  quote: string;
  /** The original's sender name when the host has the original. */
  name?: string;
  /** The host has the original and its sender is not the reply's `from` (the replier's claim). */
  mismatch?: boolean;
  /** The original is deleted. */
  deleted?: boolean;
}

/** §2.3.3: one emoji on a message. */
export interface ReactionItem {
  emoji: string;
  count: number;
  /** Who reacted (display names), for the hover text. */
  names: string[];
  /** This installation's key is among them (clicking again removes it). */
  mine: boolean;
}

/** §2.3.5: a file message's state in this panel. */
export interface FileView {
  name: string;
  size: number;
  mime: string;
  state: 'sending' | 'receiving' | 'complete' | 'failed';
  received: number;
  chunks: number;
  /** Why it failed (hash mismatch, evicted...), for the user. */
  error?: string;
  /** Complete, and a previewable raster image by its type and signature (§2.3.5 "Images"). */
  image?: boolean;
}

/** §2.3.6: a shared diff, shown inert in the panel. */
export interface PatchView {
  root: string;
  base?: string;
  paths: string[];
  diff: string;
}

/** A member the composer can complete an @mention to. */
export interface MentionCandidate {
  name: string;
  fingerprint: string;
  shortFingerprint: string;
}

/** One search result (docs/extension.md "Search": this machine's copy only). */
export interface SearchHit {
  key: string;
  seq?: number;
  ts: number;
  name: string;
  /** Plain text around the match. */
  excerpt: string;
}

export interface MemberView {
  sid: string;
  name?: string;
  fingerprint?: string;
  shortFingerprint?: string;
  verified: boolean;
  /** This installation's own connection. */
  self?: boolean;
  /** The user verified this member's fingerprint for this name (Verify…). */
  identityVerified?: boolean;
  /** §2.4: this name (or one that looks like it) is known under another key. */
  keyChanged?: boolean;
}

export interface PresenceView {
  online: number;
  members: MemberView[];
}

export interface RoomView {
  room: string;
  name: string;
  relay: string;
}

/** Everything the panel needs to draw itself from nothing. */
export interface PanelSnapshot {
  room?: RoomView;
  connection: ConnectionView;
  relay: string;
  items: ChatItem[];
  hasOlder: boolean;
  presence: PresenceView;
  /** Items with a seq above this one are new to the user (the unread marker). */
  lastReadSeq: number;
  selfName: string;
  selfShortFingerprint?: string;
  /** Notifications for this room are muted (docs/extension.md "Notifications"). */
  muted?: boolean;
}

/** Commands the panel may ask the host to run (its empty state and toolbar buttons). */
export const PANEL_COMMANDS = [
  'smc.createRoom',
  'smc.joinRoom',
  'smc.connect',
  'smc.copyInvite',
  'smc.showFingerprint',
  'smc.startRelay',
] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

/** Direction webview -> host. Each entry is [request, response]. */
export interface WebviewRequests extends PrivateRequests {
  /** The webview is listening; the host answers with the first snapshot and only then posts. */
  ready: [Record<string, never>, PanelSnapshot];
  /** `replyTo`: the key replied to (§2.3.1); `mentions`: fingerprints picked by @ completion (§2.3.2). */
  send: [{ text: string; replyTo?: string; mentions?: string[] }, { key: string }];
  retry: [{ key: string }, null];
  typing: [Record<string, never>, null];
  loadOlder: [{ before: string }, { items: ChatItem[]; hasOlder: boolean }];
  loadNewer: [{ after: string }, { items: ChatItem[]; hasNewer: boolean }];
  /** The newest items of the room at once ("Jump to newest"), as a snapshot has them. */
  loadNewest: [Record<string, never>, { items: ChatItem[]; hasOlder: boolean }];
  /**
   * `count` items from `from` on (inclusive): the window's own range again, fresh, when the
   * room is redrawn while the reader is scrolled up. An unknown key gives the newest items.
   */
  loadRange: [{ from: string; count: number }, { items: ChatItem[]; hasOlder: boolean; hasNewer: boolean }];
  /** Opens only after the user confirms, and only http(s)/mailto. */
  openLink: [{ href: string }, null];
  /** The host looks up the snippet by key in its own copy; the path is guarded again. */
  openSnippet: [{ key: string }, null];
  markRead: [{ seq: number }, null];
  verifyMember: [{ name: string; fingerprint: string }, null];
  runCommand: [{ command: PanelCommand }, null];
  // ---- chat features (docs/protocol.md §2.3.1-2.3.6) ----
  /** Toggles one own reaction (§2.3.3). */
  react: [{ key: string; emoji: string }, null];
  edit: [{ key: string; text: string }, null];
  /** The host asks for confirmation first. */
  deleteMessage: [{ key: string }, null];
  /** Members whose name starts like `prefix` (the composer's @ completion). */
  mentionCandidates: [{ prefix: string }, { candidates: MentionCandidate[] }];
  /** Search this machine's copy of the room's history. */
  search: [{ query: string }, { hits: SearchHit[]; searched: number }];
  /** A window of items around `key` (loading older history from the relay when needed). */
  loadAround: [{ key: string }, { items: ChatItem[]; hasOlder: boolean; hasNewer: boolean; found: boolean }];
  /** A pasted file (bytes as base64); the host checks the name, type and size again. */
  sendFileBytes: [{ name: string; mime: string; data: string }, { key: string }];
  /** The host's open dialog. */
  pickFile: [Record<string, never>, null];
  /** The host's save dialog. */
  saveFile: [{ key: string }, null];
  /** A verified image's bytes (base64), only when previewable (§2.3.5 "Images"). */
  imageBytes: [{ key: string }, { mime: string; data: string }];
  /** The diff editor on the shared patch. */
  previewPatch: [{ key: string }, null];
  /** Applies the shared patch after a confirmation. */
  applyPatch: [{ key: string }, null];
  /** A `path:line` reference in a message, opened in the reader's workspace (path guard). */
  openRef: [{ path: string; line: number }, null];
  setMuted: [{ muted: boolean }, null];
}

/** Direction host -> webview: notifications, no response. */
export interface HostEvents extends PrivateEvents {
  snapshot: PanelSnapshot;
  /** `update`: a change of an item (an edit, a reaction, a file's progress), never a new one. */
  item: { room: string; item: ChatItem; update?: boolean };
  presence: { room: string; presence: PresenceView };
  /** keyChanged (§2.4): the typist's name is known in the room under another key. */
  typing: { room: string; name: string; shortFingerprint: string; keyChanged?: boolean };
  connection: { state: ConnectionView; relay: string };
  focusComposer: Record<string, never>;
}

// ---- Private rooms (docs/protocol.md §3; host: src/vscode/privatePanel.ts, webview: webview/members.ts)
// Webview DOM: #room-kind[data-kind=private|link], #members (list, aria-label "Members"),
//   .member[data-fingerprint][data-role=admin|member][data-self], .member .remove-member,
//   .member .promote-member, #invite-member, #removed-banner .forget-room,
//   .message[data-kind=membership].

export interface PrivateMemberView {
  name?: string;
  fingerprint: string;
  shortFingerprint: string;
  role: 'admin' | 'member';
  self: boolean;
}

/** What kind the current room is; for a private room, its members and this member's place. */
export interface RoomKindView {
  room: string;
  kind: 'private' | 'link';
  /** Private rooms: whether this member is an admin (offers Invite, Remove, Promote). */
  admin?: boolean;
  members?: PrivateMemberView[];
  /** Private rooms: this member was removed, by this name or fingerprint. */
  removedBy?: string;
}

export interface PrivateRequests {
  /** The current room's kind and members (null: no room). */
  roomKind: [Record<string, never>, RoomKindView | null];
  /** An admin makes a single-use invite; the host copies it and shows it once (never to the webview). */
  privateInvite: [Record<string, never>, null];
  /** The host checks the role and asks the user to confirm. */
  privateRemove: [{ fingerprint: string }, null];
  privatePromote: [{ fingerprint: string }, null];
  /** Forgets the current private room here (state, history, its key), after a confirmation. */
  privateForget: [Record<string, never>, null];
}

export interface PrivateEvents {
  roomKind: RoomKindView;
}

export type RequestName = keyof WebviewRequests;
export type RequestOf<N extends RequestName> = WebviewRequests[N][0];
export type ResponseOf<N extends RequestName> = WebviewRequests[N][1];
export type EventName = keyof HostEvents;

/** The frames that cross postMessage, in both directions. */
export type WebviewToHost = {
  [N in RequestName]: { kind: 'request'; id: number; name: N; payload: RequestOf<N> };
}[RequestName];

export type HostToWebview =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: string }
  | { [E in EventName]: { kind: 'event'; name: E; payload: HostEvents[E] } }[EventName];

/** Bounds the host enforces on what the webview sends (validate.ts). */
export const WEBVIEW_LIMITS = {
  /** docs/protocol.md §2.3: text is at most 16 384 bytes of UTF-8. */
  maxTextBytes: 16_384,
  maxHrefChars: 2_048,
  maxNameChars: 64,
  maxKeyChars: 64,
  /** How long the webview waits for the host's answer to a request. */
  requestTimeoutMs: 15_000,
  /** Items in the first snapshot of a room (a screenful and some). */
  snapshotSize: 60,
  /** Items per page when the webview pages through the host's timeline. */
  pageSize: 50,
  /** Items the webview keeps in memory at once (a bounded window over the timeline). */
  windowSize: 300,
  /** §2.3.5: a pasted file is at most 8 MiB (base64: 4/3 of it). */
  maxFileBytes: 8 * 1024 * 1024,
  /** The search box's query, in characters. */
  maxQueryChars: 200,
  /** Search results shown at most. */
  maxSearchHits: 100,
} as const;
