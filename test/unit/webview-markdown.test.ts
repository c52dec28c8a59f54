// Markdown of chat messages (webview/markdown.ts), rendered in Node with the same markdown-it
// setup the panel uses: a hostile corpus must come out with no active content (no element the
// sender chose, no event handler, no script or data URL, no remote image) and bidi controls
// visible.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { MAX_NESTING, capNesting, isAllowedLink, renderMarkdown } from '../../webview/markdown';
import { hasBidiControls, neutraliseBidi, displayName } from '../../webview/text';

/** Tags markdown-it may emit for our configuration; anything else means raw HTML got through. */
const ALLOWED_TAGS = new Set(['p', 'br', 'em', 'strong', 's', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'hr',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);

function assertInert(html: string, source: string): void {
  const where = `for input ${JSON.stringify(source.slice(0, 120))}\n-> ${html.slice(0, 300)}`;
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g)) {
    const tag = (m[1] ?? '').toLowerCase();
    assert.ok(ALLOWED_TAGS.has(tag), `tag <${tag}> ${where}`);
    const attrs = m[2] ?? '';
    // markdown-it writes every attribute as name="value" with `"` escaped: parse exactly that,
    // and nothing may remain outside such pairs.
    const pair = /\s([a-zA-Z-]+)="([^"]*)"/g;
    assert.equal(attrs.replace(pair, '').trim(), '', `unparsed attribute text ${where}`);
    for (const a of attrs.matchAll(pair)) {
      const name = (a[1] ?? '').toLowerCase();
      assert.ok(['href', 'title', 'rel', 'class', 'start', 'style'].includes(name), `attribute ${name} ${where}`);
      if (name === 'href') assert.match(a[2] ?? '', /^(https?:\/\/|mailto:)/i, `link target ${where}`);
    }
  }
  assert.doesNotMatch(html, /<img|<script|<iframe|<svg|<object|<embed|<style|<link|<meta|<form|<input/i, where);
  assert.doesNotMatch(html, /href="\s*(javascript|data|vbscript|file|command|vscode):/i, where);
}

const HOSTILE = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '<a href="javascript:alert(1)">x</a>',
  '<svg onload=alert(1)>',
  '<iframe src="https://evil.example"></iframe>',
  '<style>body{display:none}</style>',
  '<div onclick="alert(1)">click</div>',
  '[click](javascript:alert(1))',
  '[click](JaVaScRiPt:alert(1))',
  '[click](  javascript:alert(1))',
  '[click](java\nscript:alert(1))',
  '[click](javascript&#58;alert(1))',
  '[click](&#106;avascript:alert(1))',
  '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[click](vbscript:msgbox(1))',
  '[click](file:///etc/passwd)',
  '[click](command:workbench.action.terminal.new)',
  '[click](vscode://smc-chat.smc/join?invite=x)',
  '<javascript:alert(1)>',
  '<https://example.com" onmouseover="alert(1)>',
  '![beacon](https://tracker.example/pixel.gif?user=me)',
  '![beacon][ref]\n\n[ref]: https://tracker.example/p.gif',
  '[![nested](https://tracker.example/i.png)](https://example.com)',
  '[x](https://example.com "title\\" onmouseover=\\"alert(1)")',
  '[x](<https://example.com> "t")',
  '`<script>alert(1)</script>`',
  '```html\n<script>alert(1)</script>\n```',
  '<!-- comment --><b>bold</b>',
  '&lt;script&gt; &#60;script&#62;',
  'www.example.com/path?q=<script>',
  'mailto:someone@example.com',
  '> <img src=x onerror=alert(1)>',
  '| a | b |\n|:-|-:|\n| <script> | [x](javascript:1) |',
  '<a href=https://example.com>raw</a>',
  '[ref]\n\n[ref]: javascript:alert(1)',
];

describe('Markdown rendering of hostile messages', () => {
  it('renders every item of the hostile corpus inert', () => {
    for (const s of HOSTILE) assertInert(renderMarkdown(s), s);
  });

  it('shows raw HTML as text rather than dropping it', () => {
    const html = renderMarkdown('<script>alert(1)</script>');
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  it('does not turn Markdown images into images: no remote fetch', () => {
    const html = renderMarkdown('![beacon](https://tracker.example/pixel.gif)');
    assert.doesNotMatch(html, /<img/);
    assert.ok(html.includes('beacon'), 'the alt text is still shown');
  });

  it('keeps http(s) and mailto links, marked so the panel can intercept them', () => {
    const html = renderMarkdown('see [docs](https://example.com/a) or mail <mailto:a@example.com> or https://example.org');
    assert.match(html, /<a href="https:\/\/example\.com\/a" rel="noopener noreferrer nofollow" class="md-link">docs<\/a>/);
    assert.match(html, /href="mailto:a@example\.com"/);
    assert.match(html, /href="https:\/\/example\.org"/);
  });

  it('makes bidi control characters visible (Trojan Source)', () => {
    const s = 'access \u202Eevil\u202C level \u2066x\u2069 \u200F';
    const html = renderMarkdown(s);
    assert.equal(hasBidiControls(html), false);
    assert.match(html, /⟦U\+202E⟧evil⟦U\+202C⟧/);
    assert.equal(hasBidiControls(neutraliseBidi(s)), false);
    assert.equal(displayName('\u202Eadmin'), '⟦U+202E⟧admin');
    assert.equal(displayName('a\u0000b\nc'), 'a⟦U+0000⟧b⟦U+000A⟧c');
  });

  it('renders a 16 KiB message in full', () => {
    const para = 'lorem ipsum **dolor** sit amet, `code` [link](https://example.com) ';
    const text = para.repeat(Math.floor(16_384 / para.length));
    const html = renderMarkdown(text);
    assertInert(html, text.slice(0, 50));
    assert.equal((html.match(/<strong>dolor<\/strong>/g) ?? []).length, Math.floor(16_384 / para.length));
    const lines = Array.from({ length: 800 }, (_, i) => `line ${i} <b>x</b>`).join('\n');
    assertInert(renderMarkdown(lines), 'many lines');
  });

  it('emits no active content for any input (random Markdown-ish strings)', () => {
    const piece = fc.constantFrom('<', '>', '[', ']', '(', ')', '!', '`', '"', "'", '=', ' ', '\n', 'javascript:', 'data:',
      'on', 'onerror', 'img', 'script', 'a href', 'https://x.example', ':', '&#', ';', '*', '_', '|', '-', '\\', 'www.', '@');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }).map((a) => a.join('')), (s) => {
        assertInert(renderMarkdown(s), s);
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('link validator allows only http(s) and mailto', () => {
    assert.equal(isAllowedLink('https://example.com'), true);
    assert.equal(isAllowedLink('mailto:a@b.c'), true);
    for (const u of ['javascript:alert(1)', 'data:,x', '/relative', '#frag', 'ftp://x', 'command:x']) assert.equal(isAllowedLink(u), false, u);
  });
});

describe('Markdown tables and deep nesting (issue 11)', () => {
  it('aligns table columns with classes, never a style attribute (the CSP refuses inline styles)', () => {
    const html = renderMarkdown('| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |');
    assert.doesNotMatch(html, /style=/);
    assert.match(html, /<th class="align-left">a<\/th>/);
    assert.match(html, /<td class="align-center">2<\/td>/);
    assert.match(html, /<td class="align-right">3<\/td>/);
    assert.match(html, /<td>4<\/td>/);
  });

  it('keeps the text of a quote nested 1 000 deep, at most MAX_NESTING quotes', () => {
    const html = renderMarkdown(`${'>'.repeat(1000)} deep text`);
    assert.match(html, /deep text/);
    assert.equal((html.match(/<blockquote>/g) ?? []).length, MAX_NESTING);
  });

  it('keeps the text of a list nested 500 deep, at most MAX_NESTING lists', () => {
    const html = renderMarkdown(`${'- '.repeat(500)}deep item`);
    assert.match(html, /deep item/);
    assert.equal((html.match(/<ul>/g) ?? []).length, MAX_NESTING);
  });

  it('keeps the text of a list nested by indentation as deep as 16 KiB allows', () => {
    let src = '';
    let indent = '';
    while (Buffer.byteLength(src) + indent.length * 2 < 16_000) {
      src += `${indent}- level\n`;
      indent += '  ';
    }
    const html = renderMarkdown(`${src}${indent}- deepest item`);
    assert.match(html, /deepest item/);
  });

  it('leaves shallow nesting, and text that only looks like markers, alone', () => {
    for (const src of ['> > quoted twice', '- a\n  - b', '1. one\n2. two', 'a > b > c', 'x - y - z', '> - > - mixed']) {
      assert.equal(capNesting(src), src, src);
    }
    assert.equal(capNesting(`  ${'> '.repeat(20)}t`), `  ${'> '.repeat(MAX_NESTING)}t`);
  });
});
