// Look-alike display names (issue 7 item 2.2, PROTOCOL.md §2.4): names are compared for the
// known-keys rule by their confusable skeleton (Unicode TR39) after NFKC and without
// default-ignorable characters, so a name that looks like a known member's under another key is
// a key change, not a new person. And a name that holds invisible or bidi control characters
// cannot be sent under (displayNameProblem), in the client and in the CLI's --name.
import { strict as assert } from 'node:assert';
import { deriveRoomId, generateIdentity, generateRoomKey } from '../../src/core/crypto/index';
import { KnownKeys, MemoryStateStore, nameKey } from '../../src/core/keys/index';
import { displayNameProblem, namesLookAlike } from '../../src/core/keys/displayName';
import { RelayClient } from '../../src/core/client/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { displayName } from '../../webview/text';

/** The look-alikes of "alice" the security review found passing as new people, and more. */
const LOOK_ALIKES: [string, string][] = [
  ['\u0430lice', 'Cyrillic а (U+0430)'],
  ['alice\u200B', 'zero-width space U+200B'],
  ['al\u00ADice', 'soft hyphen U+00AD'],
  ['ali\u2060ce', 'word joiner U+2060'],
  ['alice\u3164', 'Hangul filler U+3164'],
  ['\u3164alice', 'Hangul filler U+3164 in front'],
  ['\u0430l\u0456\u0441\u0435', 'all Cyrillic (а, і, с, е)'],
  ['\u0391lice', 'Greek capital alpha'],
  ['ａｌｉｃｅ', 'fullwidth'],
  ['ALICE', 'upper case'],
  ['a\u200Dlice', 'zero-width joiner'],
  ['alic\u0435\uFE0F', 'Cyrillic е with a variation selector'],
  ['\u202Ealice', 'right-to-left override'],
  ['alice\u180E', 'Mongolian vowel separator'],
  ['𝖆𝖑𝖎𝖈𝖊', 'mathematical fraktur'],
  ['alice\u2800', 'Braille pattern blank U+2800'],
  ['alice\uE000', 'a private-use character'],
  ['\u0251lice', 'Latin alpha'],
  ['a1ice', 'digit one for l'],
];

describe('look-alike names (TR39 skeleton after NFKC, default-ignorables removed)', () => {
  const room = deriveRoomId(generateRoomKey());

  for (const [name, what] of LOOK_ALIKES) {
    it(`"alice" and ${what} are one name: another key under it is a key change`, async () => {
      const known = new KnownKeys(new MemoryStateStore());
      await known.trust(room, 'alice', 'AAAA');
      assert.equal(nameKey(name), nameKey('alice'), `${JSON.stringify(name)} has its own skeleton ${JSON.stringify(nameKey(name))}`);
      assert.equal(known.check(room, name, 'BBBB'), 'changed');
      assert.equal(known.check(room, name, 'AAAA'), 'same');
    });
  }

  it('catches letters that look alike across case: "Ivan" and "lvan", "B0B" and "bob", "rn" and "m"', async () => {
    for (const [a, b] of [['Ivan', 'lvan'], ['IVAN', 'lvan'], ['B0B', 'bob'], ['rnary', 'mary'], ['Ann  Lee', 'ann lee'], ['ALICE', 'alice']]) {
      assert.ok(namesLookAlike(a!, b!), `${a} / ${b}`);
      const known = new KnownKeys(new MemoryStateStore());
      await known.trust(room, a!, 'AAAA');
      assert.equal(known.check(room, b!, 'BBBB'), 'changed', `${a} then ${b}`);
    }
  });

  it('keeps different names apart', () => {
    for (const [a, b] of [['alice', 'alicia'], ['bob', 'rob'], ['George', 'Georgia'], ['李', '季'], ['anna', 'ana']]) {
      assert.equal(namesLookAlike(a!, b!), false, `${a} / ${b}`);
    }
  });

  it('reads a table stored under the old name form as the same names', async () => {
    const state = new MemoryStateStore();
    await state.update('smc.knownKeys', { [room]: { alice: 'AAAA', 'ann lee': 'CCCC' } });
    const known = new KnownKeys(state);
    assert.equal(known.check(room, '\u0430lice', 'BBBB'), 'changed');
    assert.equal(known.check(room, 'Ann Lee', 'CCCC'), 'same');
  });
});

describe('display names that cannot be sent under', () => {
  const refused: [string, string][] = [
    ['\u202Eecila', 'right-to-left override U+202E'],
    ['alice\u2066', 'left-to-right isolate U+2066'],
    ['ali\u200Fce', 'right-to-left mark U+200F'],
    ['alice\u200B', 'zero-width space'],
    ['al\u00ADice', 'soft hyphen'],
    ['ali\u2060ce', 'word joiner'],
    ['\u3164', 'Hangul filler alone'],
    ['alice\u3164', 'Hangul filler'],
    ['ali\nce', 'newline'],
    ['ali\u0007ce', 'BEL'],
    ['alice\u0085', 'C1 control NEL'],
    ['ali\u2028ce', 'line separator'],
    ['   ', 'only spaces'],
    ['', 'empty'],
    ['x'.repeat(65), '65 characters'],
    ['\uD800ab', 'a lone surrogate'],
    ['alice\u2800', 'Braille pattern blank'],
    ['\u2800', 'Braille pattern blank alone'],
    ['alice\uE000', 'a private-use character'],
  ];
  for (const [name, what] of refused) {
    it(`refuses ${what}`, () => assert.ok(displayNameProblem(name) !== undefined, JSON.stringify(name)));
  }

  for (const name of ['alice', 'Ann Lee', 'Zoë', '李小龙', 'Ωmega', 'x'.repeat(64), 'dev-42 (CI)']) {
    it(`accepts ${JSON.stringify(name)}`, () => assert.equal(displayNameProblem(name), undefined));
  }

  it('RelayClient refuses to start or rename under such a name, with a clear error', () => {
    const base = { host: '127.0.0.1', port: 1, agent: 'test', identity: generateIdentity(), transport: createTcpTransport };
    assert.throws(() => new RelayClient({ ...base, displayName: '\u202Eecila' }), /invisible|bidi/i);
    const client = new RelayClient({ ...base, displayName: 'alice' });
    assert.throws(() => client.setDisplayName('alice\u200B'), /invisible|bidi/i);
    assert.equal(client.name, 'alice');
  });
});

describe('names as the panel shows them (webview/text.ts displayName)', () => {
  for (const [name, shown] of [
    ['alice\u200B', 'alice⟦U+200B⟧'], ['al\u00ADice', 'al⟦U+00AD⟧ice'], ['ali\u2060ce', 'ali⟦U+2060⟧ce'],
    ['alice\u3164', 'alice⟦U+3164⟧'], ['\u202Eecila', '⟦U+202E⟧ecila'], ['alice\u{E0041}', 'alice⟦U+E0041⟧'],
    ['alice\u2800', 'alice⟦U+2800⟧'],
  ] as const) {
    it(`shows ${JSON.stringify(name)} as ${shown}, never as "alice"`, () => assert.equal(displayName(name), shown));
  }
  it('leaves ordinary names alone', () => {
    for (const n of ['alice', 'Zoë', '李小龙', 'Ann Lee']) assert.equal(displayName(n), n);
  });
});
