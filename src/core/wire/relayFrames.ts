// The relay → client half of the wire (docs/protocol.md §1.3-§1.7): one encoder per frame the
// relay sends, producing the bytes and field order the relay has always sent, and one parser
// for the client, with the field rules of the client in one place.
//
// The parser accepts exactly what the client (src/core/client/relayClient.ts, before this
// module) accepted: a relay that sends a field the client does not need in a wrong form is
// tolerated as before (the field is dropped or defaulted), a frame the client used to ignore
// is a failure with `fatal: false`, and a frame that made the client drop the connection
// (`protocol_error`) is a failure with `fatal: true`. Unknown fields are ignored (§1.1).
import { encodeFrame } from './codec';
import {
  LIMITS,
  type AckFrame, type ErrorCode, type JoinedFrame, type LeftFrame, type PageFrame, type PresenceMember,
  type RekeyFrame, type RelayFrame, type SyncedFrame, type WelcomeFrame,
} from './frames';
import { isB64uForm, isWireInt } from './validate';

// ---- encoders ---------------------------------------------------------------------------
//
// Each builds an object literal in the frame's field order (docs/protocol.md examples; `rid`
// second, except in `welcome`, where it has always come last) and lets JSON.stringify drop an
// absent `rid` (JSON.stringify leaves out undefined values).

/** §1.3. */
export function encodeWelcome(f: WelcomeFrame): string {
  return encodeFrame({ t: 'welcome', v: f.v, agent: f.agent, maxFrame: f.maxFrame, time: f.time, challenge: f.challenge, rid: f.rid });
}

/** §1.3. */
export function encodePong(rid: number | undefined): string {
  return encodeFrame({ t: 'pong', rid });
}

/** §1.4. */
export function encodeJoined(f: JoinedFrame): string {
  return encodeFrame({ t: 'joined', rid: f.rid, room: f.room, head: f.head, sid: f.sid, epoch: f.epoch });
}

/** §1.4. */
export function encodeSynced(f: SyncedFrame): string {
  return encodeFrame({ t: 'synced', rid: f.rid, room: f.room, head: f.head, from: f.from });
}

/** §1.4. */
export function encodeLeft(f: LeftFrame): string {
  return encodeFrame({ t: 'left', rid: f.rid, room: f.room });
}

/**
 * §1.5 a stored message. Fan-out encodes it once per room and writes the same bytes to every
 * member; catch-up and history once per message read.
 */
export function encodeStoredMsg(room: string, seq: number, ts: number, id: string, body: string, epoch?: number): string {
  // §3.6: a private room's commit is forwarded with the epoch it starts (left out otherwise).
  return encodeFrame({ t: 'msg', room, seq, ts, id, body, epoch });
}

/** §1.5 an ephemeral message: no seq, no ts. */
export function encodeEphemeralMsg(room: string, id: string, body: string): string {
  return encodeFrame({ t: 'msg', room, id, body, eph: true });
}

/** §1.5: a stored message's ack carries its seq and ts; an ephemeral one's neither. */
export function encodeAck(f: AckFrame): string {
  return f.seq === undefined
    ? encodeFrame({ t: 'ack', rid: f.rid, room: f.room, id: f.id })
    : encodeFrame({ t: 'ack', rid: f.rid, room: f.room, id: f.id, seq: f.seq, ts: f.ts, epoch: f.epoch });
}

/** §1.6. */
export function encodePage(f: PageFrame): string {
  return encodeFrame({ t: 'page', rid: f.rid, room: f.room, from: f.from, to: f.to, more: f.more });
}

/** §1.7. */
export function encodeError(rid: number | undefined, code: ErrorCode, message: string): string {
  return encodeFrame({ t: 'error', rid, code, message });
}

/** §3.3: `epoch` is the relay's epoch, `seq` the seq of the commit that ended the sender's. */
export function encodeStaleEpoch(rid: number | undefined, message: string, epoch: number, seq: number): string {
  return encodeFrame({ t: 'error', rid, code: 'stale_epoch', message, epoch, seq });
}

/** §3.6. */
export function encodeResetOk(rid: number | undefined): string {
  return encodeFrame({ t: 'reset_ok', rid });
}

/** §3.6. */
export function encodeRekey(f: RekeyFrame): string {
  return encodeFrame({ t: 'rekey', room: f.room, epoch: f.epoch, seq: f.seq });
}

/** §1.7. */
export function encodeBye(reason: string): string {
  return encodeFrame({ t: 'bye', reason });
}

/**
 * §1.4 presence: `members` cut at LIMITS.maxPresenceMembers entries, or earlier where the line
 * would exceed `maxFrame`; `online` is the real count. Room ids, sids and tags are b64u (the
 * relay checked the tag's form, it chose the sid), so they need no escaping and string length
 * is byte length: the line is built by hand, measured as it grows.
 */
export function encodePresence(room: string, online: number, members: Iterable<PresenceMember>, maxFrame: number): string {
  const head = `{"t":"presence","room":"${room}","online":${online},"members":[`;
  const tail = ']}\n';
  let body = '';
  let count = 0;
  for (const member of members) {
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

/** Any relay frame as its line (the tests' and tools' entry; the relay calls the encoders above). */
export function encodeRelayFrame(frame: RelayFrame, maxFrame: number = LIMITS.maxFrame): string {
  switch (frame.t) {
    case 'welcome': return encodeWelcome(frame);
    case 'pong': return encodePong(frame.rid);
    case 'joined': return encodeJoined(frame);
    case 'synced': return encodeSynced(frame);
    case 'presence': return encodePresence(frame.room, frame.online, frame.members, maxFrame);
    case 'left': return encodeLeft(frame);
    case 'msg':
      return frame.eph === true
        ? encodeEphemeralMsg(frame.room, frame.id, frame.body)
        : encodeStoredMsg(frame.room, frame.seq, frame.ts, frame.id, frame.body, frame.epoch);
    case 'ack': return encodeAck(frame);
    case 'page': return encodePage(frame);
    case 'error':
      return frame.epoch !== undefined && frame.seq !== undefined
        ? encodeStaleEpoch(frame.rid, frame.message, frame.epoch, frame.seq)
        : encodeError(frame.rid, frame.code, frame.message);
    case 'bye': return encodeBye(frame.reason);
    case 'reset_ok': return encodeResetOk(frame.rid);
    case 'rekey': return encodeRekey(frame);
  }
}

// ---- what a client receives --------------------------------------------------------------
//
// Fields the client needs are required; fields it does without are optional here, because a
// relay that sends them malformed was tolerated and still is (the parser leaves them out).

/** §1.3: `v` is any version number (the client decides which it speaks); `challenge` 43 b64u chars. */
export interface ReceivedWelcome {
  t: 'welcome'; v: number; challenge: string;
  /** Left out unless a string. */
  agent?: string;
  /** Left out unless a positive integer (the client then assumes LIMITS.maxFrame). */
  maxFrame?: number;
  /** Left out unless a non-negative integer. */
  time?: number;
  rid?: number;
}
export interface ReceivedPong { t: 'pong'; rid?: number }
/** §3.6: `epoch` (a private room's current epoch at the relay) left out unless a non-negative integer. */
export interface ReceivedJoined { t: 'joined'; rid?: number; room: string; head: number; sid?: string; epoch?: number }
export interface ReceivedSynced { t: 'synced'; rid?: number; room: string; head: number; from: number }
export interface ReceivedPresence {
  t: 'presence'; room: string;
  /** Left out unless a non-negative integer (the client then counts `members`). */
  online?: number;
  /** Entries that are not an object with a string `sid` are left out; a non-string tag too. */
  members: PresenceMember[];
}
export interface ReceivedLeft { t: 'left'; rid?: number; room?: string }
/** §3.6: `epoch` left out unless a non-negative integer (a commit without it is refused by the client). */
export interface ReceivedStoredMsg { t: 'msg'; room: string; seq: number; ts?: number; id: string; body: string; eph?: undefined; epoch?: number }
export interface ReceivedEphemeralMsg { t: 'msg'; room: string; id: string; body: string; eph: true }
/** An ack with a seq is a stored message's (room, id and seq checked); without, an ephemeral one's. */
export interface ReceivedStoredAck { t: 'ack'; rid?: number; room: string; id: string; seq: number; ts?: number; epoch?: number }
export interface ReceivedEphemeralAck { t: 'ack'; rid?: number; room?: string; id?: string; seq?: undefined }
/** §1.6: `from` is 0 unless a non-negative integer; `more` is true only when it is `true`. */
export interface ReceivedPage { t: 'page'; rid: number; room?: string; from: number; to?: number; more: boolean }
/** §1.7: `code` may be one this client does not know (isErrorCode); a non-string code is `internal`. */
/** §3.3: `epoch` and `seq` (of `stale_epoch`) each left out unless a non-negative integer. */
export interface ReceivedError { t: 'error'; rid?: number; code: string; message?: string; epoch?: number; seq?: number }
export interface ReceivedBye { t: 'bye'; reason?: string }
/** §3.6: answers a request, so it has a rid. */
export interface ReceivedResetOk { t: 'reset_ok'; rid: number }
/** §3.6: all three needed; a malformed one is a protocol error (reconnecting re-joins every room anyway). */
export interface ReceivedRekey { t: 'rekey'; room: string; epoch: number; seq: number }

export type ReceivedFrame =
  | ReceivedWelcome | ReceivedPong | ReceivedJoined | ReceivedSynced | ReceivedPresence | ReceivedLeft
  | ReceivedStoredMsg | ReceivedEphemeralMsg | ReceivedStoredAck | ReceivedEphemeralAck | ReceivedPage
  | ReceivedError | ReceivedBye | ReceivedResetOk | ReceivedRekey;

export type RelayFrameType = ReceivedFrame['t'];

/** Why a line from the relay is no usable frame. */
export interface RelayFrameFailure {
  ok: false;
  /** bad_frame: not JSON, or not an object with a string `t`; unknown_type; bad_field: see `field`. */
  code: 'bad_frame' | 'unknown_type' | 'bad_field';
  /**
   * true: the relay is broken or hostile, and the client drops the connection (protocol error;
   * for `welcome`: a relay too old to prove membership to, §1.3). false: the frame is ignored.
   */
  fatal: boolean;
  /** The frame's `t`, when it had a string one. */
  t?: string;
  /** The field at fault (bad_field). */
  field?: string;
  /** The frame's `rid` when it had a valid one (an ignored `joined` still answers its request). */
  rid?: number;
  /** For the debug log; never contains what the relay sent. */
  message: string;
}

export type RelayParseResult = { ok: true; frame: ReceivedFrame } | RelayFrameFailure;

/** §1.3, §1.9: a challenge is b64u of 32 bytes, 43 chars. */
export const CHALLENGE_LENGTH = 43;

const KNOWN_RELAY_TYPES: ReadonlySet<string> = new Set<RelayFrameType>([
  'welcome', 'pong', 'joined', 'synced', 'presence', 'left', 'msg', 'ack', 'page', 'error', 'bye', 'reset_ok', 'rekey',
]);

/**
 * Parses one line from the relay (already split and decoded by FrameDecoder). Never throws.
 * Whether a frame is expected now (before `welcome`, for a request in flight) is the client's
 * business; this checks only its form.
 */
export function parseRelayFrame(line: string): RelayParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, code: 'bad_frame', fatal: true, message: 'a line that is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_frame', fatal: true, message: 'a frame without a type' };
  }
  const f = value as Record<string, unknown>;
  const t = f.t;
  if (typeof t !== 'string') return { ok: false, code: 'bad_frame', fatal: true, message: 'a frame without a type' };
  // A malformed rid is never one of the client's requests: treated as absent, as before.
  const rid = isWireInt(f.rid) ? f.rid : undefined;
  if (!KNOWN_RELAY_TYPES.has(t)) return failure('unknown_type', false, t, undefined, rid, 'unknown frame type');
  switch (t as RelayFrameType) {
    case 'welcome': {
      // §1.3: without a version number and a challenge the relay cannot check join proofs.
      if (!isWireInt(f.v)) return failure('bad_field', true, t, 'v', rid, 'welcome without a protocol version');
      if (!isChallenge(f.challenge)) return failure('bad_field', true, t, 'challenge', rid, 'welcome without a challenge');
      const frame: ReceivedWelcome = { t: 'welcome', v: f.v, challenge: f.challenge };
      if (typeof f.agent === 'string') frame.agent = f.agent;
      if (isWireInt(f.maxFrame) && f.maxFrame > 0) frame.maxFrame = f.maxFrame;
      if (isWireInt(f.time)) frame.time = f.time;
      if (rid !== undefined) frame.rid = rid;
      return { ok: true, frame };
    }
    case 'pong':
      return { ok: true, frame: rid === undefined ? { t: 'pong' } : { t: 'pong', rid } };
    case 'joined': {
      if (typeof f.room !== 'string') return failure('bad_field', false, t, 'room', rid, 'joined without a room');
      if (!isWireInt(f.head)) return failure('bad_field', false, t, 'head', rid, 'joined without a head');
      const frame: ReceivedJoined = { t: 'joined', room: f.room, head: f.head };
      if (rid !== undefined) frame.rid = rid;
      if (typeof f.sid === 'string') frame.sid = f.sid;
      if (isWireInt(f.epoch)) frame.epoch = f.epoch;
      return { ok: true, frame };
    }
    case 'synced': {
      if (typeof f.room !== 'string') return failure('bad_field', false, t, 'room', rid, 'synced without a room');
      if (!isWireInt(f.head)) return failure('bad_field', false, t, 'head', rid, 'synced without a head');
      if (!isWireInt(f.from)) return failure('bad_field', false, t, 'from', rid, 'synced without a from');
      const frame: ReceivedSynced = { t: 'synced', room: f.room, head: f.head, from: f.from };
      if (rid !== undefined) frame.rid = rid;
      return { ok: true, frame };
    }
    case 'presence': {
      if (typeof f.room !== 'string') return failure('bad_field', false, t, 'room', rid, 'presence without a room');
      if (!Array.isArray(f.members)) return failure('bad_field', false, t, 'members', rid, 'presence without members');
      const members: PresenceMember[] = [];
      for (const m of f.members as unknown[]) {
        if (typeof m !== 'object' || m === null) continue;
        const entry = m as Record<string, unknown>;
        if (typeof entry.sid !== 'string') continue;
        members.push(typeof entry.tag === 'string' ? { sid: entry.sid, tag: entry.tag } : { sid: entry.sid });
      }
      const frame: ReceivedPresence = { t: 'presence', room: f.room, members };
      if (isWireInt(f.online)) frame.online = f.online;
      return { ok: true, frame };
    }
    case 'left': {
      const frame: ReceivedLeft = { t: 'left' };
      if (rid !== undefined) frame.rid = rid;
      if (typeof f.room === 'string') frame.room = f.room;
      return { ok: true, frame };
    }
    case 'msg': {
      if (typeof f.room !== 'string') return failure('bad_field', true, t, 'room', rid, 'msg without room, id or body');
      if (typeof f.id !== 'string') return failure('bad_field', true, t, 'id', rid, 'msg without room, id or body');
      if (typeof f.body !== 'string') return failure('bad_field', true, t, 'body', rid, 'msg without room, id or body');
      if (f.eph === true) return { ok: true, frame: { t: 'msg', room: f.room, id: f.id, body: f.body, eph: true } };
      if (!isWireInt(f.seq)) return failure('bad_field', true, t, 'seq', rid, 'stored msg without seq');
      const frame: ReceivedStoredMsg = { t: 'msg', room: f.room, seq: f.seq, id: f.id, body: f.body };
      if (isWireInt(f.ts)) frame.ts = f.ts;
      if (isWireInt(f.epoch)) frame.epoch = f.epoch;
      return { ok: true, frame };
    }
    case 'ack': {
      // §1.5: an ack without seq answers an ephemeral send; nothing else of it is needed.
      if (f.seq === undefined) {
        const frame: ReceivedEphemeralAck = { t: 'ack' };
        if (rid !== undefined) frame.rid = rid;
        if (typeof f.room === 'string') frame.room = f.room;
        if (typeof f.id === 'string') frame.id = f.id;
        return { ok: true, frame };
      }
      if (typeof f.room !== 'string') return failure('bad_field', true, t, 'room', rid, 'ack without room, id or seq');
      if (typeof f.id !== 'string') return failure('bad_field', true, t, 'id', rid, 'ack without room, id or seq');
      if (!isWireInt(f.seq)) return failure('bad_field', true, t, 'seq', rid, 'ack without room, id or seq');
      const frame: ReceivedStoredAck = { t: 'ack', room: f.room, id: f.id, seq: f.seq };
      if (rid !== undefined) frame.rid = rid;
      if (isWireInt(f.ts)) frame.ts = f.ts;
      if (isWireInt(f.epoch)) frame.epoch = f.epoch;
      return { ok: true, frame };
    }
    case 'page': {
      // A page answers a request: without a rid there is nothing it could answer.
      if (rid === undefined) return failure('bad_field', false, t, 'rid', undefined, 'page without a rid');
      const frame: ReceivedPage = { t: 'page', rid, from: isWireInt(f.from) ? f.from : 0, more: f.more === true };
      if (typeof f.room === 'string') frame.room = f.room;
      if (isWireInt(f.to)) frame.to = f.to;
      return { ok: true, frame };
    }
    case 'error': {
      const frame: ReceivedError = { t: 'error', code: typeof f.code === 'string' ? f.code : 'internal' };
      if (rid !== undefined) frame.rid = rid;
      if (typeof f.message === 'string') frame.message = f.message;
      if (isWireInt(f.epoch)) frame.epoch = f.epoch;
      if (isWireInt(f.seq)) frame.seq = f.seq;
      return { ok: true, frame };
    }
    case 'bye': {
      const frame: ReceivedBye = { t: 'bye' };
      if (typeof f.reason === 'string') frame.reason = f.reason;
      return { ok: true, frame };
    }
    case 'reset_ok':
      // Like a page, it answers a request: without a rid there is nothing it could answer.
      if (rid === undefined) return failure('bad_field', false, t, 'rid', undefined, 'reset_ok without a rid');
      return { ok: true, frame: { t: 'reset_ok', rid } };
    case 'rekey': {
      // §3.6: the relay has ended this connection's membership; a rekey we cannot read is a
      // protocol error, and the reconnect re-joins every room with the current proof.
      if (typeof f.room !== 'string') return failure('bad_field', true, t, 'room', rid, 'rekey without room, epoch or seq');
      if (!isWireInt(f.epoch)) return failure('bad_field', true, t, 'epoch', rid, 'rekey without room, epoch or seq');
      if (!isWireInt(f.seq)) return failure('bad_field', true, t, 'seq', rid, 'rekey without room, epoch or seq');
      return { ok: true, frame: { t: 'rekey', room: f.room, epoch: f.epoch, seq: f.seq } };
    }
  }
}

/** §1.3, §1.9: b64u of 32 bytes. */
export function isChallenge(c: unknown): c is string {
  return isB64uForm(c, CHALLENGE_LENGTH) && c.length === CHALLENGE_LENGTH;
}

function failure(
  code: RelayFrameFailure['code'], fatal: boolean, t: string, field: string | undefined, rid: number | undefined, message: string,
): RelayFrameFailure {
  const r: RelayFrameFailure = { ok: false, code, fatal, t, message };
  if (field !== undefined) r.field = field;
  if (rid !== undefined) r.rid = rid;
  return r;
}
