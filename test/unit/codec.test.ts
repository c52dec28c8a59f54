// FrameDecoder / encodeFrame (PROTOCOL.md §1.1) and parseClientFrame (§1.1-§1.7).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { FrameDecoder, MAX_JSON_DEPTH, encodeFrame, jsonDepthExceeds, utf8Length, type FrameDecodeError } from '../../src/core/wire/codec';
import { LIMITS } from '../../src/core/wire/frames';
import { isB64uForm, parseClientFrame } from '../../src/core/wire/validate';

interface Collected {
  lines: string[];
  errors: FrameDecodeError[];
  decoder: FrameDecoder;
}

function collector(maxFrame: number): Collected {
  const c: Collected = { lines: [], errors: [], decoder: undefined as unknown as FrameDecoder };
  c.decoder = new FrameDecoder(maxFrame, { line: (l) => c.lines.push(l), error: (e) => c.errors.push(e) });
  return c;
}

function decodeAll(input: Uint8Array, maxFrame: number, splits: number[] = []): Collected {
  const c = collector(maxFrame);
  let start = 0;
  for (const s of [...splits].sort((a, b) => a - b)) {
    c.decoder.push(input.subarray(start, s));
    start = s;
  }
  c.decoder.push(input.subarray(start));
  return c;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A line of exactly `n` bytes including its "\n" (a JSON object padded with a string). */
function lineOfBytes(n: number, crlf = false): string {
  const end = crlf ? '\r\n' : '\n';
  const base = '{"t":"ping","p":""}';
  return base.slice(0, -2) + 'x'.repeat(n - base.length - end.length) + '"}' + end;
}

describe('FrameDecoder (§1.1)', () => {
  it('splits lines and drops the newline', () => {
    const c = decodeAll(bytes('{"t":"a"}\n{"t":"b"}\n'), 1024);
    assert.deepEqual(c.lines, ['{"t":"a"}', '{"t":"b"}']);
    assert.deepEqual(c.errors, []);
  });

  it('tolerates \\r\\n and ignores empty lines', () => {
    const c = decodeAll(bytes('\n{"t":"a"}\r\n\r\n\n{"t":"b"}\n'), 1024);
    assert.deepEqual(c.lines, ['{"t":"a"}', '{"t":"b"}']);
  });

  it('keeps an unfinished line until its newline arrives', () => {
    const c = collector(1024);
    c.decoder.push(bytes('{"t":'));
    assert.deepEqual(c.lines, []);
    assert.equal(c.decoder.buffered, 5);
    c.decoder.push(bytes('"a"}\n{"t"'));
    assert.deepEqual(c.lines, ['{"t":"a"}']);
    assert.equal(c.decoder.buffered, 4);
  });

  for (const maxFrame of [64, 1000, LIMITS.maxFrame]) {
    it(`passes a line of exactly maxFrame=${maxFrame} bytes with its \\n, fails one byte more`, () => {
      const exact = lineOfBytes(maxFrame);
      assert.equal(bytes(exact).length, maxFrame);
      assert.deepEqual(decodeAll(bytes(exact), maxFrame).errors, []);
      assert.equal(decodeAll(bytes(exact), maxFrame).lines.length, 1);
      const over = lineOfBytes(maxFrame + 1);
      assert.deepEqual(decodeAll(bytes(over), maxFrame).errors, ['frame_too_large']);
      assert.deepEqual(decodeAll(bytes(over), maxFrame).lines, []);
    });

    it(`counts the \\r: a \\r\\n line of exactly maxFrame=${maxFrame} passes, one more fails`, () => {
      assert.deepEqual(decodeAll(bytes(lineOfBytes(maxFrame, true)), maxFrame).errors, []);
      assert.deepEqual(decodeAll(bytes(lineOfBytes(maxFrame + 1, true)), maxFrame).errors, ['frame_too_large']);
    });
  }

  it('fails an endless line as soon as it is too long, and never buffers maxFrame bytes', () => {
    const c = collector(100);
    for (let i = 0; i < 99; i++) {
      c.decoder.push(bytes('x'));
      assert.ok(c.decoder.buffered < 100);
    }
    assert.deepEqual(c.errors, []);
    c.decoder.push(bytes('x'));
    assert.deepEqual(c.errors, ['frame_too_large']);
    assert.equal(c.decoder.buffered, 0);
    c.decoder.push(bytes('{"t":"a"}\n'));
    assert.deepEqual(c.lines, [], 'nothing is decoded after a fatal error');
  });

  it('gives the same result at every split point of a stream, at every boundary', () => {
    const maxFrame = 40;
    const stream = bytes(lineOfBytes(40) + '\r\n' + lineOfBytes(39, true) + '{"t":"é€😀"}\n' + lineOfBytes(41));
    const whole = decodeAll(stream, maxFrame);
    assert.equal(whole.lines.length, 3);
    assert.deepEqual(whole.errors, ['frame_too_large']);
    for (let i = 0; i <= stream.length; i++) {
      const split = decodeAll(stream, maxFrame, [i]);
      assert.deepEqual(split.lines, whole.lines, `split at ${i}`);
      assert.deepEqual(split.errors, whole.errors, `split at ${i}`);
    }
    // One byte at a time.
    const single = decodeAll(stream, maxFrame, Array.from({ length: stream.length }, (_, i) => i));
    assert.deepEqual(single.lines, whole.lines);
  });

  it('decodes multi-byte UTF-8 split across chunks', () => {
    const s = bytes('{"t":"😀"}\n');
    for (let i = 0; i <= s.length; i++) assert.deepEqual(decodeAll(s, 100, [i]).lines, ['{"t":"😀"}']);
  });

  for (const [name, seq] of [
    ['a lone continuation byte', [0x80]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['0xFF', [0xff]],
  ] as const) {
    it(`rejects invalid UTF-8 (${name}) as bad_frame`, () => {
      const input = new Uint8Array([...bytes('{"t":"'), ...seq, ...bytes('"}\n')]);
      const c = decodeAll(input, 100);
      assert.deepEqual(c.errors, ['bad_frame']);
      assert.deepEqual(c.lines, []);
    });
  }

  it('property: any chunking of any lines gives the lines back (or the same error)', () => {
    const lineArb = fc.string({ unit: 'binary', maxLength: 80 }).map((s) => s.replace(/[\n\r]/g, ' '));
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (lines, cuts, crlf) => {
        const maxFrame = 64;
        const stream = bytes(lines.map((l) => l + (crlf ? '\r\n' : '\n')).join(''));
        const splits = cuts.map((c) => c % (stream.length + 1));
        const got = decodeAll(stream, maxFrame, splits);
        const expected: string[] = [];
        let error: FrameDecodeError | undefined;
        for (const l of lines) {
          if (utf8Length(l) + (crlf ? 2 : 1) > maxFrame) {
            error = 'frame_too_large';
            break;
          }
          if (l.length > 0) expected.push(l);
        }
        assert.deepEqual(got.lines, expected);
        assert.deepEqual(got.errors, error ? [error] : []);
      }),
      { numRuns: 150 },
    );
  });

  it('property: random bytes never throw, never buffer maxFrame bytes, report at most one error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (input, cuts) => {
        const c = collector(50);
        let start = 0;
        for (const s of [...cuts.map((x) => x % (input.length + 1))].sort((a, b) => a - b)) {
          c.decoder.push(input.subarray(start, s));
          assert.ok(c.decoder.buffered < 50);
          start = s;
        }
        c.decoder.push(input.subarray(start));
        assert.ok(c.errors.length <= 1);
        for (const l of c.lines) assert.ok(utf8Length(l) <= 49);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodeFrame', () => {
  it('writes one JSON line ending in \\n with no raw newline inside', () => {
    const s = encodeFrame({ t: 'msg', text: 'a\nb\r\u2028' });
    assert.equal(s.indexOf('\n'), s.length - 1);
    assert.deepEqual(JSON.parse(s), { t: 'msg', text: 'a\nb\r\u2028' });
  });

  it('property: decode(encode(frame)) round-trips any JSON object', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (extra, t) => {
        const frame = { ...extra, t };
        const c = decodeAll(bytes(encodeFrame(frame)), 1 << 20);
        assert.equal(c.lines.length, 1);
        assert.deepEqual(JSON.parse(c.lines[0] as string), JSON.parse(JSON.stringify(frame)));
      }),
      { numRuns: 200 },
    );
  });

  it('utf8Length agrees with TextEncoder', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => assert.equal(utf8Length(s), bytes(s).length)), { numRuns: 300 });
    assert.equal(utf8Length('\ud800'), 3, 'a lone surrogate encodes as U+FFFD');
  });
});

describe('parseClientFrame (§1.1-§1.7)', () => {
  const room = 'A'.repeat(22);
  const id = 'B'.repeat(22);
  const code = (line: string, maxFrame?: number): string | undefined => {
    const r = parseClientFrame(line, maxFrame);
    return r.ok ? undefined : r.code;
  };

  it('bad_frame: not JSON, not an object, no string t', () => {
    for (const line of ['x', '{', '[]', '[{"t":"ping"}]', 'null', '1', '"ping"', '{}', '{"t":1}', '{"t":null}', '\ufeff{"t":"ping"}']) {
      assert.equal(code(line), 'bad_frame', line);
    }
  });

  it('unknown_type keeps rid; unknown fields are ignored', () => {
    const r = parseClientFrame('{"t":"dance","rid":4}');
    assert.deepEqual(r.ok ? undefined : [r.code, r.rid], ['unknown_type', 4]);
    const p = parseClientFrame('{"t":"ping","rid":5,"whatever":[1]}');
    assert.deepEqual(p, { ok: true, frame: { t: 'ping', rid: 5 } });
  });

  it('a malformed rid is bad_request sent without rid', () => {
    for (const rid of ['-1', '1.5', '"1"', 'null', '9007199254740992', '1e400', 'true']) {
      const r = parseClientFrame(`{"t":"ping","rid":${rid}}`);
      assert.equal(r.ok, false, rid);
      if (!r.ok) {
        assert.equal(r.code, 'bad_request');
        assert.equal(r.rid, undefined);
      }
    }
    assert.equal(code('{"t":"ping","rid":9007199254740991}'), undefined);
    assert.equal(code('{"t":"ping","rid":0}'), undefined);
  });

  it('hello: v must be a number (its value is checked by the relay); agent a string', () => {
    assert.deepEqual(parseClientFrame('{"t":"hello","v":1,"agent":"x"}'), { ok: true, frame: { t: 'hello', v: 1, agent: 'x' } });
    assert.equal(code('{"t":"hello","v":"1"}'), 'unsupported_version');
    assert.equal(code('{"t":"hello","v":1,"agent":5}'), 'bad_request');
  });

  it('join: room form, since/limit integers, tag b64u ≤ 2048', () => {
    assert.equal(code(`{"t":"join","room":"${room}","since":3,"limit":0,"tag":"${'a'.repeat(2048)}"}`), undefined);
    assert.equal(code(`{"t":"join","room":"${room}","tag":"${'a'.repeat(2049)}"}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room}","tag":"${'a'.repeat(5)}"}`), 'bad_request', 'length 4k+1');
    assert.equal(code(`{"t":"join","room":"${room}","tag":""}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room}","tag":"a+b/"}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room.slice(1)}"}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room}A"}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room.slice(1)}="}`), 'bad_request');
    assert.equal(code('{"t":"join"}'), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room}","since":-1}`), 'bad_request');
    assert.equal(code(`{"t":"join","room":"${room}","limit":2.5}`), 'bad_request');
  });

  it('send: room, id, body ≤ maxFrame - 512, eph boolean', () => {
    const max = 4096 - 512;
    const ok = (b: string): string => `{"t":"send","room":"${room}","id":"${id}","body":"${b}"}`;
    assert.equal(code(ok('A'.repeat(max)), 4096), undefined);
    assert.equal(code(ok('A'.repeat(max + 1)), 4096), 'bad_request');
    assert.equal(code(ok('A'.repeat(LIMITS.maxFrame - 512))), undefined);
    assert.equal(code(ok('')), 'bad_request');
    assert.equal(code(ok('AB=')), 'bad_request');
    assert.equal(code(`{"t":"send","room":"${room}","body":"AAAA"}`), 'bad_request');
    assert.equal(code(`{"t":"send","room":"${room}","id":"${id}","body":"AAAA","eph":1}`), 'bad_request');
    const eph = parseClientFrame(`{"t":"send","room":"${room}","id":"${id}","body":"AAAA","eph":true}`);
    assert.ok(eph.ok && eph.frame.t === 'send' && eph.frame.eph === true);
    const notEph = parseClientFrame(`{"t":"send","room":"${room}","id":"${id}","body":"AAAA","eph":false}`);
    assert.ok(notEph.ok && notEph.frame.t === 'send' && notEph.frame.eph === undefined);
  });

  it('history, leave, admin', () => {
    assert.equal(code(`{"t":"history","room":"${room}","before":10,"limit":1000}`), undefined);
    assert.equal(code(`{"t":"history","room":"${room}","before":"10"}`), 'bad_request');
    assert.equal(code(`{"t":"leave","room":"${room}"}`), undefined);
    assert.equal(code('{"t":"leave"}'), 'bad_request');
    assert.equal(code('{"t":"admin","op":"shutdown","token":"x"}'), undefined);
    assert.equal(code('{"t":"admin","op":"reboot","token":"x"}'), 'bad_request');
    assert.equal(code('{"t":"admin","op":"shutdown","token":1}'), 'bad_request');
  });

  it('isB64uForm: charset, empty, 4k+1, max length', () => {
    assert.ok(isB64uForm('ab', 2));
    assert.ok(!isB64uForm('abc', 2));
    assert.ok(!isB64uForm('a', 10));
    assert.ok(!isB64uForm('abcde', 10));
    assert.ok(isB64uForm('abcdef', 10));
    assert.ok(!isB64uForm('ab=', 10));
    assert.ok(!isB64uForm(5, 10));
  });

  it('property: any string parses without throwing into a frame or a known error code', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ t: 'send', v }))), (line) => {
        const r = parseClientFrame(line);
        if (!r.ok) assert.ok(['bad_frame', 'bad_request', 'unknown_type', 'unsupported_version'].includes(r.code));
      }),
      { numRuns: 500 },
    );
  });
});

describe('JSON nesting bound (issue 7 §1.6)', () => {
  /** Depth by JSON.parse itself: the reference the byte scan must agree with. */
  function depthOf(v: unknown): number {
    if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
    if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
    return 0;
  }

  it('counts [ and { outside strings only, escapes included', () => {
    assert.equal(jsonDepthExceeds('{"t":"ping"}', 1), false);
    assert.equal(jsonDepthExceeds('{"t":{"a":1}}', 1), true);
    assert.equal(jsonDepthExceeds('{"t":"[[[[[[{{{{{"}', 1), false);
    assert.equal(jsonDepthExceeds('{"t":"a\\"}', 1), false, 'an escaped backslash ends before the quote');
    assert.equal(jsonDepthExceeds('{"t":"a\\"[[[[[[["}', 1), false, 'an escaped quote does not end the string');
    assert.equal(jsonDepthExceeds('{"t":"a\\\\"' + ',"x":[[]]}', 2), true, 'two backslashes end the string');
    assert.equal(jsonDepthExceeds('"unterminated [[[[[', 1), false);
    assert.equal(jsonDepthExceeds('['.repeat(5), 4), true);
    assert.equal(jsonDepthExceeds('['.repeat(4) + ']'.repeat(4), 4), false);
  });

  it('agrees with JSON.parse on random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat({ max: 8 }), (v, max) => {
        const text = JSON.stringify(v);
        assert.equal(jsonDepthExceeds(text, max), depthOf(v) > max, text);
      }),
      { numRuns: 1000 },
    );
  });

  it('every frame of §1 fits: presence (depth 3) with room to spare', () => {
    const presence = encodeFrame({ t: 'presence', room: 'r', online: 1, members: [{ sid: 's', tag: 'dA' }] });
    assert.equal(jsonDepthExceeds(presence, MAX_JSON_DEPTH), false);
    assert.equal(MAX_JSON_DEPTH, 4);
  });

  it('parseClientFrame answers a deep line with bad_frame before parsing it', () => {
    const deep = '{"t":"ping","x":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}';
    const r = parseClientFrame(deep, 1024 * 1024);
    assert.deepEqual([r.ok, !r.ok && r.code], [false, 'bad_frame']);
    const fine = parseClientFrame('{"t":"ping","x":[[[1]]]}');
    assert.equal(fine.ok, true);
  });
});
