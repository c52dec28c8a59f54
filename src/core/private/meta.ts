// What a member keeps of a private room besides the MLS state (docs/protocol.md §3.4, §3.8): the
// last seq applied, the names members go by, the invites it knows and how often each was used,
// who was removed and when, and (for its creator) the owner key. Saved together with the MLS
// state as one secret (`smc.mls.<room>`), since invite secrets and the owner seed are secrets.
import { decodeB64u, encodeB64u } from '../crypto/b64u';

export interface InviteRecord {
  secret: string;
  uses: number;
  used: number;
  expires: number;
  /** The seq of the invite message: removals after it refuse that identity (§3.4 step 3). */
  seq: number;
  revoked: boolean;
}

export interface PrivateMeta {
  /** Every message with a seq up to this one is applied. */
  applied: number;
  /** Hex identity key -> the display name it last used (a claim, §2.3). */
  names: Record<string, string>;
  invites: Record<string, InviteRecord>;
  /** Hex identity key -> the seq of the commit that removed it. */
  removed: Record<string, number>;
  /** Unix ms of this member's last commit of any kind (§3.7). */
  lastCommitAt: number;
  /** Unix ms this member last was in the room (§3.7: an update after a long absence). */
  lastSeenAt: number;
  /** The creator's owner seed (b64u, §3.6), and whether the relay has the room's reset yet. */
  ownerSeed?: string;
  resetDone?: boolean;
  /** Set when a commit removed this member: by whom (fingerprint, name). */
  removedBy?: { fingerprint: string; name?: string };
  /** Lobby join requests already answered (ids), so that history does not answer them twice. */
  answered: string[];
  /**
   * §3.6 "Repair": seqs, in this member's epoch, of messages the relay forwarded as the commit
   * beginning the next epoch and that this member refused (kept across a restart, so that the
   * owner's client repairs a room it left blocked). Cleared when the epoch changes.
   */
  refusedCommits?: number[];
  /**
   * §3.3, §3.8: the wire id of our pending commit, saved with it, so that a client killed
   * between the save and the send sends it again after a restart under the same id (the relay
   * dedups by id, §1.5). Only read while the restored state holds a pending commit.
   */
  pendingCommitId?: string;
}

export function freshMeta(now: number): PrivateMeta {
  return { applied: 0, names: {}, invites: {}, removed: {}, lastCommitAt: now, lastSeenAt: now, answered: [] };
}

/** The one secret of a private room: the MLS state (export()) and the meta. */
export interface SavedPrivateRoom {
  state: Uint8Array;
  meta: PrivateMeta;
}

export function encodeSaved(saved: SavedPrivateRoom): string {
  return JSON.stringify({ v: 1, state: encodeB64u(saved.state), meta: saved.meta });
}

export function decodeSaved(text: string): SavedPrivateRoom {
  const value = JSON.parse(text) as { v?: unknown; state?: unknown; meta?: unknown };
  if (value.v !== 1 || typeof value.state !== 'string' || typeof value.meta !== 'object' || value.meta === null) {
    throw new Error('the saved private room is damaged');
  }
  const meta = value.meta as PrivateMeta;
  if (typeof meta.applied !== 'number' || typeof meta.names !== 'object' || typeof meta.invites !== 'object') {
    throw new Error('the saved private room is damaged');
  }
  meta.answered ??= [];
  meta.removed ??= {};
  return { state: new Uint8Array(decodeB64u(value.state)), meta };
}
