// The private room's part of the chat panel (docs/extension.md "Private rooms"): which kind the
// room is, its member list with names, fingerprints and roles, Invite / Remove / Promote for
// admins, a removed member's banner with Leave, and membership events in the timeline. The
// host checks every request again (roles, members) and asks the user; this only renders and
// asks. Network strings (names) go in as text nodes only.
import type { ChatItem, RoomKindView } from '../src/shared/messages';
import type { WebviewMessenger } from './messenger';
import { displayName } from './text';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(className: string, label: string, icon: string, secondary = true): HTMLElement {
  const b = document.createElement('vscode-button');
  b.className = className;
  b.setAttribute('icon', icon);
  if (secondary) b.setAttribute('secondary', '');
  b.setAttribute('aria-label', label);
  b.textContent = label;
  return b;
}

/** A membership event's line in the timeline ("alice added bob"), set apart from messages. */
export function renderMembership(item: ChatItem): HTMLElement {
  const article = el('article', { class: 'message membership' });
  article.dataset.key = item.key;
  article.dataset.kind = 'membership';
  article.dataset.state = item.state;
  const icon = el('span', { class: 'codicon codicon-person', 'aria-hidden': 'true' });
  article.append(icon, el('span', { class: 'membership-text' }, ` ${item.text ?? ''}`));
  article.title = `By ${item.fingerprint}`;
  return article;
}

export class MembersPane {
  /** Beside the room's name: "Private room" or "Link room". */
  readonly kindBadge = el('span', { id: 'room-kind' });
  /** In the side panel, above who is online. */
  readonly section = el('section', { id: 'private-members', 'aria-labelledby': 'members-title' });
  /** Above the composer when this member was removed. */
  readonly removedBanner = el('div', { id: 'removed-banner', role: 'alert' });
  private room: string | undefined;
  private asked = 0;
  /** The current private room's member count (undefined: a link room, or not known yet). */
  privateMemberCount: number | undefined;

  constructor(private readonly messenger: WebviewMessenger, private readonly showError: (e: unknown) => void, private readonly shown: () => void = () => undefined) {
    this.kindBadge.hidden = true;
    this.section.hidden = true;
    this.removedBanner.hidden = true;
    this.section.addEventListener('click', (e) => this.onClick(e));
    this.removedBanner.addEventListener('click', (e) => {
      if ((e.target as HTMLElement | null)?.closest('.forget-room')) this.messenger.request('privateForget', {}).catch(this.showError);
    });
    messenger.on('roomKind', (v) => {
      if (v.room === this.room) this.show(v);
    });
  }

  /** The panel shows another room (or the same one afresh): ask the host what kind it is. */
  roomChanged(room: string | undefined): void {
    this.room = room;
    if (room === undefined) {
      this.show(undefined);
      return;
    }
    const ask = ++this.asked;
    this.messenger.request('roomKind', {}).then((v) => {
      if (ask === this.asked && v !== null && v.room === this.room) this.show(v);
    }).catch(() => undefined);
  }

  private show(v: RoomKindView | undefined): void {
    this.privateMemberCount = v?.kind === 'private' && v.removedBy === undefined ? (v.members?.length ?? 0) : undefined;
    this.shown();
    if (v === undefined) {
      this.kindBadge.hidden = true;
      this.section.hidden = true;
      this.removedBanner.hidden = true;
      document.body.classList.remove('removed-from-room', 'private-room');
      return;
    }
    this.kindBadge.hidden = false;
    this.kindBadge.dataset.kind = v.kind;
    this.kindBadge.textContent = v.kind === 'private' ? 'Private room' : 'Link room';
    this.kindBadge.title = v.kind === 'private'
      ? 'Members are managed by its admins; a removed member cannot read what follows (forward secrecy).'
      : 'Anyone with the invite link reads and writes everything here, history included.';
    document.body.classList.toggle('private-room', v.kind === 'private');
    const removed = v.removedBy !== undefined;
    document.body.classList.toggle('removed-from-room', removed);
    this.removedBanner.hidden = !removed;
    this.removedBanner.replaceChildren();
    if (removed) {
      this.removedBanner.append(
        el('span', {}, `${displayName(v.removedBy ?? '')} removed you from this room. You can no longer read or write it; only a new invite brings you back. `),
        button('forget-room', 'Leave room', 'sign-out', false),
      );
    }
    this.section.hidden = v.kind !== 'private' || removed;
    if (this.section.hidden) return;
    const title = el('h2', { id: 'members-title' }, `Members (${v.members?.length ?? 0})`);
    const list = el('ul', { id: 'members', 'aria-label': 'Members' });
    for (const m of v.members ?? []) {
      const li = el('li', { class: 'member' });
      li.dataset.fingerprint = m.fingerprint;
      li.dataset.role = m.role;
      if (m.self) li.dataset.self = 'true';
      const who = el('div', { class: 'member-who' });
      who.append(el('span', { class: 'name' }, m.name !== undefined ? displayName(m.name) : '(no name yet)'));
      if (m.self) who.append(el('span', { class: 'you' }, ' (you)'));
      who.append(el('span', { class: `role role-${m.role}` }, m.role));
      const fp = el('div', { class: 'fingerprint' }, m.fingerprint);
      fp.title = 'Fingerprint: compare it with them over another channel';
      li.append(who, fp);
      if (v.admin === true && !m.self) {
        const actions = el('div', { class: 'member-actions' });
        if (m.role !== 'admin') actions.append(button('promote-member', 'Promote', 'star-empty'));
        actions.append(button('remove-member', 'Remove', 'close'));
        li.append(actions);
      }
      list.append(li);
    }
    this.section.replaceChildren(title, list);
    if (v.admin === true) {
      const invite = button('invite-member', 'Invite', 'person-add', false);
      invite.id = 'invite-member';
      invite.title = 'A single-use invite, valid 24 hours: copied to the clipboard';
      this.section.append(invite);
    }
  }

  private onClick(e: Event): void {
    const target = e.target as HTMLElement | null;
    if (!target) return;
    if (target.closest('#invite-member, .invite-member')) {
      this.messenger.request('privateInvite', {}).catch(this.showError);
      return;
    }
    const fingerprint = target.closest<HTMLElement>('.member')?.dataset.fingerprint;
    if (fingerprint === undefined) return;
    if (target.closest('.remove-member')) this.messenger.request('privateRemove', { fingerprint }).catch(this.showError);
    else if (target.closest('.promote-member')) this.messenger.request('privatePromote', { fingerprint }).catch(this.showError);
  }
}
