// The files of one room being received (docs/protocol.md §2.3.5 "Receiving and verifying"): a
// FileAssembly per file message, chunks that come before their file message kept pending, and
// two memory bounds for the room, so that a member who announces many large files and never
// finishes them cannot grow a client's memory. Pure: messages in, events out; a complete file's
// bytes are handed over once and not kept here.
import { Payload } from '../crypto/payload';
import { TimelineMessage } from './effects';
import { FileInfo, MAX_FILE_BYTES } from './fields';
import { FileAssembly, FileTransferError } from './fileTransfer';

export interface RoomFileLimits {
  /** §2.3.5: chunk bytes (decoded size, estimated from b64u) held for file messages not known yet. */
  maxPendingChunkBytes: number;
  /** §2.3.5: bytes held across the files being assembled. */
  maxAssemblingBytes: number;
}

export const DEFAULT_ROOM_FILE_LIMITS: RoomFileLimits = { maxPendingChunkBytes: MAX_FILE_BYTES, maxAssemblingBytes: 4 * MAX_FILE_BYTES };

/** What one call changed. */
export type RoomFileEvent =
  | { kind: 'progress'; file: string; received: number; chunks: number }
  /** Verified bytes, handed over once: the client stores or shows them. */
  | { kind: 'complete'; file: string; info: FileInfo; signer: string; bytes: Buffer }
  | { kind: 'failed'; file: string; error: FileTransferError }
  /** Dropped to keep maxAssemblingBytes: the file that has waited longest unfinished. */
  | { kind: 'evicted'; file: string }
  | { kind: 'pending'; chunk: string; file: string }
  | { kind: 'dropped'; chunk: string; file: string }
  | { kind: 'ignored'; chunk: string; file: string; why: 'other_sender' | 'finished' };

interface Pending {
  message: TimelineMessage;
  bytes: number;
}

const approxBytes = (p: Payload): number => Math.floor(((p.data ?? '').length * 3) / 4);

/** One room's incoming files. */
export class RoomFiles {
  private readonly assemblies = new Map<string, FileAssembly>();
  /** Files finished (complete, failed or evicted): later chunks of them are ignored. */
  private readonly finished = new Set<string>();
  private readonly pending = new Map<string, Pending[]>();
  private readonly pendingOrder: { chunk: string; file: string }[] = [];
  private pendingBytes = 0;
  private readonly limits: RoomFileLimits;

  constructor(limits: Partial<RoomFileLimits> = {}) {
    this.limits = { ...DEFAULT_ROOM_FILE_LIMITS, ...limits };
  }

  /** A verified `file` message (§2.3.5), with its signer's fingerprint. */
  addFile(m: TimelineMessage): RoomFileEvent[] {
    const info = m.payload.file;
    if (m.payload.type !== 'file' || info === undefined || this.assemblies.has(m.id) || this.finished.has(m.id)) return [];
    const assembly = new FileAssembly(m.id, info, m.signer);
    this.assemblies.set(m.id, assembly);
    const events: RoomFileEvent[] = [];
    const first = assembly.state();
    if (first.state !== 'incomplete') return this.finish(m.id, assembly, events);
    const waiting = this.pending.get(m.id) ?? [];
    this.pending.delete(m.id);
    for (const w of waiting) {
      this.pendingBytes -= w.bytes;
      const at = this.pendingOrder.findIndex((e) => e.chunk === w.message.id);
      if (at >= 0) this.pendingOrder.splice(at, 1);
    }
    for (const w of waiting) {
      if (!this.assemblies.has(m.id)) break;
      events.push(...this.give(assembly, w.message));
    }
    if (this.assemblies.has(m.id) && events.length === 0) {
      events.push({ kind: 'progress', file: m.id, received: 0, chunks: info.chunks });
    }
    return events.concat(this.keepBound(m.id));
  }

  /** A verified `file-chunk` message, with its signer's fingerprint. */
  addChunk(m: TimelineMessage): RoomFileEvent[] {
    const file = m.payload.target ?? '';
    if (m.payload.type !== 'file-chunk') return [];
    if (this.finished.has(file)) return [{ kind: 'ignored', chunk: m.id, file, why: 'finished' }];
    const assembly = this.assemblies.get(file);
    if (assembly !== undefined) return this.give(assembly, m).concat(this.keepBound(file));
    return this.keepPending(m, file);
  }

  /** Forgets a file (deleted by its sender, §2.3.4): what is held of it is dropped, later chunks ignored. */
  forget(file: string): void {
    this.assemblies.delete(file);
    this.finished.add(file);
    const waiting = this.pending.get(file) ?? [];
    for (const w of waiting) this.pendingBytes -= w.bytes;
    this.pending.delete(file);
    for (let i = this.pendingOrder.length - 1; i >= 0; i--) if (this.pendingOrder[i]!.file === file) this.pendingOrder.splice(i, 1);
  }

  /** Bytes held now: chunks of files being assembled, and pending chunks. */
  heldBytes(): number {
    let n = this.pendingBytes;
    for (const a of this.assemblies.values()) n += a.heldBytes();
    return n;
  }

  private give(assembly: FileAssembly, m: TimelineMessage): RoomFileEvent[] {
    const out = assembly.add(m.payload, m.signer);
    const file = assembly.fileId;
    switch (out.kind) {
      case 'added': return [{ kind: 'progress', file, received: out.received, chunks: out.chunks }];
      case 'duplicate': return [];
      case 'ignored': return out.why === 'other_sender' ? [{ kind: 'ignored', chunk: m.id, file, why: 'other_sender' }] : [];
      default: return this.finish(file, assembly, []);
    }
  }

  private finish(file: string, assembly: FileAssembly, events: RoomFileEvent[]): RoomFileEvent[] {
    const state = assembly.state();
    this.assemblies.delete(file);
    this.finished.add(file);
    if (state.state === 'complete') events.push({ kind: 'complete', file, info: assembly.info, signer: assembly.sender, bytes: state.bytes });
    else if (state.state === 'failed') events.push({ kind: 'failed', file, error: state.error });
    return events;
  }

  private keepPending(m: TimelineMessage, file: string): RoomFileEvent[] {
    const bytes = approxBytes(m.payload);
    const list = this.pending.get(file) ?? [];
    if (list.some((p) => p.message.id === m.id)) return [];
    list.push({ message: m, bytes });
    this.pending.set(file, list);
    this.pendingOrder.push({ chunk: m.id, file });
    this.pendingBytes += bytes;
    const events: RoomFileEvent[] = [{ kind: 'pending', chunk: m.id, file }];
    while (this.pendingBytes > this.limits.maxPendingChunkBytes && this.pendingOrder.length > 0) {
      const oldest = this.pendingOrder.shift()!;
      const entries = this.pending.get(oldest.file) ?? [];
      const at = entries.findIndex((p) => p.message.id === oldest.chunk);
      if (at >= 0) {
        this.pendingBytes -= entries[at]!.bytes;
        entries.splice(at, 1);
      }
      if (entries.length === 0) this.pending.delete(oldest.file);
      events.push({ kind: 'dropped', chunk: oldest.chunk, file: oldest.file });
    }
    return events;
  }

  /** Keeps maxAssemblingBytes: drops the unfinished files that came first, never `keep` (the one just fed). */
  private keepBound(keep: string): RoomFileEvent[] {
    const events: RoomFileEvent[] = [];
    let held = 0;
    for (const a of this.assemblies.values()) held += a.heldBytes();
    for (const [file, a] of this.assemblies) {
      if (held <= this.limits.maxAssemblingBytes) break;
      if (file === keep) continue;
      held -= a.heldBytes();
      this.assemblies.delete(file);
      this.finished.add(file);
      events.push({ kind: 'evicted', file });
    }
    return events;
  }
}
