// Real sealed envelopes for the client benchmarks: text messages from a few senders, sealed
// with the project's own RoomCipher (PROTOCOL.md §2.3-2.4), as a joining client receives them.
import { generateIdentity, generateMessageId, generateRoomKey, RoomCipher, type Identity } from '../../src/core/crypto/index';

export interface SealedMessage {
  id: string;
  body: string;
}

export interface SealedRoom {
  key: Buffer;
  cipher: RoomCipher;
  senders: Identity[];
  messages: SealedMessage[];
}

const NAMES = ['George', 'Jacques', 'Amélie'];

/**
 * `count` text messages of about 120 characters each, round-robin over three senders; each
 * text starts with `label` (so a UI test can tell two rooms' messages apart).
 */
export function sealRoom(count: number, key: Buffer = generateRoomKey(), label = 'Message'): SealedRoom {
  const cipher = new RoomCipher(key);
  const senders = NAMES.map(() => generateIdentity());
  const messages: SealedMessage[] = [];
  const ts = Date.now();
  for (let i = 0; i < count; i++) {
    const id = generateMessageId();
    const text = `${label} ${i}: the build on main is green again; the flaky relay test was a port race, fixed in the helper.`;
    const s = i % senders.length;
    const body = cipher.seal({ id, ts: ts + i, name: NAMES[s] ?? 'x', type: 'text', text }, senders[s] as Identity);
    messages.push({ id, body });
  }
  return { key, cipher, senders, messages };
}
