// Invite links (docs/protocol.md §2.7): smc://HOST:PORT/NAME#KEY and, with TLS (§1.8),
// smcs://HOST:PORT/NAME?fp=HEX#KEY. The key sits in the fragment so that logs and link
// previews that drop fragments never see it. A parse error says exactly what is wrong and
// never contains the key (error messages end up in logs and screenshots).
import { formatHostPort, isHostName, isIPv4, isIPv6, isPort } from '../hostPort';
import { decodeB64u, encodeB64u } from './b64u';
import { ROOM_KEY_BYTES } from './roomKey';

export interface Invite {
  /** Host name or IP address; an IPv6 address without brackets. */
  host: string;
  port: number;
  /** The room name, decoded. */
  name: string;
  /** The room key K (32 bytes). A secret. */
  key: Buffer;
  /** Present for smcs:// invites: the relay certificate's SHA-256, 64 lowercase hex digits. */
  tls?: { fingerprint: string };
}

/** A malformed invite; the message says what is wrong and never includes the key. */
export class InviteError extends Error {
  /** For code that branches on errors, as ClientError.code: one kind, the message says which field. */
  readonly code = 'invalid_invite';
  constructor(message: string) {
    super(message);
    this.name = 'InviteError';
  }
}

/** Room names longer than this are refused: a name is for people to read. */
export const MAX_ROOM_NAME_CHARS = 256;

const SHAPE = 'smc://HOST:PORT/NAME#KEY';

/**
 * A relay certificate's SHA-256 fingerprint as 64 lowercase hex digits, from either that form
 * or Node's `fingerprint256` form ("AB:CD:..."); undefined if it is neither.
 */
export function normalizeCertFingerprint(s: string): string | undefined {
  const hex = s.replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

function checkHost(host: string): void {
  if (host.length === 0) throw new InviteError(`the invite has no host (expected ${SHAPE})`);
  if (host.includes(':')) {
    if (!isIPv6(host)) throw new InviteError(`'${host}' is not an IPv6 address`);
  } else if (!isIPv4(host) && !isHostName(host)) {
    throw new InviteError(`'${host}' is not a valid host name or IP address`);
  }
}

function checkPort(port: number): void {
  if (!isPort(port)) throw new InviteError('port must be 1-65535');
}

function checkName(name: string): void {
  if (/\p{Cs}/u.test(name)) throw new InviteError('the room name is not valid Unicode');
  if (name.length === 0) throw new InviteError('the invite has no room name after the port');
  if ([...name].length > MAX_ROOM_NAME_CHARS) throw new InviteError(`the room name is longer than ${MAX_ROOM_NAME_CHARS} characters`);
}

/** The invite link for a room. Throws InviteError if a field is invalid. */
export function formatInvite(inv: Invite): string {
  checkHost(inv.host);
  checkPort(inv.port);
  checkName(inv.name);
  if (inv.key.length !== ROOM_KEY_BYTES) throw new InviteError('the key must be 32 bytes');
  const path = `${formatHostPort(inv.host, inv.port)}/${encodeURIComponent(inv.name)}`;
  if (inv.tls === undefined) return `smc://${path}#${encodeB64u(inv.key)}`;
  const fp = normalizeCertFingerprint(inv.tls.fingerprint);
  if (fp === undefined) throw new InviteError('the certificate fingerprint must be 64 hex digits (SHA-256)');
  return `smcs://${path}?fp=${fp}#${encodeB64u(inv.key)}`;
}

/** Parses an invite link (surrounding whitespace is ignored). Throws InviteError. */
export function parseInvite(text: string): Invite {
  const s = text.trim();
  if (s.length === 0) throw new InviteError('the invite is empty');

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s);
  if (scheme === null) throw new InviteError(`an invite starts with smc:// or smcs:// (expected ${SHAPE})`);
  const schemeName = scheme[1]!.toLowerCase();
  if (schemeName !== 'smc' && schemeName !== 'smcs') {
    throw new InviteError(`unknown scheme '${scheme[1]!.slice(0, 16)}://'; an invite starts with smc:// or smcs://`);
  }
  const secure = schemeName === 'smcs';

  // The key: everything after the first '#'. Never echoed.
  const hash = s.indexOf('#');
  if (hash < 0 || hash === s.length - 1) throw new InviteError("the invite has no key after '#'");
  let key: Buffer;
  try {
    key = decodeB64u(s.slice(hash + 1));
  } catch {
    throw new InviteError('the key must be 32 bytes of base64url (43 characters of A-Z a-z 0-9 - _)');
  }
  if (key.length !== ROOM_KEY_BYTES) throw new InviteError('the key must be 32 bytes of base64url (43 characters of A-Z a-z 0-9 - _)');

  const rest = s.slice(scheme[0].length, hash);
  const slash = rest.indexOf('/');
  const queryAt = rest.indexOf('?');
  const authorityEnd = slash >= 0 ? slash : queryAt >= 0 ? queryAt : rest.length;
  const authority = rest.slice(0, authorityEnd);
  if (authority.includes('@')) throw new InviteError("the invite must not contain a user name ('@')");

  // Host and port; an IPv6 address is in brackets.
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw new InviteError("an IPv6 address must end with ']'");
    host = authority.slice(1, close);
    if (!isIPv6(host)) throw new InviteError(`'${host.slice(0, 64)}' is not an IPv6 address`);
    const after = authority.slice(close + 1);
    if (after.length > 0 && !after.startsWith(':')) throw new InviteError("expected ':PORT' after the IPv6 address");
    portText = after.length > 0 ? after.slice(1) : undefined;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.indexOf(':') !== colon) {
      throw new InviteError('an IPv6 address must be in brackets, e.g. smc://[::1]:7878/NAME#KEY');
    }
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (host.length === 0) throw new InviteError(`the invite has no host (expected ${SHAPE})`);
    if (!isIPv4(host) && !isHostName(host)) throw new InviteError(`'${host.slice(0, 64)}' is not a valid host name or IP address`);
  }
  if (portText === undefined || portText.length === 0) throw new InviteError(`the invite has no port (expected ${SHAPE})`);
  if (!/^[0-9]{1,5}$/.test(portText)) throw new InviteError('port must be 1-65535');
  const port = Number(portText);
  checkPort(port);

  // The room name: the path, URL-encoded.
  if (slash < 0) throw new InviteError('the invite has no room name after the port');
  const afterSlash = rest.slice(slash + 1);
  const q = afterSlash.indexOf('?');
  const rawName = q >= 0 ? afterSlash.slice(0, q) : afterSlash;
  const query = q >= 0 ? afterSlash.slice(q + 1) : undefined;
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    throw new InviteError('the room name is not valid URL encoding');
  }
  checkName(name);

  // The query: only fp=HEX, and only in smcs:// invites.
  let fingerprint: string | undefined;
  if (query !== undefined && query.length > 0) {
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const k = eq >= 0 ? part.slice(0, eq) : part;
      const val = eq >= 0 ? part.slice(eq + 1) : '';
      if (k !== 'fp') throw new InviteError(`unknown invite parameter '${k.slice(0, 32)}'`);
      if (!secure) throw new InviteError("'fp=' belongs only in an smcs:// (TLS) invite");
      if (fingerprint !== undefined) throw new InviteError("the invite has more than one 'fp='");
      fingerprint = normalizeCertFingerprint(val);
      if (fingerprint === undefined) throw new InviteError('the certificate fingerprint (fp=) must be 64 hex digits (SHA-256)');
    }
  }
  if (secure && fingerprint === undefined) {
    throw new InviteError("an smcs:// invite needs the relay's certificate fingerprint (?fp=HEX)");
  }

  const invite: Invite = { host, port, name, key };
  if (fingerprint !== undefined) invite.tls = { fingerprint };
  return invite;
}
