// The relay → client frames (docs/protocol.md §1.3-§1.7), after mqtt-packet's tests: for every
// frame type the encoder gives the exact line the relay has always sent, the parser gives the
// frame back, and a mutated copy of each field (wrong type, out of range, missing) gets the
// answer the client has always given it: dropped or defaulted (a field the client does
// without), the frame ignored, or a protocol error (fatal).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ERROR_CODES, LIMITS, isErrorCode, isRetryable, type RelayFrame } from '../../src/core/wire/frames';
import {
  encodeAck, encodeBye, encodeEphemeralMsg, encodeError, encodePong, encodePresence, encodeRekey, encodeRelayFrame, encodeResetOk,
  encodeStaleEpoch, encodeStoredMsg, parseRelayFrame, type ReceivedFrame,
} from '../../src/core/wire/relayFrames';

const ROOM = 'AAAAAAAAAAAAAAAAAAAAAA';
const ID = 'BBBBBBBBBBBBBBBBBBBBBB';
const CHALLENGE = 'C'.repeat(43);

/** What the client does with a frame whose field was mutated. */
type Outcome =
  | 'fatal' // protocol error: the client drops the connection
  | 'ignored' // the frame is dropped, the connection stays
  | 'dropped' // the frame is used without the field
  | { becomes: unknown } // the frame is used with this value instead
  | { frame: ReceivedFrame }; // the frame is read as another one

type Kind = 'int' | 'string' | 'challenge' | 'bool' | 'members' | 'rid';

interface FieldRule {
  field: string;
  kind: Kind;
  outcome: Outcome;
  /** The field a failure names, when the mutation breaks another one (default: `field`). */
  reports?: string;
  /** The outcome when the field is missing, where it differs. */
  whenMissing?: Outcome;
}

interface FrameCase {
  name: string;
  frame: RelayFrame;
  /** The exact line the relay sent before the encoders existed (server.ts, connection.ts). */
  line: string;
  /** What the parser gives back, when it is not `frame` itself. */
  parsed?: ReceivedFrame;
  fields: FieldRule[];
}

const MISSING = Symbol('missing');

/** Mutations of a field of each kind: wrong type, out of range, missing. */
function mutations(kind: Kind): unknown[] {
  switch (kind) {
    case 'int': case 'rid': return ['7', -1, 1.5, 2 ** 53, null, true, MISSING];
    case 'string': return [7, null, {}, [], true, MISSING];
    case 'challenge': return [7, null, 'C'.repeat(42), 'C'.repeat(44), 'C'.repeat(42) + '=', MISSING];
    case 'bool': return ['true', 1, null, MISSING];
    case 'members': return ['x', {}, null, 7, MISSING];
  }
}

const cases: FrameCase[] = [
  {
    name: 'welcome',
    frame: { t: 'welcome', rid: 5, v: 2, agent: 'smc-relay/0.1.0', maxFrame: 65536, time: 1764100000000, challenge: CHALLENGE },
    line: `{"t":"welcome","v":2,"agent":"smc-relay/0.1.0","maxFrame":65536,"time":1764100000000,"challenge":"${CHALLENGE}","rid":5}\n`,
    fields: [
      { field: 'v', kind: 'int', outcome: 'fatal' },
      { field: 'challenge', kind: 'challenge', outcome: 'fatal' },
      { field: 'agent', kind: 'string', outcome: 'dropped' },
      { field: 'maxFrame', kind: 'int', outcome: 'dropped' },
      { field: 'time', kind: 'int', outcome: 'dropped' },
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
    ],
  },
  {
    name: 'pong',
    frame: { t: 'pong', rid: 7 },
    line: '{"t":"pong","rid":7}\n',
    fields: [{ field: 'rid', kind: 'rid', outcome: 'dropped' }],
  },
  {
    name: 'joined',
    frame: { t: 'joined', rid: 1, room: ROOM, head: 42, sid: 's7' },
    line: `{"t":"joined","rid":1,"room":"${ROOM}","head":42,"sid":"s7"}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'room', kind: 'string', outcome: 'ignored' },
      { field: 'head', kind: 'int', outcome: 'ignored' },
      { field: 'sid', kind: 'string', outcome: 'dropped' },
    ],
  },
  {
    name: 'synced',
    frame: { t: 'synced', rid: 1, room: ROOM, head: 42, from: 1 },
    line: `{"t":"synced","rid":1,"room":"${ROOM}","head":42,"from":1}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'room', kind: 'string', outcome: 'ignored' },
      { field: 'head', kind: 'int', outcome: 'ignored' },
      { field: 'from', kind: 'int', outcome: 'ignored' },
    ],
  },
  {
    name: 'presence',
    frame: { t: 'presence', room: ROOM, online: 2, members: [{ sid: 's7', tag: 'dGFn' }, { sid: 's8' }] },
    line: `{"t":"presence","room":"${ROOM}","online":2,"members":[{"sid":"s7","tag":"dGFn"},{"sid":"s8"}]}\n`,
    fields: [
      { field: 'room', kind: 'string', outcome: 'ignored' },
      { field: 'online', kind: 'int', outcome: 'dropped' },
      { field: 'members', kind: 'members', outcome: 'ignored' },
    ],
  },
  {
    name: 'left',
    frame: { t: 'left', rid: 2, room: ROOM },
    line: `{"t":"left","rid":2,"room":"${ROOM}"}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'room', kind: 'string', outcome: 'dropped' },
    ],
  },
  {
    name: 'msg (stored)',
    frame: { t: 'msg', room: ROOM, seq: 43, ts: 1764100000123, id: ID, body: 'Ym9keQ' },
    line: `{"t":"msg","room":"${ROOM}","seq":43,"ts":1764100000123,"id":"${ID}","body":"Ym9keQ"}\n`,
    fields: [
      { field: 'room', kind: 'string', outcome: 'fatal' },
      { field: 'seq', kind: 'int', outcome: 'fatal' },
      { field: 'ts', kind: 'int', outcome: 'dropped' },
      { field: 'id', kind: 'string', outcome: 'fatal' },
      { field: 'body', kind: 'string', outcome: 'fatal' },
    ],
  },
  {
    name: 'msg (ephemeral)',
    frame: { t: 'msg', room: ROOM, id: ID, body: 'Ym9keQ', eph: true },
    line: `{"t":"msg","room":"${ROOM}","id":"${ID}","body":"Ym9keQ","eph":true}\n`,
    fields: [
      { field: 'room', kind: 'string', outcome: 'fatal' },
      { field: 'id', kind: 'string', outcome: 'fatal' },
      { field: 'body', kind: 'string', outcome: 'fatal' },
      // Not `true`: a stored message, which has no seq.
      { field: 'eph', kind: 'bool', outcome: 'fatal', reports: 'seq' },
    ],
  },
  {
    name: 'ack (stored)',
    frame: { t: 'ack', rid: 3, room: ROOM, id: ID, seq: 43, ts: 1764100000123 },
    line: `{"t":"ack","rid":3,"room":"${ROOM}","id":"${ID}","seq":43,"ts":1764100000123}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'room', kind: 'string', outcome: 'fatal' },
      { field: 'id', kind: 'string', outcome: 'fatal' },
      {
        field: 'seq', kind: 'int', outcome: 'fatal',
        // §1.5: an ack without seq answers an ephemeral send.
        whenMissing: { frame: { t: 'ack', rid: 3, room: ROOM, id: ID } },
      },
      { field: 'ts', kind: 'int', outcome: 'dropped' },
    ],
  },
  {
    name: 'msg (stored, a private room\'s commit, §3.6)',
    frame: { t: 'msg', room: ROOM, seq: 44, ts: 1764100000124, id: ID, body: 'Ym9keQ', epoch: 5 },
    line: `{"t":"msg","room":"${ROOM}","seq":44,"ts":1764100000124,"id":"${ID}","body":"Ym9keQ","epoch":5}\n`,
    fields: [
      { field: 'seq', kind: 'int', outcome: 'fatal' },
      // The client refuses a commit without its epoch (§3.6); the frame itself is read.
      { field: 'epoch', kind: 'int', outcome: 'dropped' },
    ],
  },
  {
    name: 'ack (stored, a private room\'s commit, §3.6)',
    frame: { t: 'ack', rid: 3, room: ROOM, id: ID, seq: 44, ts: 1764100000124, epoch: 5 },
    line: `{"t":"ack","rid":3,"room":"${ROOM}","id":"${ID}","seq":44,"ts":1764100000124,"epoch":5}\n`,
    fields: [
      { field: 'seq', kind: 'int', outcome: 'fatal', whenMissing: { frame: { t: 'ack', rid: 3, room: ROOM, id: ID } } },
      { field: 'epoch', kind: 'int', outcome: 'dropped' },
    ],
  },
  {
    name: 'ack (ephemeral)',
    frame: { t: 'ack', rid: 3, room: ROOM, id: ID },
    line: `{"t":"ack","rid":3,"room":"${ROOM}","id":"${ID}"}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'room', kind: 'string', outcome: 'dropped' },
      { field: 'id', kind: 'string', outcome: 'dropped' },
    ],
  },
  {
    name: 'page',
    frame: { t: 'page', rid: 4, room: ROOM, from: 20, to: 119, more: true },
    line: `{"t":"page","rid":4,"room":"${ROOM}","from":20,"to":119,"more":true}\n`,
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'ignored' },
      { field: 'room', kind: 'string', outcome: 'dropped' },
      { field: 'from', kind: 'int', outcome: { becomes: 0 } },
      { field: 'to', kind: 'int', outcome: 'dropped' },
      { field: 'more', kind: 'bool', outcome: { becomes: false } },
    ],
  },
  {
    name: 'error',
    frame: { t: 'error', rid: 3, code: 'rate_limited', message: 'over 100 sends per second; retry later' },
    line: '{"t":"error","rid":3,"code":"rate_limited","message":"over 100 sends per second; retry later"}\n',
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'code', kind: 'string', outcome: { becomes: 'internal' } },
      { field: 'message', kind: 'string', outcome: 'dropped' },
    ],
  },
  {
    name: 'error (stale_epoch, §3.3)',
    frame: { t: 'error', rid: 3, code: 'stale_epoch', message: 'epoch 5 already ended', epoch: 6, seq: 44 },
    line: '{"t":"error","rid":3,"code":"stale_epoch","message":"epoch 5 already ended","epoch":6,"seq":44}\n',
    fields: [
      { field: 'rid', kind: 'rid', outcome: 'dropped' },
      { field: 'epoch', kind: 'int', outcome: 'dropped' },
      { field: 'seq', kind: 'int', outcome: 'dropped' },
    ],
  },
  {
    name: 'reset_ok (§3.6)',
    frame: { t: 'reset_ok', rid: 8 },
    line: '{"t":"reset_ok","rid":8}\n',
    fields: [{ field: 'rid', kind: 'rid', outcome: 'ignored' }],
  },
  {
    name: 'rekey (§3.6)',
    frame: { t: 'rekey', room: ROOM, epoch: 6, seq: 44 },
    line: `{"t":"rekey","room":"${ROOM}","epoch":6,"seq":44}\n`,
    fields: [
      { field: 'room', kind: 'string', outcome: 'fatal' },
      { field: 'epoch', kind: 'int', outcome: 'fatal' },
      { field: 'seq', kind: 'int', outcome: 'fatal' },
    ],
  },
  {
    name: 'bye',
    frame: { t: 'bye', reason: 'shutdown' },
    line: '{"t":"bye","reason":"shutdown"}\n',
    fields: [{ field: 'reason', kind: 'string', outcome: 'dropped' }],
  },
];

function mutate(line: string, field: string, value: unknown): string {
  const obj = JSON.parse(line) as Record<string, unknown>;
  if (value === MISSING) delete obj[field];
  else obj[field] = value;
  return JSON.stringify(obj);
}

function show(v: unknown): string {
  return v === MISSING ? 'missing' : JSON.stringify(v);
}

describe('relay frames: encode (§1.3-§1.7)', () => {
  for (const c of cases) {
    it(`${c.name}: the same line as the relay always sent`, () => {
      assert.equal(encodeRelayFrame(c.frame), c.line);
    });
  }

  it('rid absent: left out of the line (pong, joined, synced, left, ack, page, error, welcome)', () => {
    assert.equal(encodePong(undefined), '{"t":"pong"}\n');
    assert.equal(encodeRelayFrame({ t: 'joined', room: ROOM, head: 0, sid: 's' }), `{"t":"joined","room":"${ROOM}","head":0,"sid":"s"}\n`);
    assert.equal(encodeRelayFrame({ t: 'synced', room: ROOM, head: 0, from: 1 }), `{"t":"synced","room":"${ROOM}","head":0,"from":1}\n`);
    assert.equal(encodeRelayFrame({ t: 'left', room: ROOM }), `{"t":"left","room":"${ROOM}"}\n`);
    assert.equal(encodeAck({ t: 'ack', room: ROOM, id: ID }), `{"t":"ack","room":"${ROOM}","id":"${ID}"}\n`);
    assert.equal(encodeRelayFrame({ t: 'page', room: ROOM, from: 0, to: 0, more: false }), `{"t":"page","room":"${ROOM}","from":0,"to":0,"more":false}\n`);
    assert.equal(encodeError(undefined, 'server_busy', 'busy'), '{"t":"error","code":"server_busy","message":"busy"}\n');
    assert.equal(encodeResetOk(undefined), '{"t":"reset_ok"}\n');
    assert.equal(encodeStaleEpoch(undefined, 'late', 2, 9), '{"t":"error","code":"stale_epoch","message":"late","epoch":2,"seq":9}\n');
    assert.equal(encodeStoredMsg(ROOM, 1, 2, ID, 'YQ'), `{"t":"msg","room":"${ROOM}","seq":1,"ts":2,"id":"${ID}","body":"YQ"}\n`);
    assert.equal(
      encodeRelayFrame({ t: 'welcome', v: 1, agent: 'a', maxFrame: 4096, time: 1, challenge: CHALLENGE }),
      `{"t":"welcome","v":1,"agent":"a","maxFrame":4096,"time":1,"challenge":"${CHALLENGE}"}\n`,
    );
  });

  it('msg and bye encoders agree with encodeRelayFrame', () => {
    assert.equal(encodeStoredMsg(ROOM, 1, 2, ID, 'YQ'), encodeRelayFrame({ t: 'msg', room: ROOM, seq: 1, ts: 2, id: ID, body: 'YQ' }));
    assert.equal(encodeEphemeralMsg(ROOM, ID, 'YQ'), encodeRelayFrame({ t: 'msg', room: ROOM, id: ID, body: 'YQ', eph: true }));
    assert.equal(encodeBye('shutdown'), encodeRelayFrame({ t: 'bye', reason: 'shutdown' }));
    assert.equal(encodeRekey({ t: 'rekey', room: ROOM, epoch: 1, seq: 2 }), encodeRelayFrame({ t: 'rekey', room: ROOM, epoch: 1, seq: 2 }));
  });

  it('presence: members cut at 256, or where the line would pass maxFrame; online is the real count', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ sid: `s${i}` }));
    const all = parseRelayFrame(encodePresence(ROOM, 300, many, LIMITS.maxFrame).trimEnd());
    assert.ok(all.ok && all.frame.t === 'presence');
    assert.equal(all.frame.members.length, LIMITS.maxPresenceMembers);
    assert.equal(all.frame.online, 300);
    const tagged = Array.from({ length: 10 }, (_, i) => ({ sid: `s${i}`, tag: 'x'.repeat(1000) }));
    for (const maxFrame of [4096, 4097, 5000]) {
      const line = encodePresence(ROOM, 10, tagged, maxFrame);
      assert.ok(Buffer.byteLength(line) <= maxFrame, `${Buffer.byteLength(line)} > ${maxFrame}`);
      const parsed = parseRelayFrame(line.trimEnd());
      assert.ok(parsed.ok && parsed.frame.t === 'presence');
      // Cut where the next entry would not fit.
      assert.ok(parsed.frame.members.length >= 1);
      assert.ok(Buffer.byteLength(line) + 1 + JSON.stringify(tagged[0]).length > maxFrame);
    }
    assert.equal(encodePresence(ROOM, 0, [], LIMITS.maxFrame), `{"t":"presence","room":"${ROOM}","online":0,"members":[]}\n`);
  });
});

describe('relay frames: parse (§1.3-§1.7)', () => {
  for (const c of cases) {
    const expected = c.parsed ?? c.frame;

    it(`${c.name}: parse(encode(frame)) gives the frame back, extra fields ignored`, () => {
      assert.deepEqual(parseRelayFrame(c.line.trimEnd()), { ok: true, frame: expected });
      const extra = JSON.stringify({ ...(JSON.parse(c.line) as object), later: { field: [1] }, zz: 'x' });
      assert.deepEqual(parseRelayFrame(extra), { ok: true, frame: expected });
    });

    for (const rule of c.fields) {
      for (const value of mutations(rule.kind)) {
        const outcome = value === MISSING && rule.whenMissing !== undefined ? rule.whenMissing : rule.outcome;
        const label = typeof outcome === 'string' ? outcome : 'becomes' in outcome ? `becomes ${JSON.stringify(outcome.becomes)}` : 'another frame';
        it(`${c.name}: ${rule.field} ${show(value)} → ${label}`, () => {
          const r = parseRelayFrame(mutate(c.line, rule.field, value));
          if (outcome === 'fatal' || outcome === 'ignored') {
            assert.equal(r.ok, false, 'accepted');
            if (r.ok) return;
            assert.equal(r.code, 'bad_field');
            assert.equal(r.field, rule.reports ?? rule.field);
            assert.equal(r.t, c.frame.t);
            assert.equal(r.fatal, outcome === 'fatal');
            if (rule.kind !== 'rid' && 'rid' in c.frame && c.frame.rid !== undefined) assert.equal(r.rid, c.frame.rid);
            return;
          }
          assert.equal(r.ok, true, r.ok ? '' : r.message);
          if (!r.ok) return;
          if (outcome !== 'dropped' && 'frame' in outcome) return assert.deepEqual(r.frame, outcome.frame);
          const want = { ...expected } as Record<string, unknown>;
          if (outcome === 'dropped') delete want[rule.field];
          else want[rule.field] = outcome.becomes;
          assert.deepEqual(r.frame, want);
        });
      }
    }
  }

  it('ack with seq missing is an ephemeral ack; msg with eph true is ephemeral whatever its seq', () => {
    assert.deepEqual(parseRelayFrame(`{"t":"ack","rid":3,"room":"${ROOM}","id":"${ID}","ts":5}`), {
      ok: true, frame: { t: 'ack', rid: 3, room: ROOM, id: ID },
    });
    assert.deepEqual(parseRelayFrame('{"t":"ack"}'), { ok: true, frame: { t: 'ack' } });
    assert.deepEqual(parseRelayFrame(`{"t":"msg","room":"${ROOM}","seq":"x","id":"${ID}","body":"YQ","eph":true}`), {
      ok: true, frame: { t: 'msg', room: ROOM, id: ID, body: 'YQ', eph: true },
    });
    // A seq of null is there, and not a number: as before, a protocol error.
    const r = parseRelayFrame(`{"t":"ack","room":"${ROOM}","id":"${ID}","seq":null}`);
    assert.ok(!r.ok && r.fatal && r.field === 'seq');
  });

  it('presence members: entries without a string sid are left out, a non-string tag is dropped', () => {
    const line = JSON.stringify({
      t: 'presence', room: ROOM, online: 9,
      members: [{ sid: 'a', tag: 'dA' }, null, 7, 'b', [], { sid: 5 }, { tag: 'x' }, { sid: 'c', tag: 5 }, { sid: 'd', extra: 1 }],
    });
    assert.deepEqual(parseRelayFrame(line), {
      ok: true, frame: { t: 'presence', room: ROOM, online: 9, members: [{ sid: 'a', tag: 'dA' }, { sid: 'c' }, { sid: 'd' }] },
    });
  });

  it('welcome: any version number is read (the client decides), maxFrame 0 is dropped', () => {
    const r = parseRelayFrame(`{"t":"welcome","v":1,"challenge":"${CHALLENGE}","maxFrame":0}`);
    assert.deepEqual(r, { ok: true, frame: { t: 'welcome', v: 1, challenge: CHALLENGE } });
  });

  it('error: a code this version does not know is kept as it came', () => {
    assert.deepEqual(parseRelayFrame('{"t":"error","code":"new_code"}'), { ok: true, frame: { t: 'error', code: 'new_code' } });
  });

  it('bad_frame (fatal): not JSON, not an object, no string t', () => {
    for (const line of ['nope', '[]', '"x"', '7', 'null', '{}', '{"t":7}', '{"t":null}', '{"t":"msg"']) {
      const r = parseRelayFrame(line);
      assert.ok(!r.ok && r.code === 'bad_frame' && r.fatal, line);
    }
  });

  it('unknown_type (ignored) keeps t and a valid rid; a malformed rid is left out', () => {
    assert.deepEqual(parseRelayFrame('{"t":"later","rid":4}'), {
      ok: false, code: 'unknown_type', fatal: false, t: 'later', rid: 4, message: 'unknown frame type',
    });
    const r = parseRelayFrame('{"t":"later","rid":-4}');
    assert.ok(!r.ok && r.rid === undefined && r.t === 'later');
  });

  it('a message never carries what the relay sent', () => {
    const secret = 'SECRETSECRETSECRET';
    for (const line of [`{"t":"${secret}"}`, `{"t":"msg","room":"${secret}","id":7}`, `{"t":"welcome","v":2,"challenge":"${secret}"}`]) {
      const r = parseRelayFrame(line);
      assert.ok(!r.ok && !r.message.includes(secret), line);
    }
  });

  it('property: any line parses without throwing into a frame or a failure', () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.anything(), { maxLength: 3 }), fc.object());
    const frameLike = fc.record({
      t: fc.constantFrom('welcome', 'pong', 'joined', 'synced', 'presence', 'left', 'msg', 'ack', 'page', 'error', 'bye', 'reset_ok', 'rekey', 'other'),
      rid: field, v: field, challenge: field, room: field, head: field, from: field, to: field, more: field, sid: field,
      seq: field, ts: field, id: field, body: field, eph: field, members: field, online: field, code: field, message: field,
      reason: field, agent: field, maxFrame: field, time: field, epoch: field,
    }, { requiredKeys: ['t'] });
    fc.assert(fc.property(fc.oneof(fc.string(), frameLike.map((f) => JSON.stringify(f))), (line) => {
      const r = parseRelayFrame(line);
      assert.equal(typeof r.ok, 'boolean');
      if (r.ok) assert.equal(typeof r.frame.t, 'string');
    }), { numRuns: 2000 });
  });
});

describe('ERROR_CODES (§1.7)', () => {
  it('retryable: exactly the codes whose refused send the client sends again', () => {
    const retryable = Object.entries(ERROR_CODES).filter(([, v]) => v.retryable).map(([k]) => k).sort();
    assert.deepEqual(retryable, ['internal', 'not_joined', 'rate_limited', 'room_quota', 'shutting_down']);
    assert.equal(isRetryable('rate_limited'), true);
    assert.equal(isRetryable('auth_failed'), false);
    assert.equal(isRetryable('a_later_code'), false);
    assert.equal(isRetryable('toString'), false);
  });

  it('isErrorCode knows the table and nothing inherited', () => {
    assert.equal(isErrorCode('bad_frame'), true);
    assert.equal(isErrorCode('constructor'), false);
    assert.equal(isErrorCode(7), false);
  });
});
