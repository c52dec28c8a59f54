// Parts of a message too long for one carrier (docs/protocol.md §3.3.1): a room body (§1.2) or a
// lobby envelope's text (§3.4 "A Welcome in parts"). Pure: cutting, parsing, and a joiner that
// keeps bounded sets of parts and gives back a whole message once every part of it is in and
// its bytes hash to its mid. The joiner's clock is the caller's: seqs in a room (so that every
// member keeps and evicts the same sets, §3.3 "Never a fork"), milliseconds in the lobby.
import { createHash } from 'node:crypto';
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { MLS_BODY_VERSION } from './body';

/** The first byte of a part (§3.3.1); a room body of one whole MLSMessage begins with 0x02 (body.ts). */
export const PART_VERSION = 0x03;
export const MID_BYTES = 16;
/** 0x03 || mid || u16be(i) || u16be(n) */
export const PART_HEADER_BYTES = 1 + MID_BYTES + 2 + 2;
/** §3.3.1: 2 ≤ n ≤ 64. */
export const MAX_PARTS = 64;
/** §3.3.1: a whole message is at most 512 KiB. */
export const MAX_WHOLE_BYTES = 524_288;
/** §3.3.1: how many finished mids a joiner remembers (their later parts are dropped). */
export const REMEMBERED_MIDS = 1_024;

const MID_LABEL = Buffer.from('smc/v3 part-id\0', 'utf8');

/** §3.3.1: mid = SHA-256(utf8("smc/v3 part-id") || 0x00 || whole)[0..16]. */
export function partMid(whole: Uint8Array): Buffer {
  return createHash('sha256').update(MID_LABEL).update(whole).digest().subarray(0, MID_BYTES);
}

export class PartsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartsError';
  }
}

/**
 * §3.3.1: cuts `whole` into parts whose chunks are `chunkBytes` long (the last one shorter or
 * equal). Throws PartsError when the message fits one chunk (it is sent whole), is over
 * MAX_WHOLE_BYTES, or needs more than MAX_PARTS parts.
 */
export function splitIntoParts(whole: Uint8Array, chunkBytes: number): Buffer[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new PartsError('a chunk must hold at least one byte');
  if (whole.length > MAX_WHOLE_BYTES) throw new PartsError(`a message of ${whole.length} bytes is over the ${MAX_WHOLE_BYTES} bytes parts can carry`);
  const n = Math.ceil(whole.length / chunkBytes);
  if (n < 2) throw new PartsError('a message that fits one carrier is sent whole');
  if (n > MAX_PARTS) throw new PartsError(`a message of ${whole.length} bytes needs ${n} parts of ${chunkBytes} bytes, more than ${MAX_PARTS}`);
  const mid = partMid(whole);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const head = Buffer.alloc(PART_HEADER_BYTES);
    head[0] = PART_VERSION;
    mid.copy(head, 1);
    head.writeUInt16BE(i, 1 + MID_BYTES);
    head.writeUInt16BE(n, 3 + MID_BYTES);
    parts.push(Buffer.concat([head, whole.subarray(i * chunkBytes, Math.min(whole.length, (i + 1) * chunkBytes))]));
  }
  return parts;
}

export interface Part {
  /** hex of the 16-byte mid */
  mid: string;
  index: number;
  count: number;
  chunk: Buffer;
}

/** §3.3.1: one part's fields, or why it is refused. Never throws. */
export function parsePart(bytes: Uint8Array): { ok: true; part: Part } | { ok: false; reason: string } {
  if (bytes.length < PART_HEADER_BYTES + 1) return { ok: false, reason: 'part shorter than its header and one byte' };
  if (bytes[0] !== PART_VERSION) return { ok: false, reason: 'not a part' };
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index = b.readUInt16BE(1 + MID_BYTES);
  const count = b.readUInt16BE(3 + MID_BYTES);
  if (count < 2 || count > MAX_PARTS) return { ok: false, reason: `part count ${count} out of 2..${MAX_PARTS}` };
  if (index >= count) return { ok: false, reason: `part index ${index} not below its count ${count}` };
  if (bytes.length - PART_HEADER_BYTES > MAX_WHOLE_BYTES) return { ok: false, reason: 'part over the bytes of a whole message' };
  return { ok: true, part: { mid: b.subarray(1, 1 + MID_BYTES).toString('hex'), index, count, chunk: Buffer.from(b.subarray(PART_HEADER_BYTES)) } };
}

export interface JoinerLimits {
  /** Sets open at once (§3.3.1: 8). */
  maxOpenSets: number;
  /** Sets open at once per sender (§3.3.1: 2 in the lobby; a room has one sender). */
  maxOpenPerSender: number;
  /** Bytes of chunks kept in all (§3.3.1: 4 MiB). */
  maxBufferedBytes: number;
  /** A set not complete this long after its first part (in the caller's clock) is evicted. */
  maxAge: number;
}

/** §3.3.1 in a room: the clock is the seq. */
export const ROOM_JOINER_LIMITS: JoinerLimits = { maxOpenSets: 8, maxOpenPerSender: 8, maxBufferedBytes: 4 * 1024 * 1024, maxAge: 1_000 };
/** §3.3.1 in the lobby: the clock is milliseconds. */
export const LOBBY_JOINER_LIMITS: JoinerLimits = { maxOpenSets: 8, maxOpenPerSender: 2, maxBufferedBytes: 4 * 1024 * 1024, maxAge: 5 * 60_000 };

export type PartOutcome =
  | { kind: 'whole'; whole: Buffer; mid: string }
  | { kind: 'pending' }
  /** The part changed nothing (a duplicate, a finished mid, a mismatched count, a refused part). */
  | { kind: 'dropped'; reason: string }
  /** The set this part belongs to failed and is dropped whole. */
  | { kind: 'failed'; reason: string };

interface OpenSet {
  key: string;
  sender: string;
  mid: string;
  count: number;
  firstAt: number;
  /** When its last part came: the set longest without one is evicted first. */
  lastAt: number;
  chunks: (Buffer | undefined)[];
  have: number;
  bytes: number;
}

/**
 * Keeps part sets per (sender, mid) within JoinerLimits and gives back each whole message once.
 * Deterministic: what it keeps and evicts depends only on the parts given and their `at`.
 */
export class PartJoiner {
  private readonly open = new Map<string, OpenSet>();
  private readonly finished = new Set<string>();
  private buffered = 0;
  /** Why sets were evicted, for logs and tests. */
  readonly evictions: { sender: string; mid: string; reason: string }[] = [];

  constructor(private readonly limits: JoinerLimits) {}

  get openSets(): number {
    return this.open.size;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Parses and adds the bytes of one part. */
  addBytes(sender: string, bytes: Uint8Array, at: number): PartOutcome {
    const parsed = parsePart(bytes);
    return parsed.ok ? this.add(sender, parsed.part, at) : { kind: 'dropped', reason: parsed.reason };
  }

  add(sender: string, part: Part, at: number): PartOutcome {
    this.expire(at);
    const key = `${sender}\u0000${part.mid}`;
    if (this.finished.has(key)) return { kind: 'dropped', reason: 'mid already finished' };
    let set = this.open.get(key);
    if (set === undefined) {
      set = { key, sender, mid: part.mid, count: part.count, firstAt: at, lastAt: at, chunks: new Array<Buffer | undefined>(part.count), have: 0, bytes: 0 };
      this.makeRoomForSet(sender);
      this.open.set(key, set);
    }
    if (part.count !== set.count) return { kind: 'dropped', reason: 'part count differs from its set\'s' };
    if (set.chunks[part.index] !== undefined) return { kind: 'dropped', reason: 'duplicate part' };
    if (set.bytes + part.chunk.length > MAX_WHOLE_BYTES) {
      this.finish(set);
      return { kind: 'failed', reason: 'set over the bytes of a whole message' };
    }
    set.chunks[part.index] = part.chunk;
    set.lastAt = at;
    set.have++;
    set.bytes += part.chunk.length;
    this.buffered += part.chunk.length;
    if (set.have === set.count) {
      const whole = Buffer.concat(set.chunks as Buffer[]);
      this.finish(set);
      if (partMid(whole).toString('hex') !== set.mid) return { kind: 'failed', reason: 'joined parts do not hash to their mid' };
      return { kind: 'whole', whole, mid: set.mid };
    }
    while (this.buffered > this.limits.maxBufferedBytes) {
      const victim = this.victim();
      if (victim === undefined) break;
      this.evict(victim, 'over the bytes kept');
      if (victim === set) return { kind: 'failed', reason: 'evicted: over the bytes kept' };
    }
    return { kind: 'pending' };
  }

  /** Evicts the sets not complete within maxAge of their first part. */
  expire(at: number): void {
    for (const set of [...this.open.values()]) if (at - set.firstAt > this.limits.maxAge) this.evict(set, 'not complete in time');
  }

  private makeRoomForSet(sender: string): void {
    const own = [...this.open.values()].filter((s) => s.sender === sender);
    if (own.length >= this.limits.maxOpenPerSender) this.evict(stalest(own)!, 'too many open sets of one sender');
    while (this.open.size >= this.limits.maxOpenSets) this.evict(this.victim()!, 'too many open sets');
  }

  /**
   * The set that went longest without a part (ties: the one opened first). A sender's parts come
   * back to back (§3.3.1), so a set being completed is the last to go, and a flood of sets that
   * never progress, from one identity or many, evicts its own sets before it.
   */
  private victim(): OpenSet | undefined {
    return stalest([...this.open.values()]);
  }

  private evict(set: OpenSet, reason: string): void {
    this.evictions.push({ sender: set.sender, mid: set.mid, reason });
    if (this.evictions.length > 100) this.evictions.shift();
    this.finish(set);
  }

  private finish(set: OpenSet): void {
    this.open.delete(set.key);
    this.buffered -= set.bytes;
    this.finished.add(set.key);
    if (this.finished.size > REMEMBERED_MIDS) this.finished.delete(this.finished.values().next().value!);
  }
}

function stalest(sets: OpenSet[]): OpenSet | undefined {
  let best: OpenSet | undefined;
  for (const s of sets) if (best === undefined || s.lastAt < best.lastAt || (s.lastAt === best.lastAt && s.firstAt < best.firstAt)) best = s;
  return best;
}

/**
 * §3.3.1 in a room: turns the body at each seq, in seq order, into the MLSMessage it carries
 * (0x02) or completes (the last part of a set, 0x03), or undefined. The room is the one sender
 * of its sets (the relay cannot tell who sent a part); the clock is the seq.
 */
export class RoomParts {
  private readonly joiner = new PartJoiner(ROOM_JOINER_LIMITS);

  /** `refused` hears why a part changed nothing or failed its set (for the log). */
  take(seq: number, body: string, refused: (reason: string) => void = () => undefined): Uint8Array | undefined {
    this.joiner.expire(seq);
    let bytes: Buffer;
    try {
      bytes = decodeB64u(body);
    } catch {
      return undefined;
    }
    if (bytes.length >= 2 && bytes[0] === MLS_BODY_VERSION) return new Uint8Array(bytes.subarray(1));
    if (bytes[0] !== PART_VERSION) return undefined;
    const out = this.joiner.addBytes('', bytes, seq);
    if (out.kind === 'whole') return new Uint8Array(out.whole);
    if (out.kind !== 'pending') refused(out.reason);
    return undefined;
  }

  get openSets(): number {
    return this.joiner.openSets;
  }
}

/**
 * §3.3.1: the bodies that carry one MLSMessage in a room: itself (0x02) when it fits
 * `maxBodyChars`, else its parts, each at most that long.
 */
export function roomBodies(message: Uint8Array, maxBodyChars: number): string[] {
  const whole = encodeB64u(Buffer.concat([Buffer.from([MLS_BODY_VERSION]), message]));
  if (whole.length <= maxBodyChars) return [whole];
  const chunk = Math.floor((maxBodyChars * 3) / 4) - PART_HEADER_BYTES;
  return splitIntoParts(message, chunk).map((p) => encodeB64u(p));
}
