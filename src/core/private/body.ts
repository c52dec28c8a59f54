// The bodies of a private room's messages (docs/protocol.md §3.3): b64u(0x02 || MLSMessage).
// 0x01 stays the link-room envelope (§2.4). Parts (0x03) of a message longer than a body
// (§3.3.1) are cut and joined by parts.ts (RoomParts, roomBodies).
import { decodeB64u, encodeB64u } from '../crypto/b64u';

export const MLS_BODY_VERSION = 0x02;
export const MLS_PART_VERSION = 0x03;

export function encodeMlsBody(message: Uint8Array): string {
  return encodeB64u(Buffer.concat([Buffer.from([MLS_BODY_VERSION]), message]));
}

/** The MLSMessage of a body, or undefined when it is not one (a part, an envelope, junk). */
export function decodeMlsBody(body: string): Uint8Array | undefined {
  let bytes: Buffer;
  try {
    bytes = decodeB64u(body);
  } catch {
    return undefined;
  }
  if (bytes.length < 2 || bytes[0] !== MLS_BODY_VERSION) return undefined;
  return new Uint8Array(bytes.subarray(1));
}
