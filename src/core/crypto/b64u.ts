// Unpadded base64url (RFC 4648 §5), as docs/protocol.md uses it for room ids, message ids, bodies,
// tags and keys. Decoding is strict: Buffer.from(s, 'base64url') silently skips characters it
// does not know and ignores trailing bits, so two different strings could decode to the same
// bytes; a canonical decoder keeps every envelope byte-for-byte unambiguous (docs/protocol.md
// §2.4: an envelope is checked byte for byte).

const B64U_CHARS = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes as unpadded base64url. */
export function encodeB64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes unpadded base64url. Throws on a character outside [A-Za-z0-9_-] (padding included),
 * on a length of the form 4k+1 (no byte string encodes to it) and on non-canonical trailing
 * bits (the unused low bits of the last character must be zero). The empty string decodes to
 * no bytes; callers that need at least one character check that themselves (§1.2).
 */
export function decodeB64u(s: string): Buffer {
  if (!B64U_CHARS.test(s)) throw new Error('not base64url: a character outside [A-Za-z0-9_-]');
  if (s.length % 4 === 1) throw new Error('not base64url: impossible length');
  const bytes = Buffer.from(s, 'base64url');
  // Re-encoding gives back the same string only if the trailing bits were zero.
  if (bytes.toString('base64url') !== s) throw new Error('not base64url: non-canonical trailing bits');
  return bytes;
}
