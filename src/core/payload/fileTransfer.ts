// Files in chunks (docs/protocol.md §2.3.5): a sender's file becomes one `file` payload and its
// `file-chunk` payloads; a receiver's FileAssembly takes those chunks in any order and gives
// back the verified bytes, or a typed error. Pure: bytes in, payloads out, and back; no I/O,
// no clock, ids from the caller. An assembly never holds more than the size its file message
// declared (at most MAX_FILE_BYTES), and a failed one drops what it held.
import { createHash } from 'node:crypto';
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { Payload, PayloadError, PayloadTooLargeError } from '../crypto/payload';
import { CHUNK_BYTES, FileInfo, MAX_FILE_BYTES, ReplyRef } from './fields';
import { DEFAULT_MIME } from './fileName';

/** What a sender shares: the local bytes and what the file message says about them. */
export interface FileToSend {
  /** The file message's id (§1.2); each chunk gets one of its own from newId. */
  id: string;
  ts: number;
  /** The sender's display name (§2.3 `name`). */
  name: string;
  /** The file's name as sent (sendableFileName makes one from a local name). */
  fileName: string;
  /** Media type; DEFAULT_MIME when absent. */
  mime?: string;
  bytes: Uint8Array;
  /** Optional caption. */
  text?: string;
  reply?: ReplyRef;
  mentions?: string[];
}

/** §2.3.5: the number of chunks of a file of `size` bytes. */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_BYTES);
}

/** §2.3.5: the length of chunk `index` of a file of `size` bytes (CHUNK_BYTES but for the last). */
export function chunkLength(size: number, index: number): number {
  return Math.min(CHUNK_BYTES, size - index * CHUNK_BYTES);
}

const num = (n: number): string => n.toLocaleString('en-US');

/**
 * §2.3.5 "Sending": the file message and its chunks, in the order to send them (the file
 * message first, then the chunks by index). `newId` gives each chunk its message id. Throws
 * PayloadTooLargeError for a file over MAX_FILE_BYTES; the payloads' other rules are checked
 * when they are sealed (encodePayload).
 */
export function fileMessages(f: FileToSend, newId: () => string): { file: Payload; chunks: Payload[] } {
  const size = f.bytes.length;
  if (size > MAX_FILE_BYTES) {
    throw new PayloadTooLargeError(
      `This file is too large to send: ${num(size)} bytes, and a file can be at most ${num(MAX_FILE_BYTES)} bytes (8 MiB).`,
      size, MAX_FILE_BYTES);
  }
  const info: FileInfo = {
    name: f.fileName,
    size,
    mime: f.mime ?? DEFAULT_MIME,
    sha256: createHash('sha256').update(f.bytes).digest('hex'),
    chunks: chunkCount(size),
  };
  const file: Payload = { id: f.id, ts: f.ts, name: f.name, type: 'file', file: info };
  if (f.text !== undefined) file.text = f.text;
  if (f.reply !== undefined) file.reply = f.reply;
  if (f.mentions !== undefined) file.mentions = f.mentions;
  const chunks: Payload[] = [];
  for (let index = 0; index < info.chunks; index++) {
    const start = index * CHUNK_BYTES;
    const data = encodeB64u(f.bytes.subarray(start, start + CHUNK_BYTES));
    chunks.push({ id: newId(), ts: f.ts, name: f.name, type: 'file-chunk', target: f.id, index, data });
  }
  return { file, chunks };
}

/** FileTransferError's codes (§2.3.5 "Receiving and verifying"). */
export type FileTransferErrorCode =
  /** A chunk's data is not the length its index gives (it would grow the file past its size). */
  | 'chunk_size'
  /** A chunk's index is not below the file's chunk count. */
  | 'chunk_index'
  /** Two chunks of one index with different bytes. */
  | 'conflicting_chunk'
  /** All chunks are there and their SHA-256 is not the file's. */
  | 'hash_mismatch'
  /** A chunk's data is not canonical base64url. */
  | 'bad_data';

/** Why a file failed; the message is meant for the user. */
export class FileTransferError extends PayloadError {
  constructor(message: string, readonly reason: FileTransferErrorCode) {
    super(message);
    this.name = 'FileTransferError';
  }
}

/** The outcome of giving an assembly one chunk. */
export type ChunkOutcome =
  /** Held; more are missing. */
  | { kind: 'added'; received: number; chunks: number }
  /** The last missing chunk: the bytes are verified against file.sha256. */
  | { kind: 'complete'; bytes: Buffer }
  /** A copy of a chunk already held (same bytes), or a chunk after the file completed. */
  | { kind: 'duplicate' }
  /** Not this file's chunk (another target), or under another key than the file message's (§2.3 "Who may act"). */
  | { kind: 'ignored'; why: 'other_file' | 'other_sender' }
  /** The file failed (now or before); nothing of it is kept. */
  | { kind: 'failed'; error: FileTransferError };

/** The state of an assembly, for a progress line ("3 of 280 parts missing"). */
export type AssemblyState =
  | { state: 'incomplete'; received: number; chunks: number; missing: number }
  | { state: 'complete'; bytes: Buffer }
  | { state: 'failed'; error: FileTransferError };

/**
 * §2.3.5: one file being received. Built from a verified `file` message (its id, FileInfo and
 * the sender's fingerprint); `add` takes its chunks in any order. Memory: the chunks held, never
 * more than `info.size` bytes; the whole, once complete; nothing, once failed.
 */
export class FileAssembly {
  private parts: (Buffer | undefined)[];
  private held = 0;
  private done: Buffer | undefined;
  private error: FileTransferError | undefined;

  constructor(readonly fileId: string, readonly info: FileInfo, readonly sender: string) {
    // The parse rules (§2.3.5) already hold for a received file message; checked again so that
    // an assembly can never be built to hold more than MAX_FILE_BYTES.
    if (!Number.isSafeInteger(info.size) || info.size < 0 || info.size > MAX_FILE_BYTES || info.chunks !== chunkCount(info.size)) {
      throw new RangeError('file info out of bounds (§2.3.5)');
    }
    this.parts = new Array<Buffer | undefined>(info.chunks).fill(undefined);
    if (info.chunks === 0) this.verify();
  }

  /** Gives the assembly one verified `file-chunk` payload and the fingerprint of its signer. */
  add(chunk: Payload, signer: string): ChunkOutcome {
    if (chunk.type !== 'file-chunk' || chunk.target !== this.fileId) return { kind: 'ignored', why: 'other_file' };
    if (signer !== this.sender) return { kind: 'ignored', why: 'other_sender' };
    if (this.error !== undefined) return { kind: 'failed', error: this.error };
    if (this.done !== undefined) return { kind: 'duplicate' };
    const index = chunk.index;
    if (index === undefined || !Number.isSafeInteger(index) || index < 0 || index >= this.info.chunks) {
      return this.fail(new FileTransferError(`Part ${index ?? '?'} of "${this.info.name}" is beyond its ${num(this.info.chunks)} parts.`, 'chunk_index'));
    }
    let bytes: Buffer;
    try {
      bytes = decodeB64u(chunk.data ?? '');
    } catch {
      return this.fail(new FileTransferError(`Part ${index + 1} of "${this.info.name}" is not valid data.`, 'bad_data'));
    }
    if (bytes.length !== chunkLength(this.info.size, index)) {
      return this.fail(new FileTransferError(
        `Part ${index + 1} of "${this.info.name}" has ${num(bytes.length)} bytes instead of ${num(chunkLength(this.info.size, index))}.`, 'chunk_size'));
    }
    const have = this.parts[index];
    if (have !== undefined) {
      if (have.equals(bytes)) return { kind: 'duplicate' };
      return this.fail(new FileTransferError(`Part ${index + 1} of "${this.info.name}" came twice with different bytes.`, 'conflicting_chunk'));
    }
    this.parts[index] = bytes;
    this.held++;
    if (this.held < this.info.chunks) return { kind: 'added', received: this.held, chunks: this.info.chunks };
    return this.verify();
  }

  /** Where the assembly stands. */
  state(): AssemblyState {
    if (this.error !== undefined) return { state: 'failed', error: this.error };
    if (this.done !== undefined) return { state: 'complete', bytes: this.done };
    return { state: 'incomplete', received: this.held, chunks: this.info.chunks, missing: this.info.chunks - this.held };
  }

  /** The bytes held (at most info.size), for a memory budget across assemblies. */
  heldBytes(): number {
    if (this.done !== undefined) return this.done.length;
    let n = 0;
    for (const p of this.parts) n += p?.length ?? 0;
    return n;
  }

  private verify(): ChunkOutcome {
    const whole = Buffer.concat(this.parts.filter((p): p is Buffer => p !== undefined), this.info.size);
    this.parts = [];
    const digest = createHash('sha256').update(whole).digest('hex');
    if (digest !== this.info.sha256) {
      return this.fail(new FileTransferError(`"${this.info.name}" does not match its SHA-256: it was altered, and is not kept.`, 'hash_mismatch'));
    }
    this.done = whole;
    return { kind: 'complete', bytes: whole };
  }

  private fail(error: FileTransferError): ChunkOutcome {
    this.error = error;
    this.parts = [];
    this.held = 0;
    return { kind: 'failed', error };
  }
}
