// The chat panel, in the browser. It renders what the host sends and collects input; it never
// sees a key. Only the @vscode-elements components used are imported (bundle size).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { ChatItem, ConnectionView, MentionCandidate, PanelCommand, PanelSnapshot } from '../src/shared/messages';
import { QUICK_EMOJI, completeMention, looksLikeOneEmoji, mentionQuery } from './features';
import { WEBVIEW_LIMITS } from '../src/shared/messages';
import { WebviewMessenger, type VsCodeApi } from './messenger';
import {
  initialState, newestSeq, reduce, startsGroup, unreadCount, unreadMarkerKey,
  type Action, type ViewState,
} from './model';
import { codicon, identityBadge, itemSignature, renderItem } from './render';
import { displayName, formatTime, visibleLine } from './text';
import { MembersPane } from './members';

declare function acquireVsCodeApi(): VsCodeApi;

/** What the webview keeps across reloads (VS Code's webview state): a draft per room id. */
interface SavedState { drafts?: Record<string, string> }
/** Drafts kept at most (empty ones are not kept). */
const MAX_DRAFTS = 50;

const api = acquireVsCodeApi();
const messenger = new WebviewMessenger(api, window);
let state: ViewState = initialState();
/** False until the host's first snapshot: nothing is claimed about rooms before it. */
let loaded = false;
let loadingOlder = false;
/** The last older-page request brought nothing (e.g. offline): don't ask again by itself. */
let olderStalled = false;
let loadingNewer = false;
/**
 * The reader follows the live end: set when they are at the bottom (or jump or send there),
 * cleared when they scroll away. While set, every change of size (new items, items getting
 * their real height, a narrower panel) keeps the newest item fully in view.
 */
let pinned = true;
/** The room the composer's text belongs to. */
let draftRoom: string | undefined;
const drafts: Record<string, string> = {};

// ---- static layout -------------------------------------------------------------------

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function commandButton(command: PanelCommand, label: string, icon: string, secondary = false): HTMLElement {
  const b = document.createElement('vscode-button');
  b.dataset.command = command;
  b.setAttribute('icon', icon);
  b.setAttribute('aria-label', label);
  if (secondary) b.setAttribute('secondary', '');
  b.textContent = label;
  return b;
}

const app = document.getElementById('app') ?? document.body;
const header = h('header', { id: 'header' });
const roomTitle = h('h1', { id: 'room-name' }, 'SMC');
const connection = h('span', { id: 'connection', role: 'status' });
const headerActions = h('div', { class: 'header-actions' });
headerActions.append(commandButton('smc.copyInvite', 'Copy invite', 'link', true), commandButton('smc.showFingerprint', 'My fingerprint', 'key', true));
// Narrow panels (media/webview.css) hide the member list; this shows it over the timeline.
const presenceToggle = document.createElement('vscode-button');
presenceToggle.id = 'presence-toggle';
presenceToggle.setAttribute('secondary', '');
presenceToggle.setAttribute('icon', 'account');
presenceToggle.setAttribute('aria-expanded', 'false');
presenceToggle.setAttribute('aria-controls', 'presence-panel');
headerActions.prepend(presenceToggle);
function toolButton(id: string, label: string, icon: string): HTMLElement {
  const b = document.createElement('vscode-button');
  b.id = id;
  b.setAttribute('secondary', '');
  b.setAttribute('icon', icon);
  b.setAttribute('aria-label', label);
  b.title = label;
  return b;
}
// Search in this machine's copy of the room (never sent to the relay), and the room's mute.
const searchToggle = toolButton('search-toggle', 'Search this room', 'search');
searchToggle.setAttribute('aria-expanded', 'false');
searchToggle.setAttribute('aria-controls', 'search-bar');
const muteToggle = toolButton('mute-toggle', 'Mute notifications of this room', 'bell');
muteToggle.setAttribute('aria-pressed', 'false');
headerActions.prepend(searchToggle, muteToggle);
header.append(roomTitle, connection, headerActions);
const searchBar = h('div', { id: 'search-bar', role: 'search' });
searchBar.hidden = true;
const searchInput = document.createElement('vscode-textfield');
searchInput.id = 'search';
searchInput.setAttribute('placeholder', 'Search this room (on this machine only)');
searchInput.setAttribute('aria-label', 'Search this room');
const searchStatus = h('div', { id: 'search-status', role: 'status' });
const searchResults = h('ul', { id: 'search-results', 'aria-label': 'Search results' });
searchBar.append(searchInput, searchStatus, searchResults);

const layout = h('div', { id: 'layout' });
const timeline = h('div', { id: 'timeline' });
const messagesEl = h('div', { id: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' });
const olderStatus = h('div', { id: 'older-status', class: 'older-status', 'aria-hidden': 'true' });
const emptyState = h('div', { id: 'empty-state' });
const newBelow = document.createElement('vscode-button');
newBelow.id = 'new-below';
newBelow.setAttribute('icon', 'arrow-down');
newBelow.hidden = true;
// The older-messages status is the first row of the scrolled list, not a bar above it: it takes
// its own line at the top of the room and scrolls away with it, so it never sits over a
// half-scrolled first message (issue 11: "Beginning of the room" overlapped the first line).
timeline.append(messagesEl, emptyState, newBelow);

const aside = h('aside', { id: 'presence-panel', 'aria-labelledby': 'presence-title' });
const presenceTitle = h('h2', { id: 'presence-title' }, 'Online');
const presenceList = h('ul', { id: 'presence', 'aria-label': 'Members online' });
aside.append(presenceTitle, presenceList);
layout.append(timeline, aside);

const typingEl = h('div', { id: 'typing', 'aria-live': 'polite' });
const offlineBanner = h('div', { id: 'offline-banner', role: 'status' });
offlineBanner.hidden = true;
const form = h('form', { id: 'composer-form', 'aria-label': 'Write a message' });
const composer = document.createElement('vscode-textarea');
composer.id = 'composer';
composer.setAttribute('aria-label', 'Message');
composer.setAttribute('label', 'Message');
composer.setAttribute('placeholder', 'Message (Enter to send, Shift+Enter for a new line)');
composer.setAttribute('resize', 'none');
composer.setAttribute('rows', '3');
const sendButton = document.createElement('vscode-button');
sendButton.id = 'send';
sendButton.setAttribute('icon', 'send');
sendButton.setAttribute('aria-label', 'Send');
sendButton.textContent = 'Send';
const composerError = h('div', { id: 'composer-error', role: 'alert' });
form.append(composer, sendButton);
// Above the composer: what it is doing (a reply, an edit), the reaction picker, @ completion.
const replyBar = h('div', { id: 'reply-bar', class: 'composer-bar' });
replyBar.hidden = true;
const editBar = h('div', { id: 'edit-bar', class: 'composer-bar' });
editBar.hidden = true;
const emojiPicker = h('div', { id: 'emoji-picker', class: 'composer-bar', role: 'dialog', 'aria-label': 'React with an emoji' });
emojiPicker.hidden = true;
const mentionList = h('ul', { id: 'mention-list', role: 'listbox', 'aria-label': 'Members to mention' });
mentionList.hidden = true;
const attachButton = document.createElement('vscode-button');
attachButton.id = 'attach';
attachButton.setAttribute('secondary', '');
attachButton.setAttribute('icon', 'attach');
attachButton.setAttribute('aria-label', 'Send a file');
attachButton.title = 'Send a file (or paste an image into the message box)';
form.prepend(attachButton);
app.append(header, searchBar, layout, offlineBanner, typingEl, replyBar, editBar, emojiPicker, mentionList, form, composerError);

// Private rooms (webview/members.ts): the room's kind, its members, a removed member's banner.
const members = new MembersPane(messenger, (e) => showError(e), () => renderPresence());
roomTitle.after(members.kindBadge);
aside.prepend(members.section);
form.before(members.removedBanner);

// ---- rendering -----------------------------------------------------------------------

const rendered = new Map<string, { el: HTMLElement; sig: string }>();
const marker = h('div', { id: 'unread-marker', class: 'unread-marker', role: 'separator', 'aria-label': 'New messages' }, 'New messages');

function setConnectionText(c: ConnectionView, relay: string): void {
  connection.textContent = c === 'connected' ? `connected to ${relay}` : c === 'connecting' ? `connecting to ${relay}…` : 'offline';
  connection.dataset.state = c;
}

function renderEmptyState(): void {
  emptyState.replaceChildren();
  messagesEl.hidden = !state.room;
  if (!loaded) {
    emptyState.hidden = true;
  } else if (!state.room) {
    emptyState.hidden = false;
    emptyState.append(
      h('p', {}, 'No room yet. Create one and send its invite to a teammate, or join with an invite link or a room name and passphrase.'),
      commandButton('smc.createRoom', 'Create Room', 'add'),
      commandButton('smc.joinRoom', 'Join Room', 'sign-in', true),
      commandButton('smc.startRelay', 'Start a local relay', 'server-process', true),
    );
  } else if (state.connection === 'offline') {
    emptyState.hidden = false;
    emptyState.append(h('p', {}, 'Offline. Messages you write are kept and sent once connected.'), commandButton('smc.connect', 'Connect', 'plug'));
  } else if (state.items.length === 0 && !state.hasOlder) {
    emptyState.hidden = false;
    emptyState.append(h('p', {}, 'No messages yet. Say hello, or select code in an editor and run "SMC: Share Selection".'));
  } else {
    emptyState.hidden = true;
  }
}

function renderPresence(): void {
  presenceTitle.textContent = `Online (${state.presence.online})`;
  // A private room has no presence (docs/protocol.md §3): the toggle counts its members.
  const privateMembers = members.privateMemberCount;
  presenceToggle.textContent = privateMembers !== undefined ? `${privateMembers} member${privateMembers === 1 ? '' : 's'}` : `${state.presence.online} online`;
  presenceToggle.setAttribute('aria-label', privateMembers !== undefined ? `Members (${privateMembers})` : `Members online (${state.presence.online})`);
  presenceToggle.hidden = !state.room;
  presenceList.replaceChildren();
  for (const m of state.presence.members) {
    const li = h('li', { class: m.verified ? 'member verified' : 'member unverified' });
    if (m.verified && m.name) {
      li.append(h('span', { class: 'name' }, `${displayName(m.name)}${m.self ? ' (you)' : ''}`), h('span', { class: 'fingerprint', title: `Fingerprint ${m.fingerprint ?? ''}` }, m.shortFingerprint ?? ''));
      if (!m.self) li.append(identityBadge(m.name, m.identityVerified === true));
      if (m.keyChanged) {
        const warn = h('span', { class: 'key-changed', title: `${displayName(m.name)} is known in this room under another key. Compare fingerprints before trusting it.` });
        warn.append(codicon('warning'), document.createTextNode(' key changed'));
        li.append(warn);
      }
      if (!m.self && m.fingerprint && m.identityVerified !== true) {
        const verify = document.createElement('vscode-button');
        verify.className = 'verify-member';
        verify.setAttribute('secondary', '');
        verify.setAttribute('aria-label', `Verify ${displayName(m.name)}`);
        verify.textContent = 'Verify…';
        verify.dataset.name = m.name;
        verify.dataset.fingerprint = m.fingerprint;
        li.append(verify);
      }
    } else {
      li.append(h('span', { class: 'name' }, 'unknown member (could not be verified)'));
    }
    presenceList.append(li);
  }
}

/** Own messages still queued while the relay is unreachable: one calm line, no per-message alarm. */
function renderOfflineBanner(): void {
  const queued = state.connection === 'connected' ? 0 : state.items.filter((x) => x.own && (x.state === 'sending' || (x.state === 'failed' && x.waiting === true))).length;
  offlineBanner.hidden = queued === 0;
  if (queued === 0) return;
  offlineBanner.replaceChildren(codicon('cloud-upload'), document.createTextNode(
    `Offline — ${queued} message${queued === 1 ? '' : 's'} will be sent when the relay is back.`,
  ));
}

/**
 * "bob is typing…". A typist whose name is known under another key (§2.4) carries the same
 * "key changed" warning as their messages: the name alone is only a claim.
 */
function renderTyping(): void {
  typingEl.replaceChildren();
  state.typing.forEach((t, i) => {
    if (i > 0) typingEl.append(document.createTextNode(', '));
    typingEl.append(h('span', { class: 'name' }, displayName(t.name)));
    if (t.keyChanged) {
      const warn = h('span', { class: 'key-changed', title: `${displayName(t.name)} is known in this room under another key (${t.shortFingerprint} is typing). Compare fingerprints before trusting it.` });
      warn.append(codicon('warning'), document.createTextNode(' key changed'));
      typingEl.append(document.createTextNode(' '), warn);
    }
  });
  if (state.typing.length > 0) typingEl.append(document.createTextNode(state.typing.length === 1 ? ' is typing…' : ' are typing…'));
}

function isNearBottom(): boolean {
  return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 48;
}

function scrollToNewest(): void {
  pinned = true;
  messagesEl.scrollTop = messagesEl.scrollHeight;
}

// Items are laid out lazily (content-visibility): their real height arrives after the first
// paint, and a live item grows when its Markdown wraps. Re-pin after every such change.
const sizeWatcher = new ResizeObserver(() => {
  if (pinned && !state.hasNewer && messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight > 1) {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }
});
sizeWatcher.observe(messagesEl);

/** Reconciles #messages with the window: elements are reused by key, rebuilt when changed. */
function renderTimeline(): void {
  const stick = pinned && !state.hasNewer;
  // Keep what the user is looking at in place when items arrive or leave above it.
  let anchor: { key: string; offset: number } | undefined;
  if (!stick) {
    for (const child of Array.from(messagesEl.children) as HTMLElement[]) {
      if (child.offsetTop + child.offsetHeight > messagesEl.scrollTop && child.dataset.key) {
        anchor = { key: child.dataset.key, offset: child.offsetTop - messagesEl.scrollTop };
        break;
      }
    }
  }
  const now = Date.now();
  const markerKey = unreadMarkerKey(state);
  const wanted = new Set(state.items.map((x) => x.key));
  for (const [key, r] of rendered) {
    if (!wanted.has(key)) {
      sizeWatcher.unobserve(r.el);
      r.el.remove();
      rendered.delete(key);
    }
  }
  const desired: HTMLElement[] = [olderStatus];
  let prev: ChatItem | undefined;
  for (const item of state.items) {
    const isMarker = item.key === markerKey;
    const groupStart = startsGroup(prev, item, isMarker);
    const sig = itemSignature(item, groupStart);
    let r = rendered.get(item.key);
    if (!r || r.sig !== sig) {
      const fresh = renderItem(item, groupStart, now);
      if (r) {
        sizeWatcher.unobserve(r.el);
        r.el.replaceWith(fresh);
      }
      sizeWatcher.observe(fresh);
      r = { el: fresh, sig };
      rendered.set(item.key, r);
    }
    if (isMarker) desired.push(marker);
    desired.push(r.el);
    prev = item;
  }
  if (!markerKey) marker.remove();
  let cursor: ChildNode | null = messagesEl.firstChild;
  for (const node of desired) {
    if (node === cursor) cursor = cursor.nextSibling;
    else messagesEl.insertBefore(node, cursor);
  }
  while (cursor) {
    const next: ChildNode | null = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
  olderStatus.textContent = state.hasOlder ? (loadingOlder ? 'Loading older messages…' : 'Scroll up for older messages') : state.items.length > 0 ? 'Beginning of the room' : '';
  if (stick) messagesEl.scrollTop = messagesEl.scrollHeight;
  else if (anchor) {
    const a = rendered.get(anchor.key);
    if (a) messagesEl.scrollTop = a.el.offsetTop - anchor.offset;
  }
  // A window shorter than the panel cannot be scrolled up: fetch older items until it fills.
  if (state.hasOlder && !olderStalled && !loadingOlder && messagesEl.scrollHeight <= messagesEl.clientHeight + 200 && messagesEl.clientHeight > 0) {
    setTimeout(() => void loadOlder(), 0);
  }
  const unread = unreadCount(state);
  newBelow.hidden = !(state.hasNewer || (!stick && !isNearBottom() && unread > 0));
  newBelow.textContent = unread > 0 ? `${unread} new message${unread === 1 ? '' : 's'}` : 'Jump to newest';
  newBelow.setAttribute('aria-label', newBelow.textContent);
  fillImages();
}

function render(): void {
  roomTitle.textContent = state.room ? displayName(state.room.name) : 'SMC';
  document.title = state.room ? `SMC: ${displayName(state.room.name)}` : 'SMC Chat';
  setConnectionText(state.connection, state.relay);
  const canWrite = loaded && state.room !== undefined;
  form.hidden = !canWrite;
  (headerActions.querySelector('[data-command="smc.copyInvite"]') as HTMLElement | null)?.toggleAttribute('hidden', !canWrite);
  searchToggle.hidden = !canWrite;
  muteToggle.hidden = !canWrite;
  muteToggle.setAttribute('aria-pressed', String(muted));
  muteToggle.setAttribute('icon', muted ? 'bell-slash' : 'bell');
  muteToggle.title = muted ? 'Notifications of this room are muted (click to unmute)' : 'Mute notifications of this room';
  muteToggle.setAttribute('aria-label', muteToggle.title);
  renderEmptyState();
  renderPresence();
  renderTyping();
  renderOfflineBanner();
  renderTimeline();
}

function dispatch(action: Action): void {
  const next = reduce(state, action);
  if (next === state) return;
  state = next;
  render();
  maybeMarkRead();
}

// ---- reading, paging -----------------------------------------------------------------

let markReadTimer: ReturnType<typeof setTimeout> | undefined;
function maybeMarkRead(): void {
  if (document.visibilityState !== 'visible' || state.hasNewer || !isNearBottom()) return;
  const seq = newestSeq(state);
  if (seq <= state.lastReadSeq) return;
  clearTimeout(markReadTimer);
  markReadTimer = setTimeout(() => {
    dispatch({ type: 'read', seq });
    messenger.request('markRead', { seq }).catch(() => undefined);
  }, 300);
}

async function loadOlder(): Promise<void> {
  const first = state.items[0];
  if (loadingOlder || !state.hasOlder || !first) return;
  loadingOlder = true;
  messagesEl.setAttribute('aria-busy', 'true');
  try {
    const page = await messenger.request('loadOlder', { before: first.key });
    olderStalled = page.items.length === 0;
    dispatch({ type: 'older', items: page.items, hasOlder: page.hasOlder });
  } catch (e) {
    showError(e);
  } finally {
    loadingOlder = false;
    messagesEl.removeAttribute('aria-busy');
  }
}

async function loadNewer(): Promise<void> {
  const last = state.items[state.items.length - 1];
  if (loadingNewer || !state.hasNewer || !last) return;
  loadingNewer = true;
  try {
    const page = await messenger.request('loadNewer', { after: last.key });
    dispatch({ type: 'newer', items: page.items, hasNewer: page.hasNewer });
  } catch (e) {
    showError(e);
  } finally {
    loadingNewer = false;
  }
}

messagesEl.addEventListener('scroll', () => {
  // Scrolled by the reader (or by the panel to the bottom): follow the live end only from there.
  pinned = !state.hasNewer && isNearBottom();
  if (messagesEl.scrollTop < 400) void loadOlder();
  if (messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 400) void loadNewer();
  newBelow.hidden = !(state.hasNewer || (!isNearBottom() && unreadCount(state) > 0));
  maybeMarkRead();
}, { passive: true });

/**
 * "Jump to newest": one click, the newest items at once. A window cut at the newest end is
 * replaced by the timeline's tail in one request (paging through thousands of items would take
 * dozens of round trips), then the panel pins to the bottom.
 */
async function jumpToNewest(): Promise<void> {
  if (state.hasNewer) {
    try {
      const page = await messenger.request('loadNewest', {});
      dispatch({ type: 'newest', items: page.items, hasOlder: page.hasOlder });
    } catch (e) {
      showError(e);
      return;
    }
  }
  scrollToNewest();
  render();
  maybeMarkRead();
}

newBelow.addEventListener('click', () => void jumpToNewest());

presenceToggle.addEventListener('click', () => {
  const open = document.body.classList.toggle('presence-open');
  presenceToggle.setAttribute('aria-expanded', String(open));
});

document.addEventListener('visibilitychange', maybeMarkRead);

// ---- input ---------------------------------------------------------------------------

function showError(e: unknown): void {
  composerError.textContent = e instanceof Error ? e.message : String(e);
}

function saveDraft(): void {
  if (draftRoom === undefined) return;
  const text = composer.value;
  if (text === '') delete drafts[draftRoom];
  else {
    delete drafts[draftRoom];
    drafts[draftRoom] = text; // the newest last: the oldest draft goes first when over the limit
    const rooms = Object.keys(drafts);
    for (const old of rooms.slice(0, Math.max(0, rooms.length - MAX_DRAFTS))) delete drafts[old];
  }
  const saved: SavedState = { drafts };
  api.setState(saved);
}

/** The composer follows the room: the old room's text is kept, the new room's comes back. */
function switchDraft(room: string | undefined): void {
  if (room === draftRoom) return;
  saveDraft();
  draftRoom = room;
  composer.value = room !== undefined ? (drafts[room] ?? '') : '';
  composerError.textContent = '';
}

async function send(): Promise<void> {
  const text = composer.value;
  if (editing !== undefined) {
    await finishEdit(text);
    return;
  }
  if (text.trim().length === 0) return;
  composerError.textContent = '';
  composer.value = '';
  saveDraft();
  const room = draftRoom;
  const replyTo = replyingTo?.key;
  // Fingerprints picked by completion whose @name is still in the text (§2.3.2).
  const mentions = picked.filter((p) => text.includes(`@${p.name}`)).map((p) => p.fingerprint);
  try {
    await messenger.request('send', { text, ...(replyTo !== undefined ? { replyTo } : {}), ...(mentions.length > 0 ? { mentions: [...new Set(mentions)] } : {}) });
    cancelReply();
    picked = [];
    scrollToNewest();
  } catch (e) {
    // The reader may have switched rooms meanwhile: the text goes back to its own room's draft.
    if (room !== draftRoom) {
      if (room !== undefined && !drafts[room]) drafts[room] = text;
      api.setState({ drafts } satisfies SavedState);
      showError(e);
      return;
    }
    // Nothing was queued: give the text back so nothing the user wrote is lost.
    if (composer.value === '') composer.value = text;
    saveDraft();
    showError(e);
  }
}

function openLink(link: HTMLElement): void {
  const href = link.dataset.href;
  if (href) messenger.request('openLink', { href }).catch(showError);
}

let lastTyping = 0;
composer.addEventListener('input', () => {
  void updateMentions();
  if (editing !== undefined) return;
  saveDraft();
  const now = Date.now();
  if (now - lastTyping > 3_000 && composer.value.length > 0) {
    lastTyping = now;
    messenger.request('typing', {}).catch(() => undefined);
  }
});

composer.addEventListener('keydown', (e: KeyboardEvent) => {
  if (mentionKey(e)) return;
  if (e.key === 'Escape' && (replyingTo !== undefined || editing !== undefined)) {
    e.preventDefault();
    cancelReply();
    cancelEdit();
    return;
  }
  // Enter sends; Shift+Enter is a new line; nothing while an IME is composing (keyCode 229).
  if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    void send();
  }
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  void send();
});
sendButton.addEventListener('click', () => void send());

document.addEventListener('click', (e) => {
  const target = e.target as HTMLElement | null;
  if (!target) return;
  const link = target.closest<HTMLElement>('a');
  if (link) {
    // Links never navigate the webview; the host asks the user first.
    e.preventDefault();
    e.stopPropagation();
    openLink(link);
    return;
  }
  const command = target.closest<HTMLElement>('[data-command]')?.dataset.command;
  if (command) {
    messenger.request('runCommand', { command: command as PanelCommand }).catch(showError);
    return;
  }
  if (featureClick(target)) return;
  const verify = target.closest<HTMLElement>('.verify-member');
  if (verify?.dataset.name && verify.dataset.fingerprint) {
    messenger.request('verifyMember', { name: verify.dataset.name, fingerprint: verify.dataset.fingerprint }).catch(showError);
    return;
  }
  const article = target.closest<HTMLElement>('article.message');
  const key = article?.dataset.key;
  if (!key) return;
  if (target.closest('.retry')) messenger.request('retry', { key }).catch(showError);
  else if (target.closest('.open-snippet')) messenger.request('openSnippet', { key }).catch(showError);
  else messageAction(target, key);
});

// Middle clicks do nothing; Enter on a focused link asks like a click does.
document.addEventListener('auxclick', (e) => {
  if ((e.target as HTMLElement | null)?.closest('a')) {
    e.preventDefault();
    e.stopPropagation();
  }
});
document.addEventListener('keydown', (e) => {
  const link = (e.target as HTMLElement | null)?.closest<HTMLElement>('a[data-href]');
  if (link && e.key === 'Enter') {
    e.preventDefault();
    openLink(link);
  }
});

// ---- chat features (docs/protocol.md §2.3.1-2.3.6) ------------------------------------

/** The message the composer replies to (§2.3.1). */
let replyingTo: ChatItem | undefined;
/** The own message the composer edits (§2.3.4), and the draft it put aside. */
let editing: { key: string; draft: string } | undefined;
/** Members picked with @ completion (their fingerprints go in `mentions`, §2.3.2). */
let picked: MentionCandidate[] = [];
let muted = false;
/** The message the reaction picker is open for. */
let reactingTo: string | undefined;
/** Decoded images by message key: re-rendered items draw again without asking the host. */
const images = new Map<string, ImageBitmap>();
const imagesLoading = new Set<string>();

function itemByKey(key: string): ChatItem | undefined {
  return state.items.find((x) => x.key === key);
}

function bar(el: HTMLElement, icon: string, label: string, text: string, cancel: string): void {
  el.replaceChildren(codicon(icon), h('span', { class: 'bar-label' }, label), h('span', { class: 'bar-text' }, text));
  const x = h('button', { type: 'button', class: 'bar-cancel', 'aria-label': cancel, title: cancel });
  x.append(codicon('close'));
  el.append(x);
  el.hidden = false;
}

function startReply(item: ChatItem): void {
  cancelEdit();
  replyingTo = item;
  const quote = visibleLine((item.text ?? item.file?.name ?? item.snippet?.path ?? '').replace(/\s+/g, ' ')).slice(0, 120);
  bar(replyBar, 'reply', `Replying to ${displayName(item.name)}:`, quote, 'Cancel the reply');
  composer.focus();
}

function cancelReply(): void {
  replyingTo = undefined;
  replyBar.hidden = true;
}

function startEdit(item: ChatItem): void {
  cancelReply();
  if (editing === undefined) editing = { key: item.key, draft: composer.value };
  else editing.key = item.key;
  composer.value = item.text ?? '';
  bar(editBar, 'edit', 'Editing your message', '(Enter saves, Escape cancels)', 'Cancel the edit');
  composer.focus();
}

function cancelEdit(): void {
  if (editing === undefined) return;
  composer.value = editing.draft;
  editing = undefined;
  editBar.hidden = true;
}

async function finishEdit(text: string): Promise<void> {
  const e = editing;
  if (e === undefined) return;
  composerError.textContent = '';
  try {
    await messenger.request('edit', { key: e.key, text });
    cancelEdit();
  } catch (err) {
    showError(err);
  }
}

function openPicker(key: string): void {
  reactingTo = key;
  const item = itemByKey(key);
  emojiPicker.replaceChildren(h('span', { class: 'bar-label' }, `React to ${item ? displayName(item.name) : 'the message'}:`));
  for (const emoji of QUICK_EMOJI) {
    const b = h('button', { type: 'button', class: 'pick-emoji', 'aria-label': `React with ${emoji}` }, emoji);
    b.dataset.emoji = emoji;
    emojiPicker.append(b);
  }
  const other = h('input', { type: 'text', id: 'emoji-input', 'aria-label': 'Any emoji', placeholder: 'any emoji', maxlength: '16' });
  const add = h('button', { type: 'button', class: 'pick-emoji-other' }, 'React');
  const x = h('button', { type: 'button', class: 'bar-cancel', 'aria-label': 'Close the emoji picker', title: 'Close' });
  x.append(codicon('close'));
  emojiPicker.append(other, add, x);
  emojiPicker.hidden = false;
  (emojiPicker.querySelector('.pick-emoji') as HTMLElement | null)?.focus();
}

function closePicker(): void {
  reactingTo = undefined;
  emojiPicker.hidden = true;
}

function react(key: string, emoji: string): void {
  messenger.request('react', { key, emoji }).catch(showError);
}

/** Scrolls to a message (a reply's original, a search result), loading it first when it is not in the window. */
async function jumpTo(key: string): Promise<void> {
  if (!itemByKey(key)) {
    try {
      const page = await messenger.request('loadAround', { key });
      if (!page.found) {
        showError(new Error('That message is no longer in this room\'s history on this machine or the relay.'));
        return;
      }
      pinned = false;
      dispatch({ type: 'around', items: page.items, hasOlder: page.hasOlder, hasNewer: page.hasNewer });
    } catch (e) {
      showError(e);
      return;
    }
  }
  const el = rendered.get(key)?.el;
  if (!el) return;
  pinned = false;
  el.scrollIntoView({ block: 'center' });
  el.classList.add('flash');
  el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: true });
  setTimeout(() => el.classList.remove('flash'), 2_000);
}

/** Clicks outside a message's own buttons: quotes, references, the picker, search results, @ completion. */
function featureClick(target: HTMLElement): boolean {
  const quote = target.closest<HTMLElement>('.reply-quote');
  if (quote?.dataset.to) {
    void jumpTo(quote.dataset.to);
    return true;
  }
  const ref = target.closest<HTMLElement>('.code-ref');
  if (ref?.dataset.path && ref.dataset.line) {
    messenger.request('openRef', { path: ref.dataset.path, line: Number(ref.dataset.line) }).catch(showError);
    return true;
  }
  const hit = target.closest<HTMLElement>('.search-hit');
  if (hit?.dataset.key) {
    void jumpTo(hit.dataset.key);
    return true;
  }
  const option = target.closest<HTMLElement>('.mention-option');
  if (option?.dataset.index) {
    chooseMention(Number(option.dataset.index));
    return true;
  }
  if (target.closest('#reply-bar .bar-cancel')) {
    cancelReply();
    return true;
  }
  if (target.closest('#edit-bar .bar-cancel')) {
    cancelEdit();
    return true;
  }
  if (target.closest('#emoji-picker .bar-cancel')) {
    closePicker();
    return true;
  }
  const pick = target.closest<HTMLElement>('.pick-emoji');
  if (pick?.dataset.emoji && reactingTo) {
    react(reactingTo, pick.dataset.emoji);
    closePicker();
    return true;
  }
  if (target.closest('.pick-emoji-other') && reactingTo) {
    const input = emojiPicker.querySelector<HTMLInputElement>('#emoji-input');
    const emoji = input?.value.trim() ?? '';
    if (!looksLikeOneEmoji(emoji)) {
      showError(new Error('Type or paste one emoji.'));
      return true;
    }
    react(reactingTo, emoji);
    closePicker();
    return true;
  }
  return false;
}

/** A click inside a message: its action bar, reactions, file and patch buttons. */
function messageAction(target: HTMLElement, key: string): void {
  const item = itemByKey(key);
  if (!item) return;
  if (target.closest('.act-reply')) startReply(item);
  else if (target.closest('.act-react')) openPicker(key);
  else if (target.closest('.act-edit')) startEdit(item);
  else if (target.closest('.act-delete')) messenger.request('deleteMessage', { key }).catch(showError);
  else if (target.closest('.reaction')) {
    const emoji = target.closest<HTMLElement>('.reaction')?.dataset.emoji;
    if (emoji) react(key, emoji);
  } else if (target.closest('.save-file')) messenger.request('saveFile', { key }).catch(showError);
  else if (target.closest('.preview-patch')) messenger.request('previewPatch', { key }).catch(showError);
  else if (target.closest('.apply-patch')) messenger.request('applyPatch', { key }).catch(showError);
}

// -- @ completion (§2.3.2) --

let candidates: MentionCandidate[] = [];
let activeCandidate = 0;
let mentionAt: { at: number; caret: number } | undefined;

function caretOf(): number {
  return composer.wrappedElement?.selectionStart ?? composer.value.length;
}

async function updateMentions(): Promise<void> {
  const text = composer.value;
  const caret = caretOf();
  const q = mentionQuery(text, caret);
  if (!q) {
    closeMentions();
    return;
  }
  try {
    const r = await messenger.request('mentionCandidates', { prefix: q.prefix });
    if (composer.value !== text) return; // typed on meanwhile: the next input asks again
    candidates = r.candidates;
  } catch {
    candidates = [];
  }
  if (candidates.length === 0) {
    closeMentions();
    return;
  }
  mentionAt = { at: q.at, caret };
  activeCandidate = 0;
  renderMentions();
}

function renderMentions(): void {
  mentionList.replaceChildren();
  candidates.forEach((c, i) => {
    const li = h('li', { class: 'mention-option', role: 'option', 'aria-selected': String(i === activeCandidate) });
    li.dataset.index = String(i);
    li.append(h('span', { class: 'name' }, displayName(c.name)), h('span', { class: 'fingerprint' }, c.shortFingerprint));
    mentionList.append(li);
  });
  mentionList.hidden = false;
}

function closeMentions(): void {
  candidates = [];
  mentionAt = undefined;
  mentionList.hidden = true;
}

function chooseMention(i: number): void {
  const c = candidates[i];
  const at = mentionAt;
  if (!c || !at) return;
  const next = completeMention(composer.value, at.at, at.caret, c.name);
  composer.value = next.text;
  composer.wrappedElement?.setSelectionRange(next.caret, next.caret);
  if (!picked.some((p) => p.fingerprint === c.fingerprint)) picked.push(c);
  closeMentions();
  composer.focus();
  if (editing === undefined) saveDraft();
}

/** Keys while the completion list is open; true when the key was for it. */
function mentionKey(e: KeyboardEvent): boolean {
  if (mentionList.hidden || candidates.length === 0) return false;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    activeCandidate = (activeCandidate + (e.key === 'ArrowDown' ? 1 : candidates.length - 1)) % candidates.length;
    renderMentions();
    return true;
  }
  if (e.key === 'Enter' || e.key === 'Tab') {
    e.preventDefault();
    chooseMention(activeCandidate);
    return true;
  }
  if (e.key === 'Escape') {
    e.preventDefault();
    closeMentions();
    return true;
  }
  return false;
}

// -- search (this machine's copy only; never sent to the relay) --

let searchTimer: ReturnType<typeof setTimeout> | undefined;
async function runSearch(): Promise<void> {
  const query = searchInput.value.trim();
  searchResults.replaceChildren();
  if (query === '') {
    searchStatus.textContent = '';
    return;
  }
  try {
    const r = await messenger.request('search', { query });
    if (searchInput.value.trim() !== query) return;
    searchStatus.textContent = r.hits.length === 0 ? `No match in the ${r.searched} messages on this machine.` : `${r.hits.length} match${r.hits.length === 1 ? '' : 'es'} in the ${r.searched} messages on this machine`;
    const now = Date.now();
    for (const hit of r.hits) {
      const li = h('li', { class: 'search-hit', tabindex: '0', role: 'button' });
      li.dataset.key = hit.key;
      li.append(h('span', { class: 'name' }, displayName(hit.name)), h('span', { class: 'time' }, formatTime(hit.ts, now)), h('span', { class: 'excerpt' }, hit.excerpt));
      searchResults.append(li);
    }
  } catch (e) {
    searchStatus.textContent = e instanceof Error ? e.message : String(e);
  }
}
searchInput.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void runSearch(), 150);
});
searchInput.addEventListener('keydown', (e: KeyboardEvent) => {
  if (e.key === 'Enter') {
    clearTimeout(searchTimer);
    void runSearch();
  } else if (e.key === 'Escape') {
    searchBar.hidden = true;
    searchToggle.setAttribute('aria-expanded', 'false');
  }
});
searchResults.addEventListener('keydown', (e: KeyboardEvent) => {
  const hit = (e.target as HTMLElement | null)?.closest<HTMLElement>('.search-hit');
  if (hit?.dataset.key && e.key === 'Enter') void jumpTo(hit.dataset.key);
});
searchToggle.addEventListener('click', () => {
  searchBar.hidden = !searchBar.hidden;
  searchToggle.setAttribute('aria-expanded', String(!searchBar.hidden));
  if (!searchBar.hidden) searchInput.focus();
});
muteToggle.addEventListener('click', () => {
  const next = !muted;
  messenger.request('setMuted', { muted: next }).then(() => {
    muted = next;
    render();
  }).catch(showError);
});

// -- files and pasted images (§2.3.5) --

attachButton.addEventListener('click', () => messenger.request('pickFile', {}).catch(showError));

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

composer.addEventListener('paste', (e: ClipboardEvent) => {
  const files = Array.from(e.clipboardData?.files ?? []);
  if (files.length === 0) return;
  e.preventDefault();
  for (const f of files.slice(0, 4)) {
    if (f.size > WEBVIEW_LIMITS.maxFileBytes) {
      showError(new Error(`${f.name || 'The pasted file'} is larger than 8 MiB and cannot be sent.`));
      continue;
    }
    const ext = f.type === 'image/png' ? 'png' : f.type === 'image/jpeg' ? 'jpg' : f.type === 'image/gif' ? 'gif' : f.type === 'image/webp' ? 'webp' : 'bin';
    const name = f.name && f.name !== 'image.png' ? f.name : `pasted-${new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-')}.${ext}`;
    void f.arrayBuffer().then((buf) => messenger.request('sendFileBytes', { name, mime: f.type, data: toBase64(new Uint8Array(buf)) }))
      .then(() => scrollToNewest())
      .catch(showError);
  }
});

/**
 * Draws the previews of verified images (§2.3.5 "Images") from bytes the host hands over,
 * decoded here with createImageBitmap into a canvas: no URL is made, so the CSP's img-src stays
 * as strict as it is. A file the host will not preview shows no image.
 */
function fillImages(): void {
  for (const holder of Array.from(messagesEl.querySelectorAll<HTMLElement>('.image-preview'))) {
    const key = holder.dataset.key;
    if (!key || holder.dataset.drawn === 'true') continue;
    const bitmap = images.get(key);
    if (bitmap) {
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext('2d')?.drawImage(bitmap, 0, 0);
      holder.replaceChildren(canvas);
      holder.dataset.drawn = 'true';
      continue;
    }
    if (imagesLoading.has(key)) continue;
    imagesLoading.add(key);
    messenger.request('imageBytes', { key })
      .then(async (r) => createImageBitmap(new Blob([fromBase64(r.data)], { type: r.mime })))
      .then((b) => {
        images.set(key, b);
        fillImages();
      })
      .catch(() => holder.append(document.createTextNode('(no preview)')))
      .finally(() => imagesLoading.delete(key));
  }
}

// ---- host events ----------------------------------------------------------------------

/**
 * A snapshot of the room already shown while the reader is scrolled up (a reconnect, a relay
 * restart, a verification redraws the room): the window keeps its place and gets fresh copies
 * of its items, so the reader is not moved.
 */
async function refreshWindow(s: PanelSnapshot): Promise<void> {
  const first = state.items[0];
  if (!first) return;
  try {
    const page = await messenger.request('loadRange', { from: first.key, count: Math.min(state.items.length, WEBVIEW_LIMITS.windowSize) });
    if (state.room?.room !== s.room?.room) return;
    dispatch({ type: 'refresh', snapshot: s, items: page.items, hasOlder: page.hasOlder, hasNewer: page.hasNewer });
  } catch (e) {
    showError(e);
  }
}

function showSnapshot(s: PanelSnapshot): void {
  members.roomChanged(s.room?.room);
  const sameRoom = loaded && state.room !== undefined && s.room?.room === state.room.room;
  if (sameRoom && !pinned && state.items.length > 0) {
    olderStalled = false;
    void refreshWindow(s);
    return;
  }
  loaded = true;
  olderStalled = false;
  muted = s.muted === true;
  if (s.room?.room !== state.room?.room) {
    cancelReply();
    cancelEdit();
    closePicker();
  }
  switchDraft(s.room?.room);
  // A redraw is not news: screen readers should not read the whole window again.
  messagesEl.setAttribute('aria-busy', 'true');
  rendered.clear();
  messagesEl.replaceChildren();
  pinned = true;
  dispatch({ type: 'snapshot', snapshot: s });
  scrollToNewest();
  messagesEl.removeAttribute('aria-busy');
}

messenger.on('snapshot', showSnapshot);
messenger.on('item', (p) => {
  // Read as it arrives when the reader watches the live end of a visible panel (and nothing
  // above is unread, model.ts): no "New messages" divider for it.
  const watching = document.visibilityState === 'visible' && pinned && !state.hasNewer;
  dispatch({ type: 'item', room: p.room, item: p.item, seen: watching, ...(p.update === true ? { update: true } : {}) });
  if (p.item.deleted) images.delete(p.item.key);
});
messenger.on('presence', (p) => dispatch({ type: 'presence', room: p.room, presence: p.presence }));
messenger.on('typing', (p) => dispatch({ type: 'typing', room: p.room, name: p.name, shortFingerprint: p.shortFingerprint, keyChanged: p.keyChanged === true, now: Date.now() }));
messenger.on('connection', (p) => {
  olderStalled = false;
  dispatch({ type: 'connection', state: p.state, relay: p.relay });
});
messenger.on('focusComposer', () => {
  if (document.hasFocus()) composer.focus();
});

setInterval(() => dispatch({ type: 'tick', now: Date.now() }), 1_000);
window.addEventListener('pagehide', () => messenger.dispose());

const saved = api.getState() as (SavedState & { draft?: unknown }) | undefined;
if (saved && typeof saved.drafts === 'object' && saved.drafts !== null) {
  for (const [room, text] of Object.entries(saved.drafts)) if (typeof text === 'string') drafts[room] = text;
}

render();
messenger
  .request('ready', {})
  .then((snapshot) => {
    showSnapshot(snapshot);
    performance.mark('smc-first-paint');
    // Only when the panel has the focus already: never steal it from the palette or an editor.
    if (state.room && document.hasFocus()) composer.focus();
    document.body.dataset.ready = 'true';
  })
  .catch(showError);

// Exposed for end-to-end measurements only: how many items the bounded window holds.
document.body.dataset.windowSize = String(WEBVIEW_LIMITS.windowSize);
