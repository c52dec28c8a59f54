// One room's chat features in the extension host (docs/protocol.md §2.3.1-2.3.6): the client
// core's RoomEffects (edits, deletes, reactions) and RoomFiles (files in chunks) fed with the
// room's verified messages, the verified bytes of complete files, and the names seen per key.
// It turns a message into what the panel shows (decorate) and says which items changed. No
// vscode import: unit-tested in plain Node (test/unit/vscode-room-features.test.ts).
import type { ChatMessage } from '../core/client/types';
import {
  CONTENT_TYPES, EFFECT_TYPES, RoomEffects, RoomFiles, isMentioned, isPreviewableImage, makeQuote, mentionHighlights,
  type ChatFields, type EffectChange, type FileInfo, type Member, type RoomFileEvent, type TimelineMessage,
} from '../core/payload';
import type { ChatItem, FileView, ReactionItem, ReplyView } from '../shared/messages';

/** A verified message with the fields of §2.3.1-2.3.6 (ChatMessage carries them). */
export type FieldMessage = ChatMessage & ChatFields;

/** Bytes of complete files kept in memory per room, at most (the oldest go first). */
export const MAX_HELD_FILE_BYTES = 64 * 1024 * 1024;

/** What one message changed, for the session to redraw, purge and notify. */
export interface FeatureChanges {
  /** Content items whose view changed (edited, reactions, file progress, a reply's original). */
  changed: string[];
  /** Content items deleted by their sender: purge them from every local store (§2.3 "Order"). */
  deleted: string[];
  /** Effects refused (another key than the target's): for the log. */
  refused: { id: string; target: string; why: string }[];
}

/** Why a file failed, for the user (§2.3.5). */
function failureText(e: RoomFileEvent): string {
  if (e.kind === 'failed') return e.error.message;
  if (e.kind === 'evicted') return 'Dropped: too many unfinished files in this room (32 MiB).';
  return '';
}

export class RoomFeatures {
  private readonly effects = new RoomEffects();
  private readonly files = new RoomFiles();
  /** Complete files' verified bytes, oldest first (a Map keeps insertion order). */
  private readonly bytes = new Map<string, Buffer>();
  private heldBytes = 0;
  private readonly fileViews = new Map<string, FileView>();
  /** The latest display name seen per fingerprint: reaction hovers and @mention binding. */
  private readonly names = new Map<string, string>();
  /** Original id -> ids of the replies to it (their quotes follow the original). */
  private readonly replies = new Map<string, Set<string>>();
  /** Own effects not acked yet, to add again with their seq (§2.3 "Order"). */
  private readonly ownPending = new Map<string, FieldMessage>();

  constructor(private readonly self: () => string | undefined) {}

  /** Whether a message of this type is shown as an item (effects and chunks are not). */
  static shows(type: string): boolean {
    return !EFFECT_TYPES.includes(type) && type !== 'file-chunk';
  }

  /** The members a text's @names bind to (§2.3.2): every key seen in the room, with its latest name. */
  members(extra: readonly Member[] = []): Member[] {
    const out = new Map<string, string>(this.names);
    for (const m of extra) out.set(m.fingerprint, m.name);
    return [...out].map(([fingerprint, name]) => ({ fingerprint, name }));
  }

  /** Remembers a key's name (from presence or a message). */
  noteName(fingerprint: string, name: string): void {
    this.names.set(fingerprint, name);
  }

  /** Feeds one verified message (again is harmless). */
  add(m: FieldMessage): FeatureChanges {
    const out: FeatureChanges = { changed: [], deleted: [], refused: [] };
    if (!EFFECT_TYPES.includes(m.type) && m.type !== 'file-chunk') this.names.set(m.fingerprint, m.name);
    const tm = this.timelineMessage(m);
    if (m.own && m.seq === undefined && EFFECT_TYPES.includes(m.type)) this.ownPending.set(m.id, m);
    if (m.seq !== undefined) this.ownPending.delete(m.id);
    if (CONTENT_TYPES.includes(m.type) || EFFECT_TYPES.includes(m.type)) this.collect(this.effects.add(tm), out);
    if (m.reply !== undefined && CONTENT_TYPES.includes(m.type)) {
      const set = this.replies.get(m.reply.to) ?? new Set<string>();
      set.add(m.id);
      this.replies.set(m.reply.to, set);
    }
    // Own files sent from here are complete at once (ownFile); an own file from history (an
    // earlier run, another device) is assembled from its chunks like anyone's.
    if (m.type === 'file' && m.file !== undefined && !this.fileViews.has(m.id)) {
      this.fileViews.set(m.id, { name: m.file.name, size: m.file.size, mime: m.file.mime, state: 'receiving', received: 0, chunks: m.file.chunks });
      this.collectFiles(this.files.addFile(tm), out);
    } else if (m.type === 'file-chunk' && !this.bytes.has(m.target ?? '')) {
      this.collectFiles(this.files.addChunk(tm), out);
    }
    // A content message that others reply to: their quotes now show it.
    if (CONTENT_TYPES.includes(m.type)) for (const r of this.replies.get(m.id) ?? []) if (r !== m.id) out.changed.push(r);
    return out;
  }

  /** An own message got its seq (§1.5 ack): an own edit ranks by it from now on. */
  acked(id: string, seq: number): FeatureChanges {
    const out: FeatureChanges = { changed: [], deleted: [], refused: [] };
    const m = this.ownPending.get(id);
    if (m === undefined) return out;
    this.ownPending.delete(id);
    this.collect(this.effects.add(this.timelineMessage({ ...m, seq })), out);
    return out;
  }

  /** Own file bytes (sent from here): complete at once, previewable like a received one. */
  ownFile(id: string, info: FileInfo, bytes: Buffer): void {
    this.fileViews.set(id, { name: info.name, size: info.size, mime: info.mime, state: 'complete', received: info.chunks, chunks: info.chunks, ...(isPreviewableImage(info.mime, bytes) ? { image: true } : {}) });
    this.hold(id, bytes);
  }

  /** A complete file's verified bytes, or undefined (not complete, deleted, or no longer held). */
  fileBytes(id: string): Buffer | undefined {
    return this.bytes.get(id);
  }

  /** What the item of a content message shows, given its timeline neighbours for reply quotes. */
  decorate(item: ChatItem, lookup: (key: string) => ChatItem | undefined): ChatItem {
    const view = this.effects.view(item.key);
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
      const names = [...new Set(mentionHighlights(view.text, view.mentions, this.members()).map((h) => view.text!.slice(h.start, h.end)))];
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
    if (view.file !== undefined) next.file = { ...(this.fileViews.get(item.key) ?? { name: view.file.name, size: view.file.size, mime: view.file.mime, state: 'receiving', received: 0, chunks: view.file.chunks }) };
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

  private replyView(r: { to: string; from: string; quote: string }, lookup: (key: string) => ChatItem | undefined): ReplyView {
    const original = lookup(r.to);
    if (original === undefined || original.kind !== 'message') return { to: r.to, quote: r.quote };
    if (original.deleted) return { to: r.to, quote: '', name: original.name, deleted: true };
    // §2.3.1: the original's own text and sender, not the replier's claim about them.
    const view: ReplyView = { to: r.to, quote: makeQuote(RoomFeatures.searchableText(original)), name: original.name };
    if (original.fingerprint !== r.from) view.mismatch = true;
    return view;
  }

  private timelineMessage(m: FieldMessage): TimelineMessage {
    const payload: TimelineMessage['payload'] = { id: m.id, ts: m.ts, name: m.name, type: m.type };
    if (m.text !== undefined) payload.text = m.text;
    if (m.snippet !== undefined) payload.snippet = m.snippet;
    if (m.reply !== undefined) payload.reply = m.reply;
    if (m.mentions !== undefined) payload.mentions = m.mentions;
    if (m.target !== undefined) payload.target = m.target;
    if (m.emoji !== undefined) payload.emoji = m.emoji;
    if (m.file !== undefined) payload.file = m.file;
    if (m.index !== undefined) payload.index = m.index;
    if (m.data !== undefined) payload.data = m.data;
    if (m.patch !== undefined) payload.patch = m.patch;
    const tm: TimelineMessage = { id: m.id, signer: m.fingerprint, payload };
    if (m.seq !== undefined) tm.seq = m.seq;
    return tm;
  }

  private collect(changes: EffectChange[], out: FeatureChanges): void {
    for (const c of changes) {
      if (c.kind === 'edited' || c.kind === 'reactions') {
        out.changed.push(c.id);
        for (const r of this.replies.get(c.id) ?? []) out.changed.push(r);
      } else if (c.kind === 'deleted') {
        out.deleted.push(c.id);
        this.purge(c.id);
        for (const r of this.replies.get(c.id) ?? []) out.changed.push(r);
      } else if (c.kind === 'refused') {
        out.refused.push({ id: c.id, target: c.target, why: c.why });
      }
    }
  }

  private collectFiles(events: RoomFileEvent[], out: FeatureChanges): void {
    for (const e of events) {
      if (e.kind === 'progress') {
        const v = this.fileViews.get(e.file);
        if (v !== undefined && v.state === 'receiving') {
          v.received = e.received;
          out.changed.push(e.file);
        }
      } else if (e.kind === 'complete') {
        const v = this.fileViews.get(e.file);
        if (v === undefined) continue;
        v.state = 'complete';
        v.received = v.chunks;
        if (isPreviewableImage(v.mime, e.bytes)) v.image = true;
        this.hold(e.file, e.bytes);
        out.changed.push(e.file);
      } else if (e.kind === 'failed' || e.kind === 'evicted') {
        const v = this.fileViews.get(e.file);
        if (v === undefined) continue;
        v.state = 'failed';
        v.error = failureText(e);
        out.changed.push(e.file);
      }
    }
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

  /** §2.3 "Order": a deleted message's file bytes and assembly go too. */
  private purge(id: string): void {
    const b = this.bytes.get(id);
    if (b !== undefined) {
      this.heldBytes -= b.length;
      this.bytes.delete(id);
    }
    this.files.forget(id);
    this.fileViews.delete(id);
  }
}
