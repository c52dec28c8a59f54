// A private room's invite (docs/protocol.md §3.4): smc://HOST:PORT/NAME?join=1&by=ADMIN#SECRET, and
// on a TLS relay (§1.8) smcs://HOST:PORT/NAME?join=1&fp=CERT&by=ADMIN#SECRET. SECRET is the b64u of
// 32 random bytes I: a capability to ask to join, not a key to the room (I gives the key of the
// invite's lobby, a link room, and the invite's id, nothing of the group). ADMIN is the fingerprint
// of the admin who made it: the one identity whose refusal the joiner believes (§3.4 "Who the
// joiner believes"). Invites made before `by` existed still parse, without it.
import { fingerprint } from '../crypto/identity';
import { formatInvite, parseInvite, InviteError } from '../crypto/invite';

export interface PrivateInvite {
  host: string;
  port: number;
  name: string;
  /** I, 32 bytes. A secret. */
  secret: Buffer;
  /** §3.4 `by`: the inviting admin's fingerprint, 32 lowercase hex digits (absent in older invites). */
  admin?: string;
  /** §1.8: the relay speaks TLS with this certificate (its SHA-256, 64 lowercase hex digits), pinned. */
  tls?: { fingerprint: string };
}

/** `join=1` comes first in the query and marks a private room's invite (§3.4). */
const JOIN_MARK = /[?]join=1(?=[&#])/;

/** A fingerprint (§2.1, "ABCD 1234 …") as `by` writes it: 32 lowercase hex digits. */
export function fingerprintHex(fp: string): string {
  return fp.replace(/\s+/g, '').toLowerCase();
}

/** The `by` of an invite made by the holder of this identity key. */
export function inviteAdminOf(identityKey: Uint8Array): string {
  return fingerprintHex(fingerprint(identityKey));
}

/** Whether an invite link is a private room's (it carries `?join=1`). */
export function isPrivateInvite(text: string): boolean {
  return JOIN_MARK.test(text.trim());
}

export function formatPrivateInvite(inv: PrivateInvite): string {
  // The shape of §2.7, its query replaced by §3.4's; formatInvite checks host, port, name and pin.
  const link = formatInvite({ host: inv.host, port: inv.port, name: inv.name, key: inv.secret, ...(inv.tls !== undefined ? { tls: inv.tls } : {}) });
  if (inv.admin !== undefined && !/^[0-9a-f]{32}$/.test(inv.admin)) throw new InviteError('the admin fingerprint (by=) must be 32 hex digits');
  const hash = link.indexOf('#');
  const q = link.indexOf('?');
  const base = link.slice(0, q >= 0 ? q : hash);
  const fp = q >= 0 ? `&${link.slice(q + 1, hash)}` : '';
  return `${base}?join=1${fp}${inv.admin !== undefined ? `&by=${inv.admin}` : ''}${link.slice(hash)}`;
}

/** Parses a private room's invite; throws InviteError (never with the secret in its message). */
export function parsePrivateInvite(text: string): PrivateInvite {
  const s = text.trim();
  if (!JOIN_MARK.test(s)) throw new InviteError('not a private room invite (it has no ?join=1)');
  const hash = s.indexOf('#');
  const q = s.search(JOIN_MARK);
  if (hash < q) throw new InviteError("the invite has no key after '#'");
  // §3.4: join=1, then fp (smcs:// only, checked by parseInvite) and by, each at most once.
  let admin: string | undefined;
  const kept: string[] = [];
  for (const part of s.slice(q + 1, hash).split('&').slice(1)) {
    const eq = part.indexOf('=');
    const k = eq >= 0 ? part.slice(0, eq) : part;
    const v = eq >= 0 ? part.slice(eq + 1) : '';
    if (k === 'by') {
      if (admin !== undefined) throw new InviteError("the invite has more than one 'by='");
      if (!/^[0-9a-fA-F]{32}$/.test(v)) throw new InviteError("the admin's fingerprint (by=) must be 32 hex digits");
      admin = v.toLowerCase();
    } else if (k === 'fp') {
      kept.push(part);
    } else {
      throw new InviteError(`unknown invite parameter '${k.slice(0, 32)}'`);
    }
  }
  const inv = parseInvite(`${s.slice(0, q)}${kept.length > 0 ? `?${kept.join('&')}` : ''}${s.slice(hash)}`);
  return {
    host: inv.host, port: inv.port, name: inv.name, secret: inv.key,
    ...(admin !== undefined ? { admin } : {}), ...(inv.tls !== undefined ? { tls: inv.tls } : {}),
  };
}
