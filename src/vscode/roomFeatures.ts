// One room's chat features in the extension host (docs/protocol.md §2.3.1-2.3.6), as the
// panel shows them. The client core applies edits, deletes and reactions (RoomEffects) and
// assembles files (RoomFiles) and says so in `message`, `effects` and `file` events; this keeps
// what each content item shows (its MessageView), the verified bytes of complete files, the
// names seen per key (reaction hovers, @mention binding) and which replies quote which message,
// and turns an item into what the panel draws (decorate). No vscode import: unit-tested in
// plain Node (test/unit/vscode-room-features.test.ts).
import type { ChatMessage, EffectEvent, FileEvent } from '../core/client/types';
import {
  CONTENT_TYPES, isMentioned, isPreviewableImage, makeQuote, mentionHighlights,
  type FileInfo, type Member, type MessageView,
} from '../core/payload';
import type { ChatItem, FileView, ReactionItem, ReplyView } from '../shared/messages';
import { previewableSize } from './filesImage';

/** Bytes of complete files kept in memory per room, at most (the oldest go first). */
export const MAX_HELD_FILE_BYTES = 64 * 1024 * 1024;

/** What one event changed, for the session to redraw and purge. */
export interface FeatureChanges {
  /** Content items whose view changed (edited, reactions, file progress, a reply's original). */
  changed: string[];
  /** Content items deleted by their sender: purged from every local store (§2.3 "Order"). */
  deleted: string[];
}

const none = (): FeatureChanges => ({ changed: [], deleted: [] });

/** The view of a content message as the client core hands it over (effects known applied). */
export function viewOfMessage(m: ChatMessage): MessageView {
  const v: MessageView = {
    id: m.id, signer: m.fingerprint, name: m.name, ts: m.ts, type: m.type,
    edited: m.edited === true, deleted: m.deleted === true, reactions: m.reactions ?? [],
  };
  if (m.seq !== undefined) v.seq = m.seq;
  if (v.deleted) return v;
  if (m.text !== undefined) v.text = m.text;
  if (m.mentions !== undefined) v.mentions = m.mentions;
  if (m.snippet !== undefined) v.snippet = m.snippet;
  if (m.file !== undefined) v.file = m.file;
  if (m.patch !== undefined) v.patch = m.patch;
  if (m.reply !== undefined) v.reply = m.reply;
  return v;
}

export class RoomFeatures {
  private readonly views = new Map<string, MessageView>();
  /** Complete files' verified bytes, oldest first (a Map keeps insertion order). */
  private readonly bytes = new Map<string, Buffer>();
  private heldBytes = 0;
  private readonly fileViews = new Map<string, FileView>();
  /** The latest display name seen per fingerprint. */
  private readonly names = new Map<string, string>();
  /** Original id -> ids of the replies to it (their quotes follow the original). */
  private readonly replies = new Map<string, Set<string>>();

  constructor(private readonly self: () => string | undefined) {}

  /** The members a text's @names bind to (§2.3.2): every key seen in the room, with its latest name. */
  members(extra: readonly Member[] = []): Member[] {
    const out = new Map<string, string>(this.names);
    for (const m of extra) out.set(m.fingerprint, m.name);
    return [...out].map(([fingerprint, name]) => ({ fingerprint, name }));
  }

  /** A content message (or one of a type this version does not know), as the core emits it. */
  onMessage(m: ChatMessage): FeatureChanges {
    const out = none();
    this.names.set(m.fingerprint, m.name);
    if (!CONTENT_TYPES.includes(m.type)) return out;
    const view = viewOfMessage(m);
    const known = this.views.get(m.id);
    // A copy without a seq (an own message shown again) never replaces what is known.
    if (known === undefined || m.seq !== undefined) this.views.set(m.id, view);
    if (view.deleted) this.purge(m.id);
    if (m.reply !== undefined) {
      const set = this.replies.get(m.reply.to) ?? new Set<string>();
      set.add(m.id);
      this.replies.set(m.reply.to, set);
    }
    if (m.type === 'file' && m.file !== undefined && !this.fileViews.has(m.id) && !view.deleted) {
      this.fileViews.set(m.id, { name: m.file.name, size: m.file.size, mime: m.file.mime, state: 'receiving', received: 0, chunks: m.file.chunks });
    }
    // Replies to this message (loaded later than them, from history) now quote it.
    for (const r of this.replies.get(m.id) ?? []) if (r !== m.id) out.changed.push(r);
    return out;
  }

  /** A reaction, edit or delete (§2.3.3, §2.3.4) as the core applied it. */
  onEffect(e: EffectEvent): FeatureChanges {
    const out = none();
    if (e.change === 'pending' || e.change === 'refused' || e.change === 'unchanged') return out;
    if (e.view !== undefined) this.views.set(e.target, e.view);
    if (e.change === 'deleted') {
      out.deleted.push(e.target);
      this.purge(e.target);
    } else {
      out.changed.push(e.target);
    }
    for (const r of this.replies.get(e.target) ?? []) out.changed.push(r);
    return out;
  }

  /** A file's progress (§2.3.5). */
  onFile(e: FileEvent): FeatureChanges {
    const out = none();
    const v = this.fileViews.get(e.file);
    if (v === undefined) {
      // Complete before its message was shown here: keep the bytes; the message shows them.
      if (e.state === 'complete' && !this.deletedId(e.file)) this.hold(e.file, Buffer.from(e.bytes));
      return out;
    }
    if (e.state === 'receiving') {
      if (v.state !== 'receiving') return out;
      v.received = e.received;
    } else if (e.state === 'complete') {
      if (this.deletedId(e.file)) return out;
      const bytes = Buffer.from(e.bytes);
      v.state = 'complete';
      v.received = v.chunks;
      if (isPreviewableImage(v.mime, bytes) && previewableSize(v.mime, bytes)) v.image = true;
      this.hold(e.file, bytes);
    } else if (e.state === 'failed') {
      v.state = 'failed';
      v.error = e.reason === 'evicted' ? 'Dropped: too many unfinished files in this room (32 MiB).' : e.error;
    } else if (e.state === 'uploading') {
      v.received = e.acked;
    } else if (e.state === 'uploaded') {
      v.state = 'complete';
      v.received = v.chunks;
    }
    out.changed.push(e.file);
    return out;
  }

  /** Own file bytes (sent from here): previewable and savable at once, uploading until acked. */
  ownFile(id: string, info: FileInfo, bytes: Buffer): void {
    this.fileViews.set(id, {
      name: info.name, size: info.size, mime: info.mime, state: info.chunks === 0 ? 'complete' : 'sending', received: 0, chunks: info.chunks,
      ...(isPreviewableImage(info.mime, bytes) && previewableSize(info.mime, bytes) ? { image: true } : {}),
    });
    this.hold(id, bytes);
  }

  /**
   * An own message's new id (§3.3: it goes again under it): its view, file and bytes move, and
   * the replies to it now name it (what the core retargets in the outbox, this shows). Says
   * which items to redraw: the replies.
   */
  rekey(from: string, to: string): FeatureChanges {
    const out = none();
    const move = <V>(m: Map<string, V>): void => {
      const v = m.get(from);
      if (v === undefined) return;
      m.delete(from);
      m.set(to, v);
    };
    const view = this.views.get(from);
    if (view !== undefined) this.views.set(from, { ...view, id: to });
    move(this.views);
    move(this.bytes);
    move(this.fileViews);
    const replies = this.replies.get(from);
    this.replies.delete(from);
    if (replies !== undefined) {
      const set = this.replies.get(to) ?? new Set<string>();
      for (const r of replies) {
        set.add(r);
        const rv = this.views.get(r);
        if (rv?.reply?.to === from) this.views.set(r, { ...rv, reply: { ...rv.reply, to } });
        out.changed.push(r);
      }
      this.replies.set(to, set);
    }
    // The message itself may be a reply: it is one of its original's replies under its new id.
    for (const set of this.replies.values()) {
      if (set.delete(from)) set.add(to);
    }
    return out;
  }

  /** A complete file's verified bytes, or undefined (not complete, deleted, or no longer held). */
  fileBytes(id: string): Buffer | undefined {
    return this.bytes.get(id);
  }

  /** What the item of a content message shows; `lookup` finds a reply's original. */
  decorate(item: ChatItem, lookup: (key: string) => ChatItem | undefined): ChatItem {
    const view = this.views.get(item.key);
    if (view === undefined) return item;
    const next: ChatItem = { ...item };
    for (const k of ['text', 'snippet', 'reply', 'mentionsMe', 'mentionNames', 'reactions', 'edited', 'deleted', 'file', 'patch'] as const) delete next[k];
    if (view.deleted) {
      next.deleted = true;
      return next;
    }
    if (view.text !== undefined) next.text = view.text;
    if (view.snippet !== undefined) next.snippet = { ...view.snippet };
    if (view.edited) next.edited = true;
    const self = this.self();
    if (self !== undefined && isMentioned(view.mentions, self)) next.mentionsMe = true;
    if (view.mentions !== undefined && view.text !== undefined) {
      const text = view.text;
      const names = [...new Set(mentionHighlights(text, view.mentions, this.members()).map((h) => text.slice(h.start, h.end)))];
      if (names.length > 0) next.mentionNames = names;
    }
    if (view.reactions.length > 0) {
      next.reactions = view.reactions.map((r): ReactionItem => ({
        emoji: r.emoji,
        count: r.signers.length,
        names: r.signers.map((s) => (s === self ? 'you' : this.names.get(s) ?? s.slice(0, 9))),
        mine: self !== undefined && r.signers.includes(self),
      }));
    }
    if (view.reply !== undefined) next.reply = this.replyView(view.reply, lookup);
    if (view.file !== undefined) {
      next.file = { ...(this.fileViews.get(item.key) ?? { name: view.file.name, size: view.file.size, mime: view.file.mime, state: 'receiving', received: 0, chunks: view.file.chunks }) };
    }
    if (view.patch !== undefined) {
      const p = view.patch;
      next.patch = { root: p.root, paths: [...p.paths], diff: p.diff, ...(p.base !== undefined ? { base: p.base } : {}) };
    }
    return next;
  }

  /** The text a search and a reply quote see of an item (its text, caption, file name, code). */
  static searchableText(item: ChatItem): string {
    if (item.deleted) return '';
    const parts = [item.text ?? ''];
    if (item.snippet) parts.push(item.snippet.path, item.snippet.code);
    if (item.file) parts.push(item.file.name);
    if (item.patch) parts.push(...item.patch.paths);
    return parts.filter((p) => p !== '').join(' ');
  }

  private deletedId(id: string): boolean {
    return this.views.get(id)?.deleted === true;
  }

  private replyView(r: { to: string; from: string; quote: string }, lookup: (key: string) => ChatItem | undefined): ReplyView {
    const original = lookup(r.to);
    if (original === undefined || original.kind !== 'message') return { to: r.to, quote: r.quote };
    if (original.deleted) return { to: r.to, quote: '', name: original.name, deleted: true };
    // §2.3.1: the original's own text and sender, not the replier's claim about them.
    const view: ReplyView = { to: r.to, quote: makeQuote(RoomFeatures.searchableText(original)), name: original.name };
    if (original.fingerprint !== r.from) view.mismatch = true;
    return view;
  }

  private hold(id: string, bytes: Buffer): void {
    if (this.bytes.has(id)) return;
    this.bytes.set(id, bytes);
    this.heldBytes += bytes.length;
    for (const [old, b] of this.bytes) {
      if (this.heldBytes <= MAX_HELD_FILE_BYTES || old === id) break;
      this.bytes.delete(old);
      this.heldBytes -= b.length;
    }
  }

  /** §2.3 "Order": a deleted message's file bytes go too. */
  private purge(id: string): void {
    const b = this.bytes.get(id);
    if (b !== undefined) {
      this.heldBytes -= b.length;
      this.bytes.delete(id);
    }
    this.fileViews.delete(id);
  }
}
