// Files in chunks (docs/protocol.md §2.3.5): fileMessages splits, FileAssembly reassembles in any
// order and verifies; a file over 8 MiB is refused; any file up to 8 MiB round-trips; any single
// flipped chunk byte is refused; a short, extra, conflicting or foreign chunk is refused or
// ignored as §2.3.5 says; memory never exceeds the declared size.
import { strict as assert } from 'node:assert';
import { createCipheriv, createHash } from 'node:crypto';
import fc from 'fast-check';
import { decodeB64u, encodeB64u, generateMessageId, Payload, PayloadTooLargeError } from '../../src/core/crypto';
import { encodePayload, parsePayload } from '../../src/core/crypto/payload';
import { CHUNK_BYTES, MAX_FILE_BYTES } from '../../src/core/payload/fields';
import { ChunkOutcome, FileAssembly, fileMessages, FileToSend } from '../../src/core/payload/fileTransfer';

const SENDER = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';
const OTHER = '0C5E 8A4E 1F7E 9B3D 2A10 66F1 D4C2 9E07';

/** Deterministic bytes of any size from a seed (AES-128-CTR over zeros, keyed by the seed's hash): cheap up to 8 MiB. */
function bytesOf(size: number, seed: number): Buffer {
  const key = createHash('sha256').update(`seed ${seed}`).digest();
  const stream = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return stream.update(Buffer.alloc(size));
}

function toSend(bytes: Uint8Array, fileName = 'notes.txt'): FileToSend {
  return { id: generateMessageId(), ts: 1764100000000, name: 'George', fileName, mime: 'text/plain', bytes };
}

/** Sends, through the exact bytes P (encode, then parse as a receiver does), and returns the parsed payloads. */
function overTheWire(f: FileToSend): { file: Payload; chunks: Payload[] } {
  const { file, chunks } = fileMessages(f, generateMessageId);
  const read = (p: Payload): Payload => {
    const parsed = parsePayload(encodePayload(p));
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.payload;
  };
  return { file: read(file), chunks: chunks.map(read) };
}

function assemble(file: Payload, chunks: Payload[], signer = SENDER): { assembly: FileAssembly; outcomes: ChunkOutcome[] } {
  const assembly = new FileAssembly(file.id, file.file!, SENDER);
  const outcomes = chunks.map((c) => assembly.add(c, signer));
  return { assembly, outcomes };
}

function shuffled<T>(xs: T[], order: number[]): T[] {
  const copy = [...xs];
  // Fisher-Yates driven by fast-check's numbers, so a failure shrinks and replays.
  for (let i = copy.length - 1; i > 0; i--) {
    const j = (order[i % order.length] ?? 0) % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

describe('files in chunks (§2.3.5)', () => {
  it('splits a file into ceil(size / 30000) chunks of 30000 bytes, the last the rest, each P within 40960 bytes', () => {
    const bytes = bytesOf(CHUNK_BYTES * 2 + 5, 1);
    const { file, chunks } = fileMessages(toSend(bytes), generateMessageId);
    assert.equal(file.file!.chunks, 3);
    assert.deepEqual(chunks.map((c) => decodeB64u(c.data!).length), [CHUNK_BYTES, CHUNK_BYTES, 5]);
    assert.deepEqual(chunks.map((c) => c.index), [0, 1, 2]);
    assert.ok(chunks.every((c) => c.target === file.id && c.id !== file.id));
    assert.equal(new Set(chunks.map((c) => c.id)).size, 3);
    for (const c of chunks) assert.ok(encodePayload(c).length <= 40_960);
  });

  it('refuses to send a file over 8 MiB, with a message for the user', () => {
    assert.throws(() => fileMessages(toSend(Buffer.alloc(MAX_FILE_BYTES + 1)), generateMessageId),
      (e: unknown) => e instanceof PayloadTooLargeError && /at most 8,388,608 bytes/.test(e.message) && e.limit === MAX_FILE_BYTES);
    assert.doesNotThrow(() => fileMessages(toSend(Buffer.alloc(MAX_FILE_BYTES)), generateMessageId));
  });

  it('an assembly never accepts a declared size over 8 MiB or a wrong chunk count', () => {
    const info = { name: 'a', size: MAX_FILE_BYTES + 1, mime: 'text/plain', sha256: '0'.repeat(64), chunks: Math.ceil((MAX_FILE_BYTES + 1) / CHUNK_BYTES) };
    assert.throws(() => new FileAssembly(generateMessageId(), info, SENDER), RangeError);
    assert.throws(() => new FileAssembly(generateMessageId(), { ...info, size: 10, chunks: 2 }, SENDER), RangeError);
  });

  it('an empty file is complete at once, with no chunk', () => {
    const { file, chunks } = overTheWire(toSend(Buffer.alloc(0)));
    assert.equal(chunks.length, 0);
    const state = new FileAssembly(file.id, file.file!, SENDER).state();
    assert.ok(state.state === 'complete' && state.bytes.length === 0);
  });

  it('a missing chunk leaves the file incomplete, saying how many parts are missing', () => {
    const { file, chunks } = overTheWire(toSend(bytesOf(CHUNK_BYTES * 4, 2)));
    const { assembly, outcomes } = assemble(file, [chunks[0]!, chunks[3]!, chunks[1]!]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['added', 'added', 'added']);
    assert.deepEqual(assembly.state(), { state: 'incomplete', received: 3, chunks: 4, missing: 1 });
  });

  it('a chunk under another key is ignored and cannot make the file fail', () => {
    const { file, chunks } = overTheWire(toSend(bytesOf(CHUNK_BYTES + 1, 3)));
    const assembly = new FileAssembly(file.id, file.file!, SENDER);
    const forged = { ...chunks[0]!, data: encodeB64u(Buffer.alloc(CHUNK_BYTES, 0x41)) };
    assert.deepEqual(assembly.add(forged, OTHER), { kind: 'ignored', why: 'other_sender' });
    assert.equal(assembly.add(chunks[0]!, SENDER).kind, 'added');
    const last = assembly.add(chunks[1]!, SENDER);
    assert.ok(last.kind === 'complete' && last.bytes.equals(bytesOf(CHUNK_BYTES + 1, 3)));
  });

  it("a chunk of another file is ignored", () => {
    const a = overTheWire(toSend(bytesOf(10, 4)));
    const b = overTheWire(toSend(bytesOf(10, 5)));
    const assembly = new FileAssembly(a.file.id, a.file.file!, SENDER);
    assert.deepEqual(assembly.add(b.chunks[0]!, SENDER), { kind: 'ignored', why: 'other_file' });
  });

  it('the same chunk twice is a duplicate; two different copies of one index fail the file', () => {
    const { file, chunks } = overTheWire(toSend(bytesOf(CHUNK_BYTES * 2, 6)));
    const assembly = new FileAssembly(file.id, file.file!, SENDER);
    assembly.add(chunks[0]!, SENDER);
    assert.equal(assembly.add({ ...chunks[0]!, id: generateMessageId() }, SENDER).kind, 'duplicate');
    const other = { ...chunks[0]!, id: generateMessageId(), data: encodeB64u(bytesOf(CHUNK_BYTES, 7)) };
    const out = assembly.add(other, SENDER);
    assert.ok(out.kind === 'failed' && out.error.reason === 'conflicting_chunk');
    assert.equal(assembly.heldBytes(), 0);
    // Once failed, it stays failed: the right last chunk does not bring it back.
    assert.equal(assembly.add(chunks[1]!, SENDER).kind, 'failed');
  });

  it('a chunk of the wrong length, or past the last index, fails the file (it can never grow past its size)', () => {
    const { file, chunks } = overTheWire(toSend(bytesOf(CHUNK_BYTES + 10, 8)));
    const short = new FileAssembly(file.id, file.file!, SENDER).add({ ...chunks[1]!, data: encodeB64u(bytesOf(9, 8)) }, SENDER);
    assert.ok(short.kind === 'failed' && short.error.reason === 'chunk_size');
    const long = new FileAssembly(file.id, file.file!, SENDER).add({ ...chunks[1]!, data: encodeB64u(bytesOf(CHUNK_BYTES, 8)) }, SENDER);
    assert.ok(long.kind === 'failed' && long.error.reason === 'chunk_size');
    const past = new FileAssembly(file.id, file.file!, SENDER).add({ ...chunks[1]!, index: 2 }, SENDER);
    assert.ok(past.kind === 'failed' && past.error.reason === 'chunk_index');
  });

  it('any file up to 8 MiB round-trips, its chunks in any order (property)', function () {
    this.timeout(120_000);
    fc.assert(fc.property(
      fc.oneof(fc.integer({ min: 0, max: 3 * CHUNK_BYTES + 1 }), fc.integer({ min: 0, max: MAX_FILE_BYTES }), fc.constant(MAX_FILE_BYTES)),
      fc.integer(), fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
      (size, seed, order) => {
        const bytes = bytesOf(size, seed);
        const { file, chunks } = overTheWire(toSend(bytes));
        const { assembly, outcomes } = assemble(file, shuffled(chunks, order));
        assert.ok(assembly.heldBytes() <= size);
        const state = assembly.state();
        assert.equal(state.state, 'complete');
        assert.ok(state.state === 'complete' && state.bytes.equals(bytes));
        if (outcomes.length > 0) assert.equal(outcomes[outcomes.length - 1]!.kind, 'complete');
      }), { numRuns: 12 });
  });

  it('any single flipped byte of any chunk is refused, and nothing of the file is kept (property)', function () {
    this.timeout(120_000);
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 * CHUNK_BYTES }), fc.integer(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
      (size, seed, which, where, mask, order) => {
        const { file, chunks } = overTheWire(toSend(bytesOf(size, seed)));
        const i = which % chunks.length;
        const data = decodeB64u(chunks[i]!.data!);
        data[where % data.length]! ^= mask;
        const tampered = [...chunks];
        tampered[i] = { ...chunks[i]!, data: encodeB64u(data) };
        const { assembly, outcomes } = assemble(file, shuffled(tampered, order));
        assert.ok(outcomes.every((o) => o.kind !== 'complete'));
        const state = assembly.state();
        assert.ok(state.state === 'failed' && state.error.reason === 'hash_mismatch', JSON.stringify(state).slice(0, 200));
        assert.equal(assembly.heldBytes(), 0);
      }), { numRuns: 100 });
  });
});
