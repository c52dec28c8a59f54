// The on-disk record of the relay's message log (docs/storage.md "Record format").
// One record is one stored message (docs/protocol.md §1.5): a fixed little-endian header, then the
// room, the id and the body as UTF-8 bytes. A CRC-32 over the payload lets recovery tell an
// intact record from a torn or corrupt one without parsing any JSON.
//
//   offset size
//   0      4    payloadLength   bytes after this 8-byte header
//   4      4    crc32(payload)
//   -- payload --
//   8      1    kind            1 = message
//   9      1    roomLength      bytes
//   10     1    idLength        bytes
//   11     1    reserved        0
//   12     4    seq             u32
//   16     6    ts              u48, Unix milliseconds
//   22     ..   room, id, body

import { crc32 } from 'node:zlib';

/** Bytes before the payload (length and CRC). */
export const RECORD_HEADER = 8;
/** Fixed part of the payload before room, id and body. */
export const PAYLOAD_FIXED = 14;
/** Bytes of fixed fields in a record: header + fixed payload. */
export const RECORD_FIXED = RECORD_HEADER + PAYLOAD_FIXED;
export const KIND_MESSAGE = 1;
/** Room and id are each at most this many UTF-8 bytes (they are 22 chars by §1.2). */
export const MAX_KEY_BYTES = 255;
/**
 * Upper bound of a payload. A body is bounded by the relay's maxFrame (§1.1, §1.2); this bound
 * is far above any sane maxFrame and lets recovery reject a garbage length at once.
 */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
export const MAX_SEQ = 0xffff_ffff;
const MAX_TS = 2 ** 48 - 1;

/** Every segment file starts with these 8 bytes. */
export const SEGMENT_MAGIC = Buffer.from('SMCLOG1\n', 'latin1');

/** A message as it is encoded into a record. */
export interface RecordFields {
  room: string;
  id: string;
  body: string;
  seq: number;
  ts: number;
}

/** A record decoded from disk. */
export interface DecodedRecord extends RecordFields {
  /** Bytes the whole record occupies, header included. */
  length: number;
}

/** Bytes the record of these fields will occupy. */
export function recordLength(roomBytes: number, idBytes: number, bodyBytes: number): number {
  return RECORD_FIXED + roomBytes + idBytes + bodyBytes;
}

/**
 * Writes one record at `offset` of `buf` (which must have room for it) and returns its length.
 * The caller has checked the key lengths and the seq/ts ranges.
 */
export function encodeRecord(buf: Buffer, offset: number, f: RecordFields): number {
  const p = offset + RECORD_HEADER;
  const roomLen = buf.write(f.room, p + PAYLOAD_FIXED, 'utf8');
  const idLen = buf.write(f.id, p + PAYLOAD_FIXED + roomLen, 'utf8');
  const bodyLen = buf.write(f.body, p + PAYLOAD_FIXED + roomLen + idLen, 'utf8');
  const payloadLen = PAYLOAD_FIXED + roomLen + idLen + bodyLen;
  buf[p] = KIND_MESSAGE;
  buf[p + 1] = roomLen;
  buf[p + 2] = idLen;
  buf[p + 3] = 0;
  buf.writeUInt32LE(f.seq, p + 4);
  buf.writeUIntLE(f.ts, p + 8, 6);
  buf.writeUInt32LE(payloadLen, offset);
  buf.writeUInt32LE(crc32(buf.subarray(p, p + payloadLen)), offset + 4);
  return RECORD_HEADER + payloadLen;
}

/** Why a message cannot be encoded, or undefined when it can. */
export function checkEncodable(roomBytes: number, idBytes: number, bodyBytes: number, seq: number, ts: number): string | undefined {
  if (roomBytes < 1 || roomBytes > MAX_KEY_BYTES) return `room of ${roomBytes} bytes (1..${MAX_KEY_BYTES})`;
  if (idBytes < 1 || idBytes > MAX_KEY_BYTES) return `id of ${idBytes} bytes (1..${MAX_KEY_BYTES})`;
  if (PAYLOAD_FIXED + roomBytes + idBytes + bodyBytes > MAX_PAYLOAD) return `body of ${bodyBytes} bytes is too large`;
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) return `seq ${seq} out of range`;
  if (!Number.isSafeInteger(ts) || ts < 0 || ts > MAX_TS) return `ts ${ts} out of range`;
  return undefined;
}

/**
 * Checks the header of a candidate record at `offset` with `available` bytes of `buf` after it:
 * returns the whole record length if the fixed fields are plausible, or 0. It does not check
 * the CRC (the payload may not be in `buf` yet).
 */
export function plausibleLength(buf: Buffer, offset: number, available: number): number {
  if (available < RECORD_FIXED) return 0;
  const payloadLen = buf.readUInt32LE(offset);
  if (payloadLen < PAYLOAD_FIXED || payloadLen > MAX_PAYLOAD) return 0;
  const p = offset + RECORD_HEADER;
  if (buf[p] !== KIND_MESSAGE || buf[p + 3] !== 0) return 0;
  const roomLen = buf.readUInt8(p + 1);
  const idLen = buf.readUInt8(p + 2);
  if (roomLen === 0 || idLen === 0 || PAYLOAD_FIXED + roomLen + idLen > payloadLen) return 0;
  if (buf.readUInt32LE(p + 4) === 0) return 0;
  return RECORD_HEADER + payloadLen;
}

/** True when the whole record of `length` bytes at `offset` has a matching CRC. */
export function crcMatches(buf: Buffer, offset: number, length: number): boolean {
  return crc32(buf.subarray(offset + RECORD_HEADER, offset + length)) === buf.readUInt32LE(offset + 4);
}

/**
 * True when the `length` bytes at `offset` are one whole intact record: its length field says
 * `length`, its fixed fields are plausible and its CRC matches. Used when reading a record whose
 * place comes from the index.
 */
export function recordIntact(buf: Buffer, offset: number, length: number): boolean {
  return plausibleLength(buf, offset, length) === length && crcMatches(buf, offset, length);
}

/** The room of a checked record, for index building without decoding the body. */
export function roomOf(buf: Buffer, offset: number): string {
  const p = offset + RECORD_HEADER;
  return buf.toString('utf8', p + PAYLOAD_FIXED, p + PAYLOAD_FIXED + buf.readUInt8(p + 1));
}

export function seqOf(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset + RECORD_HEADER + 4);
}

export function tsOf(buf: Buffer, offset: number): number {
  return buf.readUIntLE(offset + RECORD_HEADER + 8, 6);
}

/** Start and end of the room bytes of a checked record. */
export function roomSpan(buf: Buffer, offset: number): [number, number] {
  const start = offset + RECORD_HEADER + PAYLOAD_FIXED;
  return [start, start + buf.readUInt8(offset + RECORD_HEADER + 1)];
}

/** Start and end of the id bytes of a checked record. */
export function idSpan(buf: Buffer, offset: number): [number, number] {
  const p = offset + RECORD_HEADER;
  const start = p + PAYLOAD_FIXED + buf.readUInt8(p + 1);
  return [start, start + buf.readUInt8(p + 2)];
}

/** Decodes a record whose length and CRC have been checked. */
export function decodeRecord(buf: Buffer, offset: number, length: number): DecodedRecord {
  const p = offset + RECORD_HEADER;
  const roomEnd = p + PAYLOAD_FIXED + buf.readUInt8(p + 1);
  const idEnd = roomEnd + buf.readUInt8(p + 2);
  return {
    room: buf.toString('utf8', p + PAYLOAD_FIXED, roomEnd),
    id: buf.toString('utf8', roomEnd, idEnd),
    body: buf.toString('utf8', idEnd, offset + length),
    seq: buf.readUInt32LE(p + 4),
    ts: buf.readUIntLE(p + 8, 6),
    length,
  };
}
