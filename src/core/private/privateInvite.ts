// A private room's invite (docs/protocol.md §3.4): smc://HOST:PORT/NAME?join=1#SECRET, SECRET the
// b64u of 32 random bytes I. It is a capability to ask to join, not a key to the room: I gives
// the key of the invite's lobby (a link room) and the invite's id, nothing of the group.
import { formatInvite, parseInvite, InviteError } from '../crypto/invite';

export interface PrivateInvite {
  host: string;
  port: number;
  name: string;
  /** I, 32 bytes. A secret. */
  secret: Buffer;
}

const JOIN_MARK = '?join=1#';

/** Whether an invite link is a private room's (it carries `?join=1`). */
export function isPrivateInvite(text: string): boolean {
  return text.trim().includes(JOIN_MARK);
}

export function formatPrivateInvite(inv: PrivateInvite): string {
  // The shape of §2.7 with `?join=1` before the fragment; formatInvite checks host, port and name.
  const link = formatInvite({ host: inv.host, port: inv.port, name: inv.name, key: inv.secret });
  const hash = link.indexOf('#');
  return link.slice(0, hash) + JOIN_MARK + link.slice(hash + 1);
}

/** Parses a private room's invite; throws InviteError (never with the secret in its message). */
export function parsePrivateInvite(text: string): PrivateInvite {
  const s = text.trim();
  if (!s.includes(JOIN_MARK)) throw new InviteError('not a private room invite (it has no ?join=1)');
  if (s.toLowerCase().startsWith('smcs://')) throw new InviteError('private room invites over TLS (smcs://) are not supported yet');
  const inv = parseInvite(s.replace(JOIN_MARK, '#'));
  return { host: inv.host, port: inv.port, name: inv.name, secret: inv.key };
}
