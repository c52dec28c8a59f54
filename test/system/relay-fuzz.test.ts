// Fuzzing the real relay process over TCP (issue 2 §3): random and mutated lines never crash it
// and always get the error §1 prescribes. Expected outcomes come from an oracle written here,
// independently of src/core/wire/validate.ts. Bounded: a few hundred cases, a few seconds.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { LineClient, RelayProcess, randomId, randomRoom, type Frame } from '../helpers/relayProcess';

/** A v2 room whose key this process holds: LineClient.send signs its joins (§1.9). */
const ROOM = randomRoom();

/** What the oracle expects from one line. */
type Expect = { kind: 'close'; code: 'bad_frame' } | { kind: 'error'; code: string } | { kind: 'reply'; t: string } | { kind: 'none' };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** §1.1: what a raw line (without its "\n") must produce, when it is not a well-formed frame. */
function framingOracle(line: Uint8Array): Expect | undefined {
  let bytes = line;
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.length === 0) return { kind: 'none' };
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { kind: 'close', code: 'bad_frame' };
  }
  if (text.charCodeAt(0) === 0xfeff) return { kind: 'close', code: 'bad_frame' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: 'close', code: 'bad_frame' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { t?: unknown }).t !== 'string') {
    return { kind: 'close', code: 'bad_frame' };
  }
  return undefined;
}

const b64u = /^[A-Za-z0-9_-]+$/;
const isId = (x: unknown): boolean => typeof x === 'string' && x.length === 22 && b64u.test(x);
const isB64u = (x: unknown, max: number): boolean => typeof x === 'string' && x.length >= 1 && x.length <= max && x.length % 4 !== 1 && b64u.test(x);
const isInt = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** §1.2-§1.6: the outcome of a frame on a connection that said hello and joined ROOM. */
function frameOracle(f: Record<string, unknown>): Expect {
  const known = ['hello', 'ping', 'join', 'leave', 'send', 'history', 'admin'];
  if (!known.includes(f.t as string)) return { kind: 'error', code: 'unknown_type' };
  const bad: Expect = { kind: 'error', code: 'bad_request' };
  switch (f.t) {
    case 'ping':
      return { kind: 'reply', t: 'pong' };
    case 'hello':
      return bad;
    case 'join':
      if (!isId(f.room) || (f.since !== undefined && !isInt(f.since)) || (f.limit !== undefined && !isInt(f.limit))) return bad;
      if (f.tag !== undefined && !isB64u(f.tag, 2048)) return bad;
      // §1.9: only ROOM's key is known here; a join of any other room has no proof.
      // A connection's join proofs are rate limited (40 at once, then 8/s): many joins of ROOM
      // in one run may get rate_limited instead.
      return f.room === ROOM ? { kind: 'reply', t: 'joined_or_rate_limited' } : { kind: 'error', code: 'auth_required' };
    case 'send':
      if (!isId(f.room) || !isId(f.id) || !isB64u(f.body, 65536 - 512) || (f.eph !== undefined && typeof f.eph !== 'boolean')) return bad;
      return f.room === ROOM ? { kind: 'reply', t: 'ack' } : { kind: 'error', code: 'not_joined' };
    case 'history':
      if (!isId(f.room) || (f.before !== undefined && !isInt(f.before)) || (f.limit !== undefined && !isInt(f.limit))) return bad;
      return f.room === ROOM ? { kind: 'reply', t: 'page' } : { kind: 'error', code: 'not_joined' };
    case 'leave':
      if (!isId(f.room)) return bad;
      return { kind: 'error', code: 'not_joined' };
    default:
      // admin: never with the right token here.
      return bad;
  }
}

const weird = fc.oneof(
  fc.constant(null), fc.constant(-1), fc.constant(1.5), fc.constant(2 ** 53), fc.constant(''), fc.constant('a=b'),
  fc.constant('A'.repeat(21)), fc.constant('A'.repeat(23)), fc.constant([]), fc.constant({}), fc.constant(true),
  fc.string({ maxLength: 30 }), fc.integer(), fc.double(),
);

/** Valid frames (never leaving ROOM, so the connection's state stays known). */
const validFrame = fc.oneof(
  fc.constant({ t: 'ping' }),
  fc.record({ t: fc.constant('join'), room: fc.constant(ROOM), since: fc.nat(), limit: fc.nat({ max: 5 }) }),
  fc.record({ t: fc.constant('send'), room: fc.constant(ROOM), id: fc.constant(''), body: fc.constant('QUFB'), eph: fc.boolean() }),
  fc.record({ t: fc.constant('history'), room: fc.constant(ROOM), before: fc.nat(), limit: fc.nat({ max: 5 }) }),
  fc.constant({ t: 'leave', room: 'Tm90Sm9pbmVkUm9vbTAwMA' }),
  fc.constant({ t: 'admin', op: 'shutdown', token: 'not-the-token' }),
);

/** A valid frame with one field replaced, removed, or an unknown one added; or t changed. */
const mutatedFrame = fc.tuple(validFrame, fc.nat(), weird, fc.string({ maxLength: 12 }), fc.nat({ max: 3 })).map(([base, pick, value, name, op]) => {
  const f: Record<string, unknown> = { ...base };
  if (f.t === 'send') f.id = randomId();
  const keys = Object.keys(f);
  const key = keys[pick % keys.length] as string;
  // A non-string t is bad_frame and closes; the framing tests cover it, this keeps the connection.
  if (op === 0) f[key] = key === 't' ? name : value;
  else if (op === 1 && key !== 't') delete f[key];
  else if (op === 2) f[`x_${name}`] = value;
  else if (key === 't') f.t = name;
  return f;
});

describe('relay fuzz (random and mutated lines)', function () {
  this.timeout(60_000);
  let relay: RelayProcess;
  let main: LineClient;
  const extra: LineClient[] = [];

  before(async () => {
    relay = await RelayProcess.start({ args: ['--rate', '0'] });
    main = (await LineClient.open(relay.port)).client;
    const j = await main.request({ t: 'join', room: ROOM });
    assert.equal(j.t, 'joined');
  });

  after(async () => {
    for (const c of extra) c.destroy();
    main?.destroy();
    await relay?.cleanup();
  });

  let rid = 1;
  /** Sends one frame with a fresh rid on the long-lived connection and checks the oracle. */
  async function check(frame: Record<string, unknown>): Promise<void> {
    const r = rid++;
    main.send({ ...frame, rid: r });
    const expected = frameOracle(frame);
    const reply = await main.next((f) => f.rid === r && f.t !== 'msg' && f.t !== 'synced', 5_000);
    if (expected.kind === 'error') {
      assert.deepEqual([reply.t, reply.code], ['error', expected.code], JSON.stringify(frame).slice(0, 200));
    } else if (expected.kind === 'reply' && expected.t === 'joined_or_rate_limited') {
      assert.ok(reply.t === 'joined' || reply.code === 'rate_limited', JSON.stringify(reply));
    } else if (expected.kind === 'reply') {
      assert.equal(reply.t, expected.t, `${JSON.stringify(frame).slice(0, 200)} -> ${JSON.stringify(reply).slice(0, 200)}`);
    }
  }

  it('mutated frames get the error the protocol prescribes, and the connection stays open', async () => {
    await fc.assert(fc.asyncProperty(mutatedFrame, check), { numRuns: 400 });
    await fc.assert(fc.asyncProperty(validFrame, (f) => check(f.t === 'send' ? { ...f, id: randomId() } : f)), { numRuns: 100 });
    assert.ok(main.isOpen);
    assert.deepEqual(main.garbage, []);
  });

  it('random byte lines: bad_frame and a close, or nothing for empty lines; never a crash', async () => {
    const line = fc.uint8Array({ minLength: 0, maxLength: 120 }).map((a) => a.map((b) => (b === 0x0a ? 0x20 : b)));
    await fc.assert(fc.asyncProperty(line, async (bytes) => {
      const expected = framingOracle(bytes);
      fc.pre(expected !== undefined);
      const c = (await LineClient.open(relay.port)).client;
      extra.push(c);
      c.sendRaw(Buffer.concat([Buffer.from(bytes), Buffer.from('\n{"t":"ping","rid":1}\n')]));
      const reply = await c.next();
      if (expected?.kind === 'none') assert.deepEqual(reply, { t: 'pong', rid: 1 });
      else {
        assert.deepEqual([reply.t, reply.code], ['error', 'bad_frame']);
        await c.waitClosed();
        assert.equal(c.received.length, 2, 'nothing is processed after a fatal error');
      }
      c.destroy();
    }), { numRuns: 150 });
  });

  it('valid JSON frames with random bytes flipped: the framing oracle holds, others get an answer', async () => {
    const sample = fc.tuple(mutatedFrame, fc.nat(), fc.integer({ min: 0, max: 255 }));
    await fc.assert(fc.asyncProperty(sample, async ([frame, at, byte]) => {
      const bytes = Buffer.from(JSON.stringify({ ...frame, rid: 1 }));
      bytes[at % bytes.length] = byte === 0x0a ? 0x20 : byte;
      const expected = framingOracle(bytes);
      const c = (await LineClient.open(relay.port)).client;
      extra.push(c);
      c.sendRaw(Buffer.concat([bytes, Buffer.from('\n{"t":"ping","rid":99}\n')]));
      const reply = await c.next();
      if (expected?.kind === 'close') {
        assert.deepEqual([reply.t, reply.code], ['error', 'bad_frame']);
        await c.waitClosed();
      } else {
        // Well-formed after the flip: some answer, and the connection still serves the ping.
        await c.next((f) => f.rid === 99 && f.t === 'pong');
      }
      c.destroy();
    }), { numRuns: 150 });
  });

  it('after all that, the relay is alive, logged no internal error, and serves a fresh client', async () => {
    assert.ok(relay.running);
    const { client } = await LineClient.open(relay.port);
    extra.push(client);
    const pong: Frame = await client.request({ t: 'ping' });
    assert.equal(pong.t, 'pong');
    assert.ok(!relay.logs.some((l) => l.level === 'error'), JSON.stringify(relay.logs.filter((l) => l.level === 'error')));
  });
});
