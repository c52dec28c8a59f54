// A small binary record for what this folder saves (exported state, saved KeyPackages): named
// byte fields, each as u8 name length || name || u32 value length || value, after a version
// byte. Binary rather than JSON because a group state is mostly bytes (hundreds of kB at 200
// members), and base64 in JSON would add a third.
import { MlsError } from './errors';

const RECORD_VERSION = 1;
/** No field of ours comes near this; a damaged length must not make us allocate gigabytes. */
const MAX_FIELD_BYTES = 64 * 1024 * 1024;

export function encodeRecord(fields: Record<string, Uint8Array>): Uint8Array {
  const parts: Buffer[] = [Buffer.from([RECORD_VERSION])];
  for (const [name, value] of Object.entries(fields)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(value.length);
    parts.push(Buffer.from([nameBytes.length]), nameBytes, len, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** Reads a record; `required` fields must be present, others are returned when present. */
export function decodeRecord<K extends string>(bytes: Uint8Array, required: readonly K[]): Record<K, Uint8Array> & Partial<Record<string, Uint8Array>> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 1 || buf[0] !== RECORD_VERSION) throw new MlsError('bad_state', 'not a saved MLS record of a version this SMC reads');
  const out: Record<string, Uint8Array> = {};
  let at = 1;
  while (at < buf.length) {
    const nameLen = buf[at]!;
    if (at + 1 + nameLen + 4 > buf.length) throw new MlsError('bad_state', 'a saved MLS record is cut short');
    const name = buf.subarray(at + 1, at + 1 + nameLen).toString('utf8');
    const valueLen = buf.readUInt32BE(at + 1 + nameLen);
    const start = at + 1 + nameLen + 4;
    if (valueLen > MAX_FIELD_BYTES || start + valueLen > buf.length) throw new MlsError('bad_state', 'a saved MLS record is cut short');
    if (Object.hasOwn(out, name)) throw new MlsError('bad_state', 'a saved MLS record names a field twice');
    out[name] = new Uint8Array(buf.subarray(start, start + valueLen));
    at = start + valueLen;
  }
  for (const name of required) {
    if (!Object.hasOwn(out, name)) throw new MlsError('bad_state', `a saved MLS record lacks its ${name}`);
  }
  return out as Record<K, Uint8Array> & Partial<Record<string, Uint8Array>>;
}
