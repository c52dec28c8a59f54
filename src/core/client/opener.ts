// The opener: from envelopes to what a UI shows (docs/protocol.md §2.4-2.5, §2.8). It opens a
// live message at once and a catch-up's in batches (§2.4 steps 1-2 here, step 3 at the
// SignatureVerifier seam, e.g. worker threads), drops replays by id and by seq, checks names
// against the known keys (§2.4), and opens typing indicators and presence tags.
import { verifySignature } from '../crypto/index';
import type { OpenResult, SignatureVerifier } from '../crypto/index';
import type { ReceivedPresence } from '../wire/relayFrames';
import { namesLookAlike } from '../keys/displayName';
import type { CatchUpItem, Opened, RoomState, SyncState, VerifyingItem } from './roomState';
import type {
  ChatMessage, ClientLog, KnownKeysLike, PresenceMemberInfo, PresenceUpdate, TypingEvent, UnverifiableMessage,
} from './types';
import { copyChatFields } from './roomFeatures';
import { errorText, safeId } from './util';

/**
 * Catch-up messages handed to the verifier at once: big enough for a worker to pay for its
 * round trip, small enough that the workers start while later pages are still arriving.
 */
export const VERIFY_CHUNK = 256;
/** Decrypted presence tags remembered (a tag is re-sent in every presence frame). */
const TAG_CACHE = 4_096;

export interface OpenerHooks {
  log: ClientLog;
  message(m: ChatMessage): void;
  unverifiable(u: UnverifiableMessage): void;
  typing(t: TypingEvent): void;
  presence(p: PresenceUpdate): void;
  /** The seq of a message shown (or shown as unverifiable): the room sync counts it. */
  counted(rs: RoomState, seq: number): void;
}

export interface OpenerOptions {
  ownPublicKey: Buffer;
  /** The display name now (it can change): a look-alike under another key is a key change. */
  displayName: () => string;
  knownKeys: KnownKeysLike;
  verifier?: SignatureVerifier;
}

export class Opener {
  private readonly ownKey: Buffer;
  private readonly tagCache = new Map<string, OpenResult>();
  private readonly presenceByRoom = new Map<string, PresenceUpdate>();

  constructor(private readonly options: OpenerOptions, private readonly hooks: OpenerHooks) {
    this.ownKey = options.ownPublicKey;
  }

  /** A catch-up's messages go to the verifier in batches (else each is opened on arrival). */
  get batching(): boolean {
    return this.options.verifier !== undefined;
  }

  /** A catch-up big enough for the verifier's threads is coming: start them meanwhile. */
  warm(coming: number): void {
    if (coming >= VERIFY_CHUNK) this.options.verifier?.warm?.();
  }

  /** Stops the verifier's threads (a batch still in it is finished in this thread and shown). */
  async close(): Promise<void> {
    await this.options.verifier?.close?.().catch((err: unknown) => this.hooks.log('verifier_close_failed', { error: errorText(err) }));
  }

  // ---- messages ----------------------------------------------------------------------------

  /** §2.4 steps 1-4 (RoomCipher.open); the precise reason goes to the debug log only. */
  open(rs: RoomState, id: string, body: string, seq: number): Opened {
    return this.opened(rs, id, seq, rs.cipher.open(id, body), seq <= rs.head);
  }

  /**
   * §2.4 steps 1-2 of a catch-up message now; its signature (step 3) goes to the verifier with
   * the others, and the catch-up completes it (resolve) in seq order with the rest.
   */
  prepare(rs: RoomState, sync: SyncState, id: string, body: string, seq: number): CatchUpItem {
    const r = rs.cipher.prepareOpen(id, body);
    if (!r.ok) return this.opened(rs, id, seq, r, false);
    const item: VerifyingItem = { kind: 'verifying', seq, prepared: r, history: seq <= rs.head };
    sync.unsent.push(item);
    if (sync.unsent.length >= VERIFY_CHUNK) this.toVerifier(sync);
    return item;
  }

  /** Hands the catch-up's unsent items to the verifier as one batch. */
  toVerifier(sync: SyncState): void {
    const batch = sync.unsent;
    sync.unsent = [];
    const verifier = this.options.verifier;
    if (batch.length === 0 || verifier === undefined) return;
    // A verifier that fails or answers the wrong count costs time, never a message: this thread
    // then checks the batch itself.
    const inThread = (): void => {
      for (const it of batch) it.valid = verifySignature(it.prepared.item);
    };
    let answer: Promise<boolean[]>;
    try {
      answer = verifier.verifyBatch(batch.map((it) => it.prepared.item));
    } catch (err) {
      answer = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    sync.batches.push(answer.then((results) => {
      if (results.length !== batch.length) {
        this.hooks.log('verifier_failed', { error: `answered ${results.length} of ${batch.length}` });
        return inThread();
      }
      batch.forEach((it, i) => (it.valid = results[i] === true));
    }, (err: unknown) => {
      this.hooks.log('verifier_failed', { error: errorText(err) });
      inThread();
    }));
  }

  /** A finished catch-up: what is still unsent is checked in this thread now. */
  verifyRest(sync: SyncState): void {
    for (const it of sync.unsent) it.valid = verifySignature(it.prepared.item);
    sync.unsent = [];
  }

  /** Step 3's outcome and step 4 for a prepared message (RoomCipher.finishOpen). */
  resolve(rs: RoomState, item: CatchUpItem): Opened {
    if (item.kind !== 'verifying') return item;
    const valid = item.valid ?? verifySignature(item.prepared.item);
    return this.opened(rs, item.prepared.id, item.seq, rs.cipher.finishOpen(item.prepared, valid), item.history);
  }

  private opened(rs: RoomState, id: string, seq: number, r: OpenResult, history: boolean): Opened {
    if (!r.ok) {
      this.hooks.log('unverifiable', { room: rs.room, seq, id: safeId(id), reason: r.reason });
      return { kind: 'bad', seq, bad: { room: rs.room, seq, id: safeId(id) } };
    }
    const p = r.payload;
    const message: ChatMessage = {
      room: rs.room, seq, ts: p.ts, id, name: p.name, fingerprint: r.fingerprint,
      shortFingerprint: r.fingerprint.slice(0, 9), type: p.type, verified: true, keyChanged: false,
      own: r.publicKey.equals(this.ownKey), history,
    };
    if (p.text !== undefined) message.text = p.text;
    if (p.snippet !== undefined) message.snippet = p.snippet;
    copyChatFields(p, message);
    return { kind: 'msg', seq, message };
  }

  /**
   * Shows one message: drops a replayed id or seq, counts the seq of what it accepts (only
   * that: a dropped replay must not move lastSeq, or a restart would see since > head and sync
   * again from 0), marks a key change (§2.4).
   */
  show(rs: RoomState, item: Opened): void {
    if (item.kind === 'bad') {
      // Shown as "could not be verified": its seq is done with, as a shown message's.
      if (item.seq !== undefined) this.hooks.counted(rs, item.seq);
      this.hooks.unverifiable(item.bad);
      return;
    }
    const m = item.message;
    if (rs.seen.has(m.id)) {
      this.hooks.log('duplicate', { room: rs.room, seq: m.seq, id: m.id });
      return;
    }
    // §2.8 across restarts: an id shown in an earlier run may come again only as the history
    // it was: in answer to a join or history request, under the same seq (the extension's
    // fresh join after a restart). Under another seq, or unasked, it is a replay.
    // §1.5: a seq is never given to two messages, so one shown under another id is a replay too.
    // An unknown id at or below the highest seq shown is old: shown as history, not as new.
    const before = rs.shown.seqOf(m.id);
    if (before !== undefined) {
      if (item.solicited !== true || !m.history || m.seq !== before) {
        this.hooks.log('replay', { room: rs.room, seq: m.seq, id: m.id, shownAs: before });
        return;
      }
      // Shown in an earlier run: a UI that only prints (the terminal) does not print it again.
      m.shownBefore = true;
    } else if (m.seq !== undefined && rs.shown.heldByOther(m.seq, m.id)) {
      this.hooks.log('replay', { room: rs.room, seq: m.seq, id: m.id, seqShownWithAnotherId: true });
      return;
    } else if (m.seq !== undefined && m.seq <= rs.shown.top) {
      m.history = true;
    }
    rs.seen.add(m.id);
    if (m.seq !== undefined) {
      this.hooks.counted(rs, m.seq);
      rs.shown.record(m.id, m.seq);
    }
    // Own display name is bound to own key (§2.4): another key under it, or under a look-alike
    // of it, is a key change whatever was seen first; own messages never are.
    const known = m.own ? 'same' : this.keyCheck(rs.room, m.name, m.fingerprint);
    if (known === 'new') this.trust(rs.room, m.name, m.fingerprint);
    m.keyChanged = known === 'changed';
    this.hooks.message(m);
  }

  /**
   * §2.4 for a name under a key that is not this client's: 'changed' when it looks like the
   * own display name or is known in the room with another key. Messages, presence and typing
   * all use it; only a message makes a 'new' key trusted (the caller does).
   */
  private keyCheck(room: string, name: string, fp: string): 'new' | 'same' | 'changed' {
    return namesLookAlike(name, this.options.displayName()) ? 'changed' : this.options.knownKeys.check(room, name, fp);
  }

  /** Marks `fp` as the trusted key of `name` in `room` (§2.4); a store's failure is logged. */
  trust(room: string, name: string, fp: string): void {
    try {
      const r = this.options.knownKeys.trust(room, name, fp);
      if (r instanceof Promise) r.catch((err: unknown) => this.hooks.log('known_keys_save_failed', { error: errorText(err) }));
    } catch (err) {
      this.hooks.log('known_keys_save_failed', { error: errorText(err) });
    }
  }

  /** §1.5 ephemeral: a typing indicator from someone else, or nothing. */
  ephemeral(rs: RoomState, id: string, body: string): void {
    const r = rs.cipher.open(id, body);
    if (!r.ok) {
      this.hooks.log('unverifiable_ephemeral', { room: rs.room, reason: r.reason });
      return;
    }
    if (r.payload.type !== 'typing' || r.publicKey.equals(this.ownKey)) return;
    const keyChanged = this.keyCheck(rs.room, r.payload.name, r.fingerprint) === 'changed';
    this.hooks.typing({ room: rs.room, name: r.payload.name, fingerprint: r.fingerprint, keyChanged });
  }

  // ---- presence ----------------------------------------------------------------------------

  /** The last presence of a room, decrypted (undefined before the first presence frame). */
  presence(room: string): PresenceUpdate | undefined {
    return this.presenceByRoom.get(room);
  }

  /** Forgets a room's presence; true when there was one. */
  forgetPresence(room: string): boolean {
    return this.presenceByRoom.delete(room);
  }

  /** §1.4 presence: members with their tags opened (§2.5). */
  onPresence(rs: RoomState, f: ReceivedPresence): void {
    const members: PresenceMemberInfo[] = [];
    // The parser kept only members with a string sid, and a tag only when it is a string.
    for (const m of f.members) {
      const info: PresenceMemberInfo = { sid: m.sid, verified: false, self: m.sid === rs.sid, keyChanged: false };
      if (m.tag !== undefined) {
        const r = this.openTag(rs, m.tag);
        if (r.ok) {
          info.verified = true;
          info.name = r.payload.name;
          info.fingerprint = r.fingerprint;
          // §2.4 as for messages; presence never makes a key trusted (a tag is no message).
          info.keyChanged = !r.publicKey.equals(this.ownKey) && this.keyCheck(rs.room, r.payload.name, r.fingerprint) === 'changed';
        }
      }
      members.push(info);
    }
    const update: PresenceUpdate = { room: rs.room, online: f.online ?? members.length, members };
    this.presenceByRoom.set(rs.room, update);
    this.hooks.presence(update);
  }

  private openTag(rs: RoomState, tag: string): OpenResult {
    const key = `${rs.room}/${tag}`;
    let r = this.tagCache.get(key);
    if (r === undefined) {
      r = rs.cipher.openPresence(tag);
      if (!r.ok) this.hooks.log('unverifiable_presence', { room: rs.room, reason: r.reason });
      if (this.tagCache.size >= TAG_CACHE) this.tagCache.clear();
      this.tagCache.set(key, r);
    }
    return r;
  }
}
