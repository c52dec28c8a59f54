// @mentions (docs/protocol.md §2.3.2): @names bind to members' fingerprints by the display-name
// comparison keys of §2.4, so that a look-alike name binds nobody when two keys look alike, a
// receiver is mentioned only by its fingerprint, and e-mail addresses are no mentions.
import { strict as assert } from 'node:assert';
import { findMentions, isMentioned, Member, mentionHighlights, resolveMentions } from '../../src/core/payload/mentions';

const GEORGE = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';
const IMPOSTOR = '0C5E 8A4E 1F7E 9B3D 2A10 66F1 D4C2 9E07';
const JEAN = '7777 8888 9999 AAAA BBBB CCCC DDDD EEEE';
const JEAN_DUPONT = '1111 2222 3333 4444 5555 6666 7777 8888';

const members: Member[] = [
  { name: 'George', fingerprint: GEORGE },
  { name: 'Jean', fingerprint: JEAN },
  { name: 'Jean Dupont', fingerprint: JEAN_DUPONT },
];

describe('mentions (§2.3.2)', () => {
  it('binds @names to members by fingerprint, the longest name first, ending at a word boundary', () => {
    assert.deepEqual(resolveMentions('@George, @Jean Dupont et @Jean: 14 h ?', members), { mentions: [GEORGE, JEAN_DUPONT, JEAN], ambiguous: [] });
    assert.deepEqual(resolveMentions('@Georges', members).mentions, []);
    assert.deepEqual(resolveMentions('@george @GEORGE', members).mentions, [GEORGE]);
  });

  it('an e-mail address or a word@word is no mention', () => {
    assert.deepEqual(resolveMentions('write to bob@George.example or x@George', members).mentions, []);
  });

  it('a look-alike of a member binds to that member when no other key looks alike', () => {
    // Cyrillic е, a zero-width space, full-width letters: all George.
    for (const t of ['@Gеorge', '@Geo\u200Brge', '@Ｇｅｏｒｇｅ']) assert.deepEqual(resolveMentions(t, members).mentions, [GEORGE], t);
  });

  it('when two keys go by names that look alike, the @name binds nobody and is reported as ambiguous', () => {
    const withImpostor = [...members, { name: 'Gеorge', fingerprint: IMPOSTOR }];
    assert.deepEqual(resolveMentions('@George ça va ?', withImpostor), { mentions: [], ambiguous: ['@George'] });
    assert.deepEqual(resolveMentions('@Gеorge', withImpostor), { mentions: [], ambiguous: ['@Gеorge'] });
    // Capital I and small l (case-preserving skeleton): Ivan and lvan look alike.
    assert.deepEqual(resolveMentions('@Ivan', [{ name: 'Ivan', fingerprint: GEORGE }, { name: 'lvan', fingerprint: IMPOSTOR }]).ambiguous, ['@Ivan']);
  });

  it('a receiver is mentioned only when its fingerprint is listed, whatever the text says', () => {
    assert.equal(isMentioned([GEORGE], GEORGE), true);
    assert.equal(isMentioned([JEAN], GEORGE), false);
    assert.equal(isMentioned(undefined, GEORGE), false);
  });

  it('a receiver highlights only @names that bind to exactly one listed fingerprint', () => {
    const text = '@George et @Jean';
    assert.deepEqual(mentionHighlights(text, [GEORGE], members), [{ start: 0, end: 7, fingerprint: GEORGE }]);
    assert.deepEqual(mentionHighlights(text, undefined, members), []);
    // An impostor known to the receiver under a look-alike name: no highlight of the ambiguous @name.
    assert.deepEqual(mentionHighlights('@George', [IMPOSTOR], [...members, { name: 'Gеorge', fingerprint: IMPOSTOR }]), []);
  });

  it('spans are UTF-16 offsets of the whole @name, astral characters included', () => {
    const text = '😀 @George';
    const [span] = findMentions(text, members);
    assert.equal(text.slice(span!.start, span!.end), '@George');
  });

  it('at most 32 mentions, and a text full of @ stays cheap (256 are looked at)', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ name: `m${i}`, fingerprint: `${i.toString(16).toUpperCase().padStart(4, '0')} 0000 0000 0000 0000 0000 0000 0000` }));
    assert.equal(resolveMentions(many.map((m) => `@${m.name}`).join(' '), many).mentions.length, 32);
    assert.deepEqual(resolveMentions('@'.repeat(16_384), members).mentions, []);
    assert.deepEqual(resolveMentions(`${'@ '.repeat(300)}@George`, members).mentions, []);
  });
});
