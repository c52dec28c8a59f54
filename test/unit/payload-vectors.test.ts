// The chat payload vectors of test/fixtures/smc-v2-payload-vectors.json (docs/protocol.md
// §2.3.1-2.3.6), computed independently by make-payload-vectors.py: our encoder gives the exact
// bytes P of every type, our parser reads them back to the same fields, the file splitter gives
// the vector's chunks byte for byte, the chunk bound of §2.3.5 holds, an envelope of a new type
// is sealed byte for byte, and every malformed payload is refused for the rule it breaks.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveMessageKey, identityFromSeed, Payload, RoomCipher } from '../../src/core/crypto';
import { sealEnvelope, MAX_ENVELOPE_BYTES } from '../../src/core/crypto/envelope';
import { encodePayload, MAX_PAYLOAD_BYTES, parsePayload } from '../../src/core/crypto/payload';
import { aesKey } from '../../src/core/crypto/primitives';
import { CHUNK_BYTES, MAX_CHUNKS, MAX_CHUNK_DATA_CHARS } from '../../src/core/payload/fields';
import { FileAssembly, fileMessages } from '../../src/core/payload/fileTransfer';
import { LIMITS } from '../../src/core/wire/frames';

interface PayloadVectors {
  payloads: { label: string; fields: Payload; P: string; P_hex: string }[];
  file: { size: number; sha256: string; header_P: string; chunks: { index: number; P: string }[] };
  chunk_bound: Record<string, number>;
  envelope: { K_hex: string; room: string; id: string; identity_seed_hex: string; nonce_hex: string; payload: string; body: string };
  malformed: { why: string; reason_contains: string; P: string }[];
}

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const v = JSON.parse(readFileSync(join(fixtures, 'smc-v2-payload-vectors.json'), 'utf8')) as PayloadVectors;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
/** The vector file's bytes: byte i is (31 i + 7) mod 251. */
const vectorFile = (size: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + 7) % 251));

describe('chat payload vectors (smc-v2-payload-vectors.json, §2.3.1-2.3.6)', () => {
  for (const vec of v.payloads) {
    it(`encodes and parses: ${vec.label}`, () => {
      const bytes = encodePayload(vec.fields);
      assert.equal(bytes.toString('hex'), vec.P_hex);
      assert.equal(bytes.toString('utf8'), vec.P);
      const parsed = parsePayload(bytes);
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
      assert.deepEqual(parsed.payload, vec.fields);
    });
  }

  it('splits the vector file into the vector file message and chunks, byte for byte (§2.3.5)', () => {
    const header = JSON.parse(v.file.header_P) as Payload;
    const bytes = vectorFile(v.file.size);
    const chunkIds = v.file.chunks.map((c) => (JSON.parse(c.P) as Payload).id);
    let next = 0;
    const { file, chunks } = fileMessages(
      { id: header.id, ts: header.ts, name: header.name, fileName: header.file!.name, mime: header.file!.mime, bytes, text: header.text },
      () => chunkIds[next++]!);
    assert.equal(encodePayload(file).toString('utf8'), v.file.header_P);
    assert.equal(file.file!.sha256, v.file.sha256);
    assert.equal(chunks.length, v.file.chunks.length);
    // Compared one by one, and as booleans: a 40 000-character difference is no help to read.
    chunks.forEach((c, i) => assert.ok(encodePayload(c).toString('utf8') === v.file.chunks[i]!.P, `chunk ${i} differs`));
  });

  it('reassembles the vector chunks in any order into the file (§2.3.5)', () => {
    const header = parsePayload(Buffer.from(v.file.header_P, 'utf8'));
    assert.ok(header.ok);
    const assembly = new FileAssembly(header.payload.id, header.payload.file!, 'FP');
    const parsed = [...v.file.chunks].reverse().map((c) => parsePayload(Buffer.from(c.P, 'utf8')));
    const outcomes = parsed.map((p) => (p.ok ? assembly.add(p.payload, 'FP') : assert.fail(p.reason)));
    const last = outcomes[outcomes.length - 1]!;
    assert.equal(last.kind, 'complete');
    assert.ok(last.kind === 'complete' && last.bytes.equals(vectorFile(v.file.size)));
  });

  it('agrees with the chunk bound computed in §2.3.5', () => {
    const b = v.chunk_bound;
    assert.equal(b.chunk_bytes, CHUNK_BYTES);
    assert.equal(b.chunks_of_8_MiB, MAX_CHUNKS);
    assert.equal(b.max_P, MAX_PAYLOAD_BYTES);
    assert.equal(b.max_body_chars, LIMITS.maxFrame - LIMITS.bodyOverhead);
    assert.ok(b.worst_chunk_P_bytes! <= MAX_PAYLOAD_BYTES);
    assert.ok(b.worst_chunk_body_chars! <= LIMITS.maxFrame - LIMITS.bodyOverhead);
    assert.ok(MAX_CHUNK_DATA_CHARS <= b.max_data_chars!);
    // Our encoder agrees on the worst chunk: 64 four-byte characters of name, the largest ts and index.
    const worst = encodePayload({
      id: 'A'.repeat(22), ts: Number.MAX_SAFE_INTEGER, name: '😀'.repeat(64), type: 'file-chunk',
      target: 'A'.repeat(22), index: MAX_CHUNKS - 1, data: 'A'.repeat(MAX_CHUNK_DATA_CHARS),
    });
    assert.equal(worst.length, b.worst_chunk_P_bytes);
    assert.ok(worst.length + 125 <= MAX_ENVELOPE_BYTES);
  });

  it('seals the envelope of a reaction byte for byte and opens it (§2.3-2.4 unchanged)', () => {
    const e = v.envelope;
    const identity = identityFromSeed(hex(e.identity_seed_hex));
    const cipher = new RoomCipher(hex(e.K_hex));
    assert.equal(cipher.room, e.room);
    const payload = JSON.parse(e.payload) as Payload;
    const body = sealEnvelope(aesKey(deriveMessageKey(hex(e.K_hex))), e.room, e.id, encodePayload(payload), identity, hex(e.nonce_hex));
    assert.equal(body, e.body);
    const opened = cipher.open(e.id, e.body);
    assert.ok(opened.ok, opened.ok ? '' : opened.reason);
    assert.deepEqual(opened.payload, payload);
  });

  for (const m of v.malformed) {
    it(`refuses: ${m.why}`, () => {
      const parsed = parsePayload(Buffer.from(m.P, 'utf8'));
      assert.equal(parsed.ok, false, `accepted ${m.P.slice(0, 200)}`);
      assert.ok(!parsed.ok && parsed.reason.includes(m.reason_contains), `reason: ${parsed.ok ? '' : parsed.reason}`);
      // A sender refuses it too, with a message for the user.
      assert.throws(() => encodePayload(JSON.parse(m.P) as Payload), /cannot be sent|too (long|large)/);
    });
  }
});
