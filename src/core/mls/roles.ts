// Roles in a private room (docs/protocol.md §3.5). The admins are listed in a GroupContext
// extension of ours, the roster, so every member and every joiner (through the Welcome's
// GroupInfo) holds the same list, authenticated by the epoch like the rest of the group
// context. Every member checks every commit against the roster it has before applying it.
import type { Extension } from 'ts-mls' with { 'resolution-mode': 'import' };
import { ED25519_PUBLIC_KEY_BYTES } from '../crypto/primitives';
import type { MlsMember } from './credential';

/** §3.5: the roster's extension type, from the private-use range of RFC 9420 §17.3. */
export const ROSTER_EXTENSION_TYPE = 0xf5c0;

/** §3.5: the roster is the admins' identity keys, 32 bytes each, in ascending byte order, none twice. */
export function encodeRoster(admins: readonly Uint8Array[]): Uint8Array {
  const sorted = uniqueSorted(admins);
  return new Uint8Array(Buffer.concat(sorted));
}

/** The roster's keys, or undefined when the bytes are not a roster as §3.5 defines it. */
export function decodeRoster(data: Uint8Array): Buffer[] | undefined {
  if (data.length === 0 || data.length % ED25519_PUBLIC_KEY_BYTES !== 0) return undefined;
  const keys: Buffer[] = [];
  for (let at = 0; at < data.length; at += ED25519_PUBLIC_KEY_BYTES) keys.push(Buffer.from(data.subarray(at, at + ED25519_PUBLIC_KEY_BYTES)));
  for (let i = 1; i < keys.length; i++) if (Buffer.compare(keys[i - 1]!, keys[i]!) >= 0) return undefined;
  return keys;
}

export function rosterExtension(admins: readonly Uint8Array[]): Extension {
  return { extensionType: ROSTER_EXTENSION_TYPE, extensionData: encodeRoster(admins) };
}

/** The roster in a list of GroupContext extensions: undefined if absent or malformed. */
export function rosterIn(extensions: readonly Extension[]): Buffer[] | undefined {
  const found = extensions.filter((e) => e.extensionType === ROSTER_EXTENSION_TYPE);
  return found.length === 1 ? decodeRoster(found[0]!.extensionData) : undefined;
}

/** What the role rule needs to know of a commit, before it is applied. */
export interface RoleCheck {
  readonly committer: MlsMember;
  /** The members before the commit. */
  readonly members: readonly MlsMember[];
  /** The roster before the commit. */
  readonly roster: readonly Buffer[];
  readonly adds: readonly Buffer[];
  readonly removes: readonly { readonly member: MlsMember; readonly proposer: MlsMember | undefined }[];
  /** The roster a GroupContextExtensions proposal sets; null when it sets none or a malformed one. */
  readonly newRoster: readonly Buffer[] | null | undefined;
  /** Proposal kinds other than add, remove and group_context_extensions. */
  readonly others: readonly string[];
}

/**
 * §3.5: the admins are the members the roster lists; when it lists no member (the last admin
 * left), the member at the lowest leaf is the admin. A roster entry of someone who left is
 * inert, and is dropped by the next roster change.
 */
export function effectiveAdmins(roster: readonly Buffer[], members: readonly MlsMember[]): Buffer[] {
  const listed = members.filter((m) => roster.some((a) => a.equals(m.identityKey)));
  if (listed.length > 0 || members.length === 0) return uniqueSorted(listed.map((m) => m.identityKey));
  const lowest = [...members].sort((x, y) => x.leafIndex - y.leafIndex)[0]!;
  return [lowest.identityKey];
}

/** §3.5: a reason to refuse the commit, or undefined when the room's rules allow it. */
export function checkRoles(c: RoleCheck): string | undefined {
  if (c.others.length > 0) return `a commit with a ${c.others[0]} proposal (SMC commits add, remove and the roster only)`;
  if (c.newRoster === null) return 'a roster that does not decode';
  const isAdmin = effectiveAdmins(c.roster, c.members).some((a) => a.equals(c.committer.identityKey));
  if (!isAdmin) {
    if (c.adds.length > 0) return 'only an admin adds members';
    for (const r of c.removes) {
      if (r.proposer === undefined || r.proposer.leafIndex !== r.member.leafIndex) return 'only an admin removes other members';
    }
    if (c.newRoster !== undefined) return 'only an admin changes the roster';
  }
  // A re-added former admin must not be an admin again by an old roster entry.
  for (const k of c.adds) if (c.roster.some((a) => a.equals(k))) return 'an add of someone the roster still lists (drop them from the roster first)';
  if (c.newRoster !== undefined) {
    // A roster change is a commit of its own: the membership it names is the one it sees.
    if (c.adds.length > 0 || c.removes.length > 0) return 'a roster change together with an add or a remove';
    if (c.newRoster.length === 0) return 'a roster with no admin';
    for (const a of c.newRoster) if (!c.members.some((m) => m.identityKey.equals(a))) return 'a roster naming someone who is not a member';
  }
  return undefined;
}

export function uniqueSorted(keys: readonly Uint8Array[]): Buffer[] {
  const sorted = keys.map((k) => Buffer.from(k)).sort(Buffer.compare);
  return sorted.filter((k, i) => i === 0 || !k.equals(sorted[i - 1]!));
}
