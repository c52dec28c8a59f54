// Hidden characters made visible wherever the panel or the host shows a string from the network
// (src/shared/visibleText.ts, issue 11: "pay" + U+200B + "pal.com" was invisible in the panel): message text
// and code, names, snippet paths, link addresses, the status bar. Emoji sequences stay intact.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { markInvisible, shownAddress, visibleText } from '../../src/shared/visibleText';
import { renderMarkdown } from '../../webview/markdown';
import { displayName, visibleLine } from '../../webview/text';
import { statusView } from '../../src/vscode/statusText';

const EMOJI = ['👩\u200D💻', '🏳\uFE0F\u200D🌈', '🏃🏽\u200D♀\uFE0F', '❤\uFE0F', '1\uFE0F\u20E3', '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}', '👍🏽'];

describe('hidden characters made visible (src/shared/visibleText.ts)', () => {
  it('shows a zero-width space inside a message, a link text and a code span', () => {
    const html = renderMarkdown('pay\u200Bpal.com, `pay\u200Bpal` and [pay\u200Bpal.com](https://pay\u200Bpal.com)');
    assert.doesNotMatch(html, /\u200B/);
    assert.equal((html.match(/pay⟦U\+200B⟧pal/g) ?? []).length, 3, html);
  });

  for (const [what, c] of [
    ['zero-width space', '\u200B'], ['zero-width non-joiner', '\u200C'], ['zero-width joiner between letters', '\u200D'], ['word joiner', '\u2060'],
    ['soft hyphen', '\u00AD'], ['Hangul filler', '\u3164'], ['BOM', '\uFEFF'], ['tag character', '\u{E0041}'], ['variation selector', '\uFE0F'],
    ['right-to-left override', '\u202E'], ['first strong isolate', '\u2068'], ['Arabic letter mark', '\u061C'], ['line separator', '\u2028'],
    ['combining grapheme joiner', '\u034F'], ['blank Braille pattern', '\u2800'], ['escape', '\u001B'], ['DEL', '\u007F'],
  ] as const) {
    it(`shows a ${what} in text, names and paths`, () => {
      const cp = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      const mark = `⟦U+${cp}⟧`;
      assert.equal(visibleText(`a${c}b`), `a${mark}b`);
      assert.equal(displayName(`a${c}b`), `a${mark}b`);
      assert.equal(visibleLine(`src/a${c}b.ts`), `src/a${mark}b.ts`);
    });
  }

  it('leaves emoji sequences intact: ZWJ sequences, presentation selectors, keycaps, flags, skin tones', () => {
    for (const e of EMOJI) {
      assert.equal(visibleText(`hi ${e}!`), `hi ${e}!`, JSON.stringify(e));
      assert.equal(displayName(`${e} Ann`), `${e} Ann`, JSON.stringify(e));
    }
    assert.match(renderMarkdown('coding 👩\u200D💻 now'), /coding 👩\u200D💻 now/);
  });

  it('still marks a ZWJ that joins no emoji, or that dangles after one', () => {
    assert.equal(visibleText('👩\u200Dx'), '👩⟦U+200D⟧x');
    assert.equal(visibleText('a\u200D👩'), 'a⟦U+200D⟧👩');
    assert.equal(visibleText('👩\u200D'), '👩⟦U+200D⟧');
  });

  it('keeps newlines and tabs in text, marks them in single-line strings', () => {
    assert.equal(visibleText('a\n\tb\r\nc'), 'a\n\tb\nc');
    assert.equal(markInvisible('a\nb\tc'), 'a⟦U+000A⟧b⟦U+0009⟧c');
  });

  it('names also mark private-use and unassigned code points; text leaves them to the font', () => {
    assert.equal(displayName('ann\uE000'), 'ann⟦U+E000⟧');
    assert.equal(visibleText('icon \uE000'), 'icon \uE000');
  });

  it('shows the address of a link decoded, with its hidden characters marked', () => {
    const shown = shownAddress('https://pay%E2%80%8Bpal.com/');
    assert.match(shown, /^https:\/\/pay⟦U\+200B⟧pal\.com\//);
    assert.match(shown, /as sent: https:\/\/pay%E2%80%8Bpal\.com\//);
    assert.equal(shownAddress('https://example.com/a'), 'https://example.com/a');
    assert.equal(shownAddress('https://example.com/%E0%A4%A'), 'https://example.com/%E0%A4%A');
    assert.equal(shownAddress('https://ex\u202Eample.com'), 'https://ex⟦U+202E⟧ample.com');
  });

  it('shows hidden characters of a room name in the status bar and its tooltip', () => {
    const v = statusView({ relay: '127.0.0.1:1', online: 1, unread: 2, state: 'connected', roomName: 'te\u200Bam\u202E', unreadRooms: [{ name: 'te\u200Bam\u202E', count: 2 }] });
    assert.match(v.text, /te⟦U\+200B⟧am⟦U\+202E⟧/);
    assert.match(v.tooltip, /te⟦U\+200B⟧am⟦U\+202E⟧/);
    assert.doesNotMatch(v.text + v.tooltip, /[\u202E]/);
  });

  it('never leaves a hidden character outside an emoji sequence (any string)', () => {
    const hidden = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
    fc.assert(fc.property(fc.array(fc.constantFrom('a', ' ', '\u200B', '\u200D', '\u202E', '\uFE0F', '\u00AD', '👩', '💻', '\u2066', '\u0007', 'é')).map((a) => a.join('')), (s) => {
      for (const shown of [markInvisible(s), displayName(s)]) {
        // What is left hidden is only inside an emoji ZWJ sequence: remove those and nothing is.
        const outside = shown.replace(/\p{Extended_Pictographic}\uFE0F?(?:\u200D\p{Extended_Pictographic}\uFE0F?)+|\p{Emoji}\uFE0F/gu, '');
        assert.doesNotMatch(outside, hidden, JSON.stringify(s));
      }
    }));
  });
});
