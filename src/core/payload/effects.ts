// What each message of a room shows once its edits, deletes and reactions are applied
// (docs/protocol.md §2.3 "Who may act on a message", §2.3.3, §2.3.4). Pure: messages in (in any
// order, each once or again), views and changes out. Only the original sender's key edits or
// deletes; reactions toggle by parity; an effect whose target is not loaded yet waits, bounded.
import { Payload, Snippet } from '../crypto/payload';
import { CONTENT_TYPES, EFFECT_TYPES, FileInfo, PatchShare, ReplyRef } from './fields';

/** One verified message of a room's timeline, as the reducer needs it. */
export interface TimelineMessage {
  id: string;
  /** The relay's seq (§1.5); undefined for an own message not acked yet. */
  seq?: number;
  /**
   * The signer: its fingerprint (§2.1), from the envelope (§2.4 step 3), never the name. Two
   * fingerprints are equal only for one key (a 128-bit second preimage otherwise).
   */
  signer: string;
  payload: Payload;
}

/** One emoji on a message and the keys that have it on (in the order they first reacted). */
export interface ReactionView {
  emoji: string;
  signers: string[];
}

/** What a content message (text, snippet, file, patch) shows. */
export interface MessageView {
  id: string;
  seq?: number;
  signer: string;
  /** The original's name and ts (an edit changes neither). */
  name: string;
  ts: number;
  type: string;
  /** The text, or the caption, after the latest edit; absent once deleted. */
  text?: string;
  mentions?: string[];
  snippet?: Snippet;
  file?: FileInfo;
  patch?: PatchShare;
  reply?: ReplyRef;
  /** An edit by the original sender's key applies. */
  edited: boolean;
  /** Deleted by the original sender's key: nothing of the content is left. */
  deleted: boolean;
  reactions: ReactionView[];
}

/** What one `add` changed, for the client to redraw, store or purge. */
export type EffectChange =
  /** A content message is new; its view is `view(id)`. */
  | { kind: 'shown'; id: string }
  | { kind: 'edited'; id: string }
  /** The content is deleted: purge it from the local store too (§2.3 "Order"). */
  | { kind: 'deleted'; id: string }
  | { kind: 'reactions'; id: string }
  /** An effect whose target is not loaded yet: kept, applied when it arrives. */
  | { kind: 'pending'; id: string; target: string }
  /** An effect that does not apply: another key than the target's, or a target that is not content. */
  | { kind: 'refused'; id: string; target: string; why: 'not_the_sender' | 'not_content' }
  /** A pending effect dropped to keep the bound (§2.3: 1 000 effects, 4 MiB of text). */
  | { kind: 'dropped'; id: string; target: string };

export interface EffectLimits {
  /** §2.3: pending effects per room. */
  maxPending: number;
  /** §2.3: UTF-8 bytes of `text` among pending effects. */
  maxPendingTextBytes: number;
  /** §2.3.3: distinct emoji shown on one message. */
  maxEmojiPerMessage: number;
  /**
   * Messages remembered (content and the ids of the others): past it the oldest are forgotten,
   * so that a long session's memory stays bounded; an effect on a forgotten message waits as
   * pending (bounded above) like one whose target is not loaded.
   */
  maxMessages: number;
}

export const DEFAULT_EFFECT_LIMITS: EffectLimits = { maxPending: 1_000, maxPendingTextBytes: 4 * 1024 * 1024, maxEmojiPerMessage: 64, maxMessages: 20_000 };

interface EditEntry {
  id: string;
  seq?: number;
  arrival: number;
  text: string;
  mentions?: string[];
}

interface ContentState {
  message: TimelineMessage;
  edits: EditEntry[];
  deleted: boolean;
  /** emoji -> signer -> number of identical reactions (on when odd). */
  reactions: Map<string, Map<string, number>>;
}

interface PendingEntry {
  message: TimelineMessage;
  textBytes: number;
}

/** An edit's rank (§2.3 "Order"): the highest seq wins; an own edit not acked yet ranks above all. */
function ranksAbove(a: EditEntry, b: EditEntry): boolean {
  const sa = a.seq ?? Number.POSITIVE_INFINITY;
  const sb = b.seq ?? Number.POSITIVE_INFINITY;
  return sa !== sb ? sa > sb : a.arrival > b.arrival;
}

/** One room's effects. Memory: one entry per message added, and the pending effects within their bound. */
export class RoomEffects {
  private readonly contents = new Map<string, ContentState>();
  /** Ids of effects applied or pending, and of every other non-content message (chunks, unknown types). */
  private readonly others = new Map<string, { target?: string; seq?: number }>();
  private readonly pending = new Map<string, PendingEntry[]>();
  /** Pending effect ids, oldest first, for the bound. */
  private readonly pendingOrder: { id: string; target: string }[] = [];
  private pendingTextBytes = 0;
  private arrivals = 0;
  private readonly limits: EffectLimits;

  constructor(limits: Partial<EffectLimits> = {}) {
    this.limits = { ...DEFAULT_EFFECT_LIMITS, ...limits };
  }

  /** Adds one verified message (again is harmless: an own message added again with its seq updates it). */
  add(m: TimelineMessage): EffectChange[] {
    const type = m.payload.type;
    if (CONTENT_TYPES.includes(type)) return this.addContent(m);
    if (EFFECT_TYPES.includes(type)) return this.addEffect(m);
    if (!this.others.has(m.id)) this.others.set(m.id, {});
    this.keepBound();
    return [];
  }

  /** maxMessages: the oldest remembered go first (Maps iterate in insertion order). */
  private keepBound(): void {
    const pendingIds = new Set<string>();
    while (this.contents.size > this.limits.maxMessages) this.contents.delete(this.contents.keys().next().value!);
    if (this.others.size <= this.limits.maxMessages) return;
    for (const e of this.pendingOrder) pendingIds.add(e.id);
    for (const id of this.others.keys()) {
      if (this.others.size <= this.limits.maxMessages) break;
      // A pending effect stays known while it waits (the pending bound drops it otherwise).
      if (!pendingIds.has(id)) this.others.delete(id);
    }
  }

  /** The view of a content message, or undefined if none was added under this id. */
  view(id: string): MessageView | undefined {
    const s = this.contents.get(id);
    if (s === undefined) return undefined;
    const p = s.message.payload;
    const base = { id, seq: s.message.seq, signer: s.message.signer, name: p.name, ts: p.ts, type: p.type };
    if (s.deleted) return { ...base, edited: false, deleted: true, reactions: [] };
    const latest = this.latestEdit(s);
    const view: MessageView = { ...base, edited: latest !== undefined, deleted: false, reactions: this.reactionsOf(s) };
    const text = latest !== undefined ? latest.text : p.text;
    // §2.3.4: an empty edit removes a caption; a text message keeps its (empty) text.
    if (text !== undefined && (p.type === 'text' || text !== '')) view.text = text;
    const mentions = latest !== undefined ? latest.mentions : p.mentions;
    if (mentions !== undefined) view.mentions = mentions;
    if (p.snippet !== undefined) view.snippet = p.snippet;
    if (p.file !== undefined) view.file = p.file;
    if (p.patch !== undefined) view.patch = p.patch;
    if (p.reply !== undefined) view.reply = p.reply;
    return view;
  }

  /**
   * An own message goes on under a new id (docs/protocol.md §3.3: it was stale, and went again
   * under a new one no one else has seen yet): what this room knows of it (its content, edits
   * and reactions, or the effect it is) moves there, and so does what names it (effects'
   * targets, replies), so that effects on the new id apply to it. Nothing when `from` is unknown.
   */
  rename(from: string, to: string): void {
    if (from === to || this.contents.has(to) || this.others.has(to)) return;
    const content = this.contents.get(from);
    if (content !== undefined) {
      this.contents.delete(from);
      content.message = { ...content.message, id: to, payload: { ...content.message.payload, id: to } };
      this.contents.set(to, content);
      for (const s of this.contents.values()) {
        const reply = s.message.payload.reply;
        if (reply?.to === from) s.message = { ...s.message, payload: { ...s.message.payload, reply: { ...reply, to } } };
      }
      for (const o of this.others.values()) if (o.target === from) o.target = to;
      return;
    }
    const other = this.others.get(from);
    if (other === undefined) return;
    this.others.delete(from);
    this.others.set(to, other);
    // An own edit is known by its id among its target's edits (its ack gives it its seq).
    const s = other.target === undefined ? undefined : this.contents.get(other.target);
    for (const e of s?.edits ?? []) if (e.id === from) e.id = to;
  }

  /** How many effects wait for their target. */
  pendingCount(): number {
    return this.pendingOrder.length;
  }

  private addContent(m: TimelineMessage): EffectChange[] {
    const known = this.contents.get(m.id);
    if (known !== undefined) {
      if (known.message.seq === undefined && m.seq !== undefined) known.message = { ...known.message, seq: m.seq };
      return [];
    }
    const state: ContentState = { message: m, edits: [], deleted: false, reactions: new Map() };
    this.contents.set(m.id, state);
    this.keepBound();
    const changes: EffectChange[] = [{ kind: 'shown', id: m.id }];
    const waiting = this.pending.get(m.id);
    if (waiting !== undefined) {
      this.pending.delete(m.id);
      for (const w of waiting) {
        this.pendingTextBytes -= w.textBytes;
        const at = this.pendingOrder.findIndex((e) => e.id === w.message.id);
        if (at >= 0) this.pendingOrder.splice(at, 1);
        changes.push(...this.apply(w.message, state));
      }
    }
    return changes;
  }

  private addEffect(m: TimelineMessage): EffectChange[] {
    const target = m.payload.target ?? '';
    const seen = this.others.get(m.id);
    if (seen !== undefined) {
      // The same effect again: an own edit now acked takes its seq (and may rank differently).
      if (seen.seq === undefined && m.seq !== undefined) {
        seen.seq = m.seq;
        const s = this.contents.get(target);
        const entry = s?.edits.find((e) => e.id === m.id);
        if (s !== undefined && entry !== undefined) {
          const before = this.latestEdit(s);
          entry.seq = m.seq;
          if (this.latestEdit(s) !== before) return [{ kind: 'edited', id: target }];
        }
      }
      return [];
    }
    this.others.set(m.id, { target, seq: m.seq });
    this.keepBound();
    const state = this.contents.get(target);
    if (state !== undefined) return this.apply(m, state);
    if (this.others.has(target)) return [{ kind: 'refused', id: m.id, target, why: 'not_content' }];
    return this.keepPending(m, target);
  }

  private apply(m: TimelineMessage, s: ContentState): EffectChange[] {
    const target = s.message.id;
    if (s.deleted) return []; // §2.3 "Order": a delete is final.
    const p = m.payload;
    if (p.type === 'edit' || p.type === 'delete') {
      // §2.3 "Who may act on a message": only the original sender's key.
      if (m.signer !== s.message.signer) return [{ kind: 'refused', id: m.id, target, why: 'not_the_sender' }];
      if (p.type === 'delete') {
        s.deleted = true;
        s.edits = [];
        s.reactions.clear();
        s.message = { ...s.message, payload: { id: s.message.payload.id, ts: s.message.payload.ts, name: s.message.payload.name, type: s.message.payload.type } };
        return [{ kind: 'deleted', id: target }];
      }
      const before = this.latestEdit(s);
      const entry: EditEntry = { id: m.id, seq: m.seq, arrival: this.arrivals++, text: p.text ?? '' };
      if (p.mentions !== undefined) entry.mentions = p.mentions;
      s.edits.push(entry);
      return this.latestEdit(s) !== before ? [{ kind: 'edited', id: target }] : [];
    }
    // A reaction (§2.3.3): toggles by parity, per target, key and emoji.
    const emoji = p.emoji ?? '';
    let bySigner = s.reactions.get(emoji);
    if (bySigner === undefined) {
      if (s.reactions.size >= this.limits.maxEmojiPerMessage) return [];
      bySigner = new Map();
      s.reactions.set(emoji, bySigner);
    }
    bySigner.set(m.signer, (bySigner.get(m.signer) ?? 0) + 1);
    return [{ kind: 'reactions', id: target }];
  }

  private keepPending(m: TimelineMessage, target: string): EffectChange[] {
    const textBytes = Buffer.byteLength(m.payload.text ?? '', 'utf8');
    const list = this.pending.get(target) ?? [];
    list.push({ message: m, textBytes });
    this.pending.set(target, list);
    this.pendingOrder.push({ id: m.id, target });
    this.pendingTextBytes += textBytes;
    const changes: EffectChange[] = [{ kind: 'pending', id: m.id, target }];
    while (this.pendingOrder.length > this.limits.maxPending || this.pendingTextBytes > this.limits.maxPendingTextBytes) {
      const oldest = this.pendingOrder.shift()!;
      const entries = this.pending.get(oldest.target) ?? [];
      const at = entries.findIndex((e) => e.message.id === oldest.id);
      if (at >= 0) {
        this.pendingTextBytes -= entries[at]!.textBytes;
        entries.splice(at, 1);
      }
      if (entries.length === 0) this.pending.delete(oldest.target);
      // Forgotten entirely, so that the same effect met again (a history page) can wait again.
      this.others.delete(oldest.id);
      changes.push({ kind: 'dropped', id: oldest.id, target: oldest.target });
    }
    return changes;
  }

  private latestEdit(s: ContentState): EditEntry | undefined {
    let best: EditEntry | undefined;
    for (const e of s.edits) if (best === undefined || ranksAbove(e, best)) best = e;
    return best;
  }

  private reactionsOf(s: ContentState): ReactionView[] {
    const out: ReactionView[] = [];
    for (const [emoji, bySigner] of s.reactions) {
      const signers = [...bySigner].filter(([, n]) => n % 2 === 1).map(([signer]) => signer);
      if (signers.length > 0) out.push({ emoji, signers });
    }
    return out;
  }
}
