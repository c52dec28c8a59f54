// A room's incoming files (docs/protocol.md §2.3.5): chunks before their file message wait
// (within 8 MiB), files being assembled are bounded together, a finished or deleted file takes
// no more chunks, and a complete file's bytes are handed over once.
import { strict as assert } from 'node:assert';
import { createCipheriv, createHash } from 'node:crypto';
import { generateMessageId, Payload } from '../../src/core/crypto';
import { CHUNK_BYTES } from '../../src/core/payload/fields';
import { fileMessages } from '../../src/core/payload/fileTransfer';
import { RoomFiles } from '../../src/core/payload/roomFiles';
import { TimelineMessage } from '../../src/core/payload/effects';

const ALICE = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';
const MALLORY = '0C5E 8A4E 1F7E 9B3D 2A10 66F1 D4C2 9E07';

function bytesOf(size: number, seed: number): Buffer {
  const key = createHash('sha256').update(`seed ${seed}`).digest();
  return createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32)).update(Buffer.alloc(size));
}

function aFile(size: number, seed: number, signer = ALICE): { file: TimelineMessage; chunks: TimelineMessage[]; bytes: Buffer } {
  const bytes = bytesOf(size, seed);
  const { file, chunks } = fileMessages({ id: generateMessageId(), ts: 1, name: 'Alice', fileName: 'f.bin', bytes }, generateMessageId);
  const tm = (p: Payload): TimelineMessage => ({ id: p.id, signer, payload: p });
  return { file: tm(file), chunks: chunks.map(tm), bytes };
}

describe('a room\'s incoming files (§2.3.5)', () => {
  it('assembles a file whose chunks come first (a catch-up brings the newest first)', () => {
    const files = new RoomFiles();
    const f = aFile(CHUNK_BYTES * 2 + 1, 1);
    const early = f.chunks.slice(1).flatMap((c) => files.addChunk(c));
    assert.deepEqual(early.map((e) => e.kind), ['pending', 'pending']);
    const onFile = files.addFile(f.file);
    assert.deepEqual(onFile.map((e) => e.kind), ['progress', 'progress']);
    const last = files.addChunk(f.chunks[0]!);
    assert.equal(last.length, 1);
    assert.ok(last[0]!.kind === 'complete' && last[0]!.bytes.equals(f.bytes) && last[0]!.signer === ALICE);
    assert.equal(files.heldBytes(), 0);
    assert.deepEqual(files.addChunk(f.chunks[0]!).map((e) => e.kind), ['ignored']);
  });

  it('a chunk under another key is ignored, before and after the file message', () => {
    const files = new RoomFiles();
    const f = aFile(10, 2);
    const forged = { ...f.chunks[0]!, id: generateMessageId(), signer: MALLORY };
    files.addChunk(forged);
    const events = files.addFile(f.file);
    assert.ok(events.some((e) => e.kind === 'ignored' && e.why === 'other_sender'));
    const done = files.addChunk(f.chunks[0]!);
    assert.ok(done[0]!.kind === 'complete');
  });

  it('pending chunks are bounded, the oldest dropped first', () => {
    const files = new RoomFiles({ maxPendingChunkBytes: CHUNK_BYTES * 2 });
    const f = aFile(CHUNK_BYTES * 3, 3);
    const events = f.chunks.flatMap((c) => files.addChunk(c));
    assert.deepEqual(events.filter((e) => e.kind === 'dropped').map((e) => e.kind === 'dropped' && e.chunk), [f.chunks[0]!.id]);
    assert.ok(files.heldBytes() <= CHUNK_BYTES * 2);
    // The file then stays incomplete: never partly handed over.
    assert.ok(files.addFile(f.file).every((e) => e.kind === 'progress'));
  });

  it('files being assembled are bounded together: the one unfinished longest is evicted', () => {
    const files = new RoomFiles({ maxAssemblingBytes: CHUNK_BYTES * 3 });
    const a = aFile(CHUNK_BYTES * 3, 4);
    const b = aFile(CHUNK_BYTES * 3, 5);
    files.addFile(a.file);
    files.addFile(b.file);
    files.addChunk(a.chunks[0]!);
    files.addChunk(a.chunks[1]!);
    files.addChunk(b.chunks[0]!);
    const events = files.addChunk(b.chunks[1]!);
    assert.deepEqual(events.map((e) => e.kind), ['progress', 'evicted']);
    assert.ok(files.heldBytes() <= CHUNK_BYTES * 3);
    assert.deepEqual(files.addChunk(a.chunks[2]!).map((e) => e.kind), ['ignored']);
    assert.equal(files.addChunk(b.chunks[2]!)[0]!.kind, 'complete');
  });

  it('a forgotten (deleted) file drops what it held and takes no more chunks', () => {
    const files = new RoomFiles();
    const f = aFile(CHUNK_BYTES * 2, 6);
    files.addFile(f.file);
    files.addChunk(f.chunks[0]!);
    files.forget(f.file.id);
    assert.equal(files.heldBytes(), 0);
    assert.deepEqual(files.addChunk(f.chunks[1]!).map((e) => e.kind), ['ignored']);
  });

  it('a tampered file fails, and is never handed over', () => {
    const files = new RoomFiles();
    const f = aFile(CHUNK_BYTES + 5, 7);
    const data = Buffer.from(f.chunks[1]!.payload.data!, 'base64url');
    data[0]! ^= 1;
    files.addFile(f.file);
    files.addChunk(f.chunks[0]!);
    const events = files.addChunk({ ...f.chunks[1]!, payload: { ...f.chunks[1]!.payload, data: data.toString('base64url') } });
    assert.ok(events[0]!.kind === 'failed' && events[0]!.error.reason === 'hash_mismatch');
    assert.equal(files.heldBytes(), 0);
  });
});
