// One room as the relay sees it (PROTOCOL.md §1.4): who is in it, each member's sid and
// presence tag, and the fan-out of frames to them. Nothing else is kept per room in memory:
// messages live in the store.
import { randomBytes } from 'node:crypto';
import { LIMITS } from '../core/wire/frames';

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
   * Frames held back while a join's catch-up is read (§1.4: between `joined` and `synced`
   * only stored messages with seq ≤ head); null when the member is in sync.
   */
  pending: (string | Buffer)[] | null;
  /** Bytes in `pending`. */
  pendingBytes: number;
  /** The head announced in the last `joined`: catch-up covers seq ≤ joinHead. */
  joinHead: number;
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
    const member: Member = { peer, sid, tag: undefined, pending: null, pendingBytes: 0, joinHead: 0 };
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
   * Sends one encoded frame to every member but `except`. A member still catching up gets it
   * queued, unless it is a stored message its catch-up already covers (`seq ≤ joinHead`).
   */
  deliver(frame: string | Buffer, except: RoomPeer | undefined, seq?: number): void {
    for (const member of this.members.values()) {
      if (member.peer === except) continue;
      if (member.pending) {
        if (seq !== undefined && seq <= member.joinHead) continue;
        member.pending.push(frame);
        member.pendingBytes += frame.length;
        // Held-back output counts toward the output bound like queued output does (§1.7).
        if (member.pendingBytes > member.peer.outputLimit) member.peer.abort('slow_reader');
      } else member.peer.write(frame);
    }
  }

  /**
   * The §1.4 presence frame: `online` counts everyone; `members` is cut at 256 entries, or
   * earlier where the line would exceed `maxFrame`. sids and tags are ASCII (b64u), so string
   * length is byte length.
   */
  presenceFrame(maxFrame: number): string {
    const head = `{"t":"presence","room":"${this.id}","online":${this.members.size},"members":[`;
    const tail = ']}\n';
    let body = '';
    let count = 0;
    for (const member of this.members.values()) {
      if (count === LIMITS.maxPresenceMembers) break;
      const entry = member.tag === undefined
        ? `{"sid":"${member.sid}"}`
        : `{"sid":"${member.sid}","tag":"${member.tag}"}`;
      const next = count === 0 ? entry : ',' + entry;
      if (head.length + body.length + next.length + tail.length > maxFrame) break;
      body += next;
      count++;
    }
    return head + body + tail;
  }
}
