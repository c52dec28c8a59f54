// The chat features of one room (docs/protocol.md §2.3.1-2.3.5) between the verified messages
// and what a UI shows: reactions, edits and deletes applied to their targets (RoomEffects), file
// chunks assembled and verified (RoomFiles), and the checks a sender makes before acting on a
// message. Used by RelayClient for link rooms and by the terminal's private rooms alike (the
// payload is the same, §3.3), so both show the same thing. Pure: messages in, events out.
import type { Payload } from '../crypto/payload';
import { RoomEffects, type EffectChange, type EffectLimits, type MessageView, type TimelineMessage } from '../payload/effects';
import { CONTENT_TYPES, EFFECT_TYPES, type ChatFields } from '../payload/fields';
import { makeQuote } from '../payload/quote';
import { RoomFiles, type RoomFileEvent, type RoomFileLimits } from '../payload/roomFiles';
import type { ChatMessage, ClientLog, EffectEvent, FileEvent, OutgoingContent, ReplyRef } from './types';

const CHAT_FIELDS: readonly (keyof ChatFields)[] = ['reply', 'mentions', 'target', 'emoji', 'file', 'index', 'data', 'patch'];

/** Copies the §2.3.1-2.3.6 fields a parsed payload has onto the message a UI sees. */
export function copyChatFields(p: ChatFields, m: ChatFields): void {
  const copy = <K extends keyof ChatFields>(k: K): void => {
    if (p[k] !== undefined) m[k] = p[k];
  };
  for (const f of CHAT_FIELDS) copy(f);
}

/** The payload a message was opened from (the fields the reducers read). */
function payloadOf(m: ChatMessage): Payload {
  const p: Payload = { id: m.id, ts: m.ts, name: m.name, type: m.type };
  if (m.text !== undefined) p.text = m.text;
  if (m.snippet !== undefined) p.snippet = m.snippet;
  copyChatFields(m, p);
  return p;
}

function timeline(m: ChatMessage): TimelineMessage {
  const t: TimelineMessage = { id: m.id, signer: m.fingerprint, payload: payloadOf(m) };
  if (m.seq !== undefined) t.seq = m.seq;
  return t;
}

/** The message as it shows once the effects known are applied (§2.3 "Order"). */
export function applyView(m: ChatMessage, view: MessageView | undefined): ChatMessage {
  if (view === undefined) return m;
  const out: ChatMessage = { ...m };
  if (view.deleted) {
    // §2.3 "Order": nothing of the content is left, in the view or anything kept from it.
    for (const f of ['text', 'snippet', 'file', 'patch', 'reply', 'mentions', 'reactions', 'edited'] as const) delete out[f];
    out.deleted = true;
    return out;
  }
  if (view.edited) {
    out.edited = true;
    if (view.text !== undefined) out.text = view.text;
    else delete out.text;
    if (view.mentions !== undefined) out.mentions = view.mentions;
    else delete out.mentions;
  }
  if (view.reactions.length > 0) out.reactions = view.reactions;
  else delete out.reactions;
  return out;
}

/** What one received message gives a UI. */
export interface FeatureOutput {
  /** The message to show (content or unknown type), with its effects applied; none for effects and chunks. */
  message?: ChatMessage;
  effects: EffectEvent[];
  files: FileEvent[];
}

export interface RoomFeatureLimits {
  effects?: Partial<EffectLimits>;
  files?: Partial<RoomFileLimits>;
}

export class RoomFeatures {
  private readonly effects: RoomEffects;
  private readonly files: RoomFiles;
  /** Effects waiting for their target (bounded with RoomEffects' pending bound), to report them when it comes. */
  private readonly waiting = new Map<string, ChatMessage>();

  constructor(
    readonly room: string,
    private readonly ownFingerprint: string,
    limits: RoomFeatureLimits = {},
    private readonly log: ClientLog = () => undefined,
  ) {
    this.effects = new RoomEffects(limits.effects);
    this.files = new RoomFiles(limits.files);
  }

  /** A verified message from the relay (any type, own ones from history included). */
  receive(m: ChatMessage): FeatureOutput {
    const out: FeatureOutput = { effects: [], files: [] };
    if (m.type === 'file-chunk') {
      out.files = this.fileEvents(this.files.addChunk(timeline(m)));
      return out;
    }
    const changes = this.effects.add(timeline(m));
    if (EFFECT_TYPES.includes(m.type)) {
      out.effects = this.effectEvents(m, changes);
      return out;
    }
    if (!CONTENT_TYPES.includes(m.type)) {
      out.message = m;
      return out;
    }
    const view = this.effects.view(m.id);
    out.message = applyView(m, view);
    // Effects that waited for this message: applied in the view; the refused ones are said.
    for (const c of changes) {
      if (c.kind === 'shown') continue;
      if (c.kind === 'refused') {
        const effect = this.waiting.get(c.id);
        if (effect !== undefined) out.effects.push({ room: this.room, effect, target: c.target, change: 'refused', why: c.why, ...(view ? { view } : {}) });
      }
      this.waiting.delete(c.id);
    }
    if (m.type === 'file' && view?.deleted !== true) out.files = this.fileEvents(this.files.addFile(timeline(m)));
    return out;
  }

  /** An own message just queued (no seq yet): content is registered, an effect applies at once (§2.3 "Order"). */
  sent(m: ChatMessage): EffectEvent[] {
    const changes = this.effects.add(timeline(m));
    return EFFECT_TYPES.includes(m.type) ? this.effectEvents(m, changes) : [];
  }

  /** An own message acked under its seq: its rank among edits is its seq now. */
  acked(m: ChatMessage): EffectEvent[] {
    if (m.seq === undefined || m.type === 'file-chunk') return [];
    const changes = this.effects.add(timeline(m));
    return EFFECT_TYPES.includes(m.type) && changes.length > 0 ? this.effectEvents(m, changes) : [];
  }

  /**
   * An own message goes on under a new id (docs/protocol.md §3.3, a private room's stale
   * message sent again): what is known of it, and what names it, follows, so that the effects
   * of others on the new id apply and a reply or edit of it names the new id.
   */
  renamed(from: string, to: string): void {
    this.effects.rename(from, to);
  }

  /** The view of a loaded content message. */
  view(id: string): MessageView | undefined {
    return this.effects.view(id);
  }

  /** §2.3.1: the reply field for a loaded message (its sender, a quote of its text). */
  replyTo(id: string): ReplyRef | undefined {
    const v = this.effects.view(id);
    if (v === undefined || v.deleted) return undefined;
    const text = v.text ?? v.file?.name ?? (v.snippet !== undefined ? v.snippet.path : '');
    return { to: id, from: v.signer, quote: makeQuote(text) };
  }

  /**
   * The checks a sender makes before acting on a message (§2.3 "Who may act on a message"):
   * what is wrong, for the user, or undefined. Receivers check the same whatever is sent.
   */
  outgoingProblem(c: OutgoingContent): string | undefined {
    if (!EFFECT_TYPES.includes(c.type)) return undefined;
    const target = c.target === undefined ? undefined : this.effects.view(c.target);
    if (target === undefined) return 'the message it acts on is not loaded here';
    if (target.deleted) return 'that message was deleted';
    if (c.type !== 'reaction' && target.signer !== this.ownFingerprint) {
      return `only its sender can ${c.type} a message (§2.3.4: others would refuse it)`;
    }
    if (c.type === 'edit' && target.type === 'text' && (c.text ?? '') === '') return 'an edit of a text message needs text (delete it instead)';
    return undefined;
  }

  private effectEvents(m: ChatMessage, changes: EffectChange[]): EffectEvent[] {
    const target = m.target ?? '';
    const events: EffectEvent[] = [];
    let said = false;
    for (const c of changes) {
      if (c.kind === 'dropped') {
        // §2.3: the pending bound; its target, if it comes, shows without it.
        this.waiting.delete(c.id);
        this.log('effect_dropped', { room: this.room, id: c.id });
        continue;
      }
      if (c.kind === 'pending') this.waiting.set(m.id, m);
      if (c.kind === 'deleted') this.files.forget(c.id);
      said = true;
      const view = this.effects.view(target);
      const e: EffectEvent = {
        room: this.room, effect: m, target,
        change: c.kind === 'shown' ? 'unchanged' : c.kind,
        ...(view ? { view } : {}),
      };
      if (c.kind === 'refused') e.why = c.why;
      events.push(e);
    }
    if (!said) {
      const view = this.effects.view(target);
      events.push({ room: this.room, effect: m, target, change: 'unchanged', ...(view ? { view } : {}) });
    }
    return events;
  }

  private fileEvents(events: RoomFileEvent[]): FileEvent[] {
    const out: FileEvent[] = [];
    for (const e of events) {
      switch (e.kind) {
        case 'progress': out.push({ room: this.room, file: e.file, state: 'receiving', received: e.received, chunks: e.chunks }); break;
        case 'complete': out.push({ room: this.room, file: e.file, state: 'complete', info: e.info, fingerprint: e.signer, bytes: e.bytes }); break;
        case 'failed': out.push({ room: this.room, file: e.file, state: 'failed', reason: e.error.reason, error: e.error.message }); break;
        case 'evicted':
          out.push({
            room: this.room, file: e.file, state: 'failed', reason: 'evicted',
            error: 'Dropped unfinished: more files were being received in this room at once than this client holds (32 MiB).',
          });
          break;
        default: this.log(`chunk_${e.kind}`, { room: this.room, file: e.file, chunk: e.chunk });
      }
    }
    return out;
  }
}
