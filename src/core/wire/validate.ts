// Turns one line from a client into a typed ClientFrame, or into the §1.7 error it deserves.
// Every field rule of docs/protocol.md §1.1-§1.7 lives here, so the relay's handlers receive only
// well-formed frames. The relay checks form and length only, never content (§1.2).
import { MAX_JSON_DEPTH, jsonDepthExceeds } from './codec';
import { LIMITS, type ClientFrame, type ErrorCode, type SendFrame } from './frames';

export interface ParseFailure {
  ok: false;
  code: ErrorCode;
  message: string;
  /** The frame's `t` when it had a string one (the relay needs it before `hello`). */
  t?: string;
  /** The frame's `rid`, when it had a valid one to echo. */
  rid?: number;
}

export type ParseResult = { ok: true; frame: ClientFrame } | ParseFailure;

/**
 * Form of `room` and `id` (§1.2): b64u of 16 bytes, exactly 22 chars. This file is the one home
 * of the id format: everything that checks a room id or a message id uses isIdForm.
 */
export const ID_LENGTH = 22;

/** How the id form is said in an error message. */
export const ID_FORM = `${ID_LENGTH} chars of [A-Za-z0-9_-]`;

const B64U_CHAR = /^[A-Za-z0-9_-]+$/;

/** §1.2: only [A-Za-z0-9_-], at least 1 char, length not 4k+1, at most `maxLen`. */
export function isB64uForm(s: unknown, maxLen: number): s is string {
  return (
    typeof s === 'string' &&
    s.length >= 1 &&
    s.length <= maxLen &&
    s.length % 4 !== 1 &&
    B64U_CHAR.test(s)
  );
}

/** §1.2: a room or message id: 22 chars of [A-Za-z0-9_-]. */
export function isIdForm(s: unknown): s is string {
  return typeof s === 'string' && s.length === ID_LENGTH && B64U_CHAR.test(s);
}

/** All integers on the wire are non-negative safe integers (notation, and §1.1 for rid). */
export function isWireInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

const KNOWN_TYPES = new Set(['hello', 'ping', 'join', 'leave', 'send', 'history', 'admin', 'reset']);

/** §1.9, §3.6: an Ed25519 public key as b64u, 43 chars. */
export function isKeyForm(s: unknown): s is string {
  return isB64uForm(s, 43) && s.length === 43;
}

/** §1.9, §3.6: an Ed25519 signature as b64u, 86 chars. */
export function isSignatureForm(s: unknown): s is string {
  return isB64uForm(s, 86) && s.length === 86;
}

/** Max length of an `agent` string the relay accepts (it only logs it). */
export const MAX_AGENT_LENGTH = 256;

/**
 * Parses one line (already split and UTF-8-decoded by FrameDecoder) under `maxFrame`, which
 * bounds `body` to `maxFrame - 512` chars (§1.2).
 */
export function parseClientFrame(line: string, maxFrame: number = LIMITS.maxFrame): ParseResult {
  // §1.1: a deeply nested line would cost far more to parse than its length.
  if (jsonDepthExceeds(line, MAX_JSON_DEPTH)) return fail('bad_frame', `nested deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return fail('bad_frame', 'not JSON');
  }
  // §1.1: a JSON object with a string `t`, else bad_frame.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('bad_frame', 'not a JSON object');
  }
  const f = value as Record<string, unknown>;
  const t = f.t;
  if (typeof t !== 'string') return fail('bad_frame', 'missing string field "t"');

  // §1.1: a present rid that is not a non-negative safe integer is bad_request, sent without rid.
  if (f.rid !== undefined && !isWireInt(f.rid)) {
    return { ok: false, code: 'bad_request', message: '"rid" must be a non-negative integer', t };
  }
  const rid = f.rid as number | undefined;
  const bad = (message: string): ParseResult => withRid({ ok: false, code: 'bad_request', message, t }, rid);

  if (!KNOWN_TYPES.has(t)) {
    return withRid({ ok: false, code: 'unknown_type', message: `unknown frame type "${t.slice(0, 32)}"`, t }, rid);
  }

  switch (t) {
    case 'hello': {
      // §1.3: a missing v, or one we do not speak, is unsupported_version (checked by the relay
      // against PROTOCOL_VERSION); here only its type.
      if (f.v !== undefined && !isWireInt(f.v)) {
        return withRid({ ok: false, code: 'unsupported_version', message: '"v" must be a protocol version number', t }, rid);
      }
      if (f.agent !== undefined && (typeof f.agent !== 'string' || f.agent.length > MAX_AGENT_LENGTH)) {
        return bad(`"agent" must be a string of at most ${MAX_AGENT_LENGTH} chars`);
      }
      return ok(withOptional({ t: 'hello', v: f.v as number }, { rid, agent: f.agent as string | undefined }));
    }
    case 'ping':
      return ok(withOptional({ t: 'ping' }, { rid }));
    case 'join': {
      if (!isIdForm(f.room)) return bad(`"room" must be ${ID_FORM}`);
      if (f.since !== undefined && !isWireInt(f.since)) return bad('"since" must be a non-negative integer');
      if (f.limit !== undefined && !isWireInt(f.limit)) return bad('"limit" must be a non-negative integer');
      if (f.tag !== undefined && !isB64uForm(f.tag, LIMITS.maxTag)) {
        return bad(`"tag" must be base64url of at most ${LIMITS.maxTag} chars`);
      }
      // §1.9: the proof's two fields come together; their form only (the relay verifies them).
      if ((f.auth === undefined) !== (f.proof === undefined)) return bad('"auth" and "proof" come together');
      if (f.auth !== undefined && !isKeyForm(f.auth)) return bad('"auth" must be base64url of 32 bytes');
      if (f.proof !== undefined && !isSignatureForm(f.proof)) return bad('"proof" must be base64url of 64 bytes');
      return ok(withOptional({ t: 'join', room: f.room }, {
        rid, since: f.since as number | undefined, limit: f.limit as number | undefined, tag: f.tag as string | undefined,
        auth: f.auth as string | undefined, proof: f.proof as string | undefined,
      }));
    }
    case 'leave':
      if (!isIdForm(f.room)) return bad(`"room" must be ${ID_FORM}`);
      return ok(withOptional({ t: 'leave', room: f.room }, { rid }));
    case 'send': {
      if (!isIdForm(f.room)) return bad(`"room" must be ${ID_FORM}`);
      if (!isIdForm(f.id)) return bad(`"id" must be ${ID_FORM}`);
      const maxBody = maxFrame - LIMITS.bodyOverhead;
      if (!isB64uForm(f.body, maxBody)) return bad(`"body" must be base64url of at most ${maxBody} chars`);
      if (f.eph !== undefined && typeof f.eph !== 'boolean') return bad('"eph" must be a boolean');
      // §3.6: a commit's rotation: epoch, next and rot come together, and never ephemeral.
      const rotation = [f.epoch, f.next, f.rot].filter((v) => v !== undefined).length;
      if (rotation !== 0 && rotation !== 3) return bad('"epoch", "next" and "rot" come together');
      if (rotation === 3) {
        if (!isWireInt(f.epoch)) return bad('"epoch" must be a non-negative integer');
        if (!isKeyForm(f.next)) return bad('"next" must be base64url of 32 bytes');
        if (!isSignatureForm(f.rot)) return bad('"rot" must be base64url of 64 bytes');
        if (f.eph === true) return bad('a commit cannot be ephemeral');
      }
      const frame: SendFrame = withOptional({ t: 'send' as const, room: f.room, id: f.id, body: f.body }, { rid });
      if (f.eph === true) frame.eph = true;
      if (rotation === 3) {
        frame.epoch = f.epoch as number;
        frame.next = f.next as string;
        frame.rot = f.rot as string;
      }
      return ok(frame);
    }
    case 'history': {
      if (!isIdForm(f.room)) return bad(`"room" must be ${ID_FORM}`);
      if (f.before !== undefined && !isWireInt(f.before)) return bad('"before" must be a non-negative integer');
      if (f.limit !== undefined && !isWireInt(f.limit)) return bad('"limit" must be a non-negative integer');
      return ok(withOptional({ t: 'history', room: f.room }, {
        rid, before: f.before as number | undefined, limit: f.limit as number | undefined,
      }));
    }
    case 'admin': {
      if (f.op !== 'shutdown') return bad('"op" must be "shutdown"');
      if (f.token !== undefined && typeof f.token !== 'string') return bad('"token" must be a string');
      return ok(withOptional({ t: 'admin', op: 'shutdown' }, { rid, token: f.token as string | undefined }));
    }
    case 'reset': {
      // §3.6: the form only; the relay checks that `room` is the hash of `owner` and the signature.
      if (!isIdForm(f.room)) return bad('"room" must be 22 chars of [A-Za-z0-9_-]');
      if (!isKeyForm(f.owner)) return bad('"owner" must be base64url of 32 bytes');
      if (!isWireInt(f.epoch)) return bad('"epoch" must be a non-negative integer');
      if (!isKeyForm(f.auth)) return bad('"auth" must be base64url of 32 bytes');
      if (f.refuse !== undefined && !isWireInt(f.refuse)) return bad('"refuse" must be a non-negative integer');
      if (!isSignatureForm(f.sig)) return bad('"sig" must be base64url of 64 bytes');
      return ok(withOptional({ t: 'reset' as const, room: f.room, owner: f.owner, epoch: f.epoch, auth: f.auth, sig: f.sig }, { rid, refuse: f.refuse as number | undefined }));
    }
    default:
      // Unreachable: KNOWN_TYPES lists exactly the cases above.
      return withRid({ ok: false, code: 'unknown_type', message: 'unknown frame type', t }, rid);
  }
}

function ok(frame: ClientFrame): ParseResult {
  return { ok: true, frame };
}

function fail(code: ErrorCode, message: string): ParseResult {
  return { ok: false, code, message };
}

function withRid(r: ParseFailure, rid: number | undefined): ParseFailure {
  if (rid !== undefined) r.rid = rid;
  return r;
}

/** Copies only the optional fields that are present, so frames carry no `undefined` keys. */
function withOptional<T extends object, O extends Record<string, unknown>>(base: T, optional: O): T & Partial<O> {
  const out = base as T & Partial<O>;
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
