// What a private room's application messages carry (docs/protocol.md §3.3, §3.4): the payload P
// of §2.3 (text, snippet, ...) without the outer signature, or one of the room's own control
// messages: `invite`, `revoke` (§3.4 step 1) and `member_added` (§3.4 step 3). Control messages
// are JSON objects with P's id, ts, name and type, and their own fields, checked strictly here;
// anything else goes through parsePayload (§2.3), which keeps only the §2.3 fields.
import { MAX_PAYLOAD_BYTES, encodePayload, parsePayload, type Payload } from '../crypto/payload';
import { isB64uForm } from '../wire/validate';

/** §3.4: an invite lives at most 30 days. */
export const MAX_INVITE_MS = 30 * 24 * 3_600_000;
/** §3.4: the default lifetime of an invite. */
export const DEFAULT_INVITE_MS = 24 * 3_600_000;
/** A bound on the uses one invite may grant (a room is not that large). */
export const MAX_INVITE_USES = 1_000;

interface Head { id: string; ts: number; name: string }

/** §3.4 step 1: the capability to ask to join; every member records it. */
export interface InviteContent extends Head { type: 'invite'; invite: string; secret: string; uses: number; expires: number }
export interface RevokeContent extends Head { type: 'revoke'; invite: string }
/** §3.4 step 3: sent by the admin that added `member` (hex identity key) with `invite`. */
export interface MemberAddedContent extends Head {
  type: 'member_added'; invite: string; member: string; memberName: string;
  /** The names the admin knows the other members by (hex identity key -> name), for the joiner. */
  names?: Record<string, string>;
}

export type ControlContent = InviteContent | RevokeContent | MemberAddedContent;
export type RoomContent = { type: 'payload'; payload: Payload } | ControlContent;

const CONTROL_TYPES = new Set(['invite', 'revoke', 'member_added']);

export function encodeControl(c: ControlContent): Buffer {
  const head = { id: c.id, ts: c.ts, name: c.name, type: c.type };
  let out: Record<string, unknown>;
  switch (c.type) {
    case 'invite': out = { ...head, invite: c.invite, secret: c.secret, uses: c.uses, expires: c.expires }; break;
    case 'revoke': out = { ...head, invite: c.invite }; break;
    case 'member_added': out = { ...head, invite: c.invite, member: c.member, memberName: c.memberName, ...(c.names !== undefined ? { names: c.names } : {}) }; break;
  }
  return Buffer.from(JSON.stringify(out), 'utf8');
}

/** The plaintext of a room message: checked as §2.3 says (throws PayloadError with a user message). */
export function encodeRoomPayload(p: Payload): Buffer {
  return encodePayload(p);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isName = (s: unknown): s is string => typeof s === 'string' && s.length >= 1 && [...s].length <= 64;

/** Parses a decrypted application message; never throws. */
export function parseRoomContent(bytes: Uint8Array): { ok: true; content: RoomContent } | { ok: false; reason: string } {
  if (bytes.length > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'content over 40960 bytes' };
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return { ok: false, reason: 'content is not UTF-8 JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'content is not a JSON object' };
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !CONTROL_TYPES.has(v.type)) {
    const parsed = parsePayload(bytes);
    return parsed.ok ? { ok: true, content: { type: 'payload', payload: parsed.payload } } : parsed;
  }
  if (typeof v.id !== 'string' || !isInt(v.ts) || !isName(v.name)) return { ok: false, reason: 'control message without id, ts or name' };
  const head: Head = { id: v.id, ts: v.ts, name: v.name };
  if (!isB64uForm(v.invite, 22) || v.invite.length !== 22) return { ok: false, reason: 'control message without an invite id' };
  switch (v.type) {
    case 'invite':
      if (!isB64uForm(v.secret, 43) || v.secret.length !== 43) return { ok: false, reason: 'invite without its secret' };
      if (!isInt(v.uses) || v.uses < 1 || v.uses > MAX_INVITE_USES) return { ok: false, reason: 'invite uses out of range' };
      if (!isInt(v.expires) || v.expires > v.ts + MAX_INVITE_MS) return { ok: false, reason: 'invite expiry out of range' };
      return { ok: true, content: { ...head, type: 'invite', invite: v.invite, secret: v.secret, uses: v.uses, expires: v.expires } };
    case 'revoke':
      return { ok: true, content: { ...head, type: 'revoke', invite: v.invite } };
    default:
      if (typeof v.member !== 'string' || !/^[0-9a-f]{64}$/.test(v.member)) return { ok: false, reason: 'member_added without a member' };
      if (!isName(v.memberName)) return { ok: false, reason: 'member_added without a name' };
      {
        const c: MemberAddedContent = { ...head, type: 'member_added', invite: v.invite, member: v.member, memberName: v.memberName };
        if (v.names !== undefined) {
          if (typeof v.names !== 'object' || v.names === null || Array.isArray(v.names)) return { ok: false, reason: 'member_added names malformed' };
          const names: Record<string, string> = {};
          for (const [k, n] of Object.entries(v.names as Record<string, unknown>).slice(0, 1_000)) {
            if (/^[0-9a-f]{64}$/.test(k) && isName(n)) names[k] = n;
          }
          c.names = names;
        }
        return { ok: true, content: c };
      }
  }
}
