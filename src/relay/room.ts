// One room as the relay sees it (docs/protocol.md §1.4): who is in it, each member's sid and
// presence tag, and the fan-out of frames to them. Nothing else is kept per room in memory:
// messages live in the store.
import { randomBytes } from 'node:crypto';
import { encodePresence } from '../core/wire/relayFrames';

/** What a room needs from a connection: somewhere to write frames. */
export interface RoomPeer {
  write(data: string | Buffer): void;
  /** The §1.7 output bound, which also bounds frames held back during a catch-up. */
  readonly outputLimit: number;
  /** Closes the connection without a frame. */
  abort(reason: string): void;
}

export interface Member {
  readonly peer: RoomPeer;
  /** §1.4: random, unique per connection and room, so two rooms cannot link one connection. */
  readonly sid: string;
  tag: string | undefined;
  /**
   * Frames held back while a reply to this member is streamed (a join's catch-up, §1.4: between
   * `joined` and `synced` only stored messages with seq ≤ head; a history page, §1.6); null
   * when the member gets frames as they come.
   */
  held: (string | Buffer)[] | null;
  /** Bytes in `held`. */
  heldBytes: number;
  /** The head announced in the last `joined`: the catch-up covers seq ≤ catchUpHead. */
  catchUpHead: number;
}

/**
 * From now on, frames for `member` are held back (holdBack) until releaseHeld; stored messages
 * with seq ≤ `coveredTo` are not even held, since the reply being streamed carries them.
 */
export function holdBack(member: Member, coveredTo: number): void {
  member.held = [];
  member.heldBytes = 0;
  member.catchUpHead = coveredTo;
}

/** Writes what was held back for `member`, in order, and lets later frames through. */
export function releaseHeld(member: Member): void {
  const held = member.held;
  if (held === null) return;
  member.held = null;
  member.heldBytes = 0;
  for (const data of held) member.peer.write(data);
}

export class Room {
  readonly members = new Map<RoomPeer, Member>();
  private readonly sids = new Set<string>();

  constructor(readonly id: string) {}

  get size(): number {
    return this.members.size;
  }

  /** Adds a peer (or returns its existing entry: a join again keeps the sid, §1.4). */
  add(peer: RoomPeer): { member: Member; added: boolean } {
    const existing = this.members.get(peer);
    if (existing) return { member: existing, added: false };
    let sid: string;
    do sid = randomBytes(9).toString('base64url');
    while (this.sids.has(sid));
    const member: Member = { peer, sid, tag: undefined, held: null, heldBytes: 0, catchUpHead: 0 };
    this.sids.add(sid);
    this.members.set(peer, member);
    return { member, added: true };
  }

  remove(peer: RoomPeer): boolean {
    const member = this.members.get(peer);
    if (!member) return false;
    this.members.delete(peer);
    this.sids.delete(member.sid);
    return true;
  }

  /**
   * Writes one encoded frame to every member but `except`: the same bytes for all (encoded once
   * per room). A member whose frames are held back gets it held, unless it is a stored message
   * its catch-up already covers (`seq ≤ catchUpHead`).
   */
  fanOut(frame: string | Buffer, except: RoomPeer | undefined, seq?: number): void {
    for (const member of this.members.values()) {
      if (member.peer === except) continue;
      if (member.held) {
        if (seq !== undefined && seq <= member.catchUpHead) continue;
        member.held.push(frame);
        member.heldBytes += frame.length;
        // Held-back output counts toward the output bound like queued output does (§1.7).
        if (member.heldBytes > member.peer.outputLimit) member.peer.abort('slow_reader');
      } else member.peer.write(frame);
    }
  }

  /** The §1.4 presence frame of this room now (encodePresence cuts `members`). */
  presenceFrame(maxFrame: number): string {
    return encodePresence(this.id, this.members.size, this.members.values(), maxFrame);
  }
}
