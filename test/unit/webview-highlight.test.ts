// The snippet highlighter (webview/highlight.ts): tokens only classify text, they never add or
// lose any, so the panel shows exactly the code that was sent.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { grammarFor, highlight } from '../../webview/highlight';

describe('snippet highlighter', () => {
  it('classifies comments, strings, numbers and keywords', () => {
    const tokens = highlight('const x = "a//b"; // note\nreturn 42;', 'typescript');
    const of = (cls: string): string[] => tokens.filter((t) => t.cls === cls).map((t) => t.text);
    assert.deepEqual(of('keyword'), ['const', 'return']);
    assert.deepEqual(of('string'), ['"a//b"']);
    assert.deepEqual(of('comment'), ['// note']);
    assert.deepEqual(of('number'), ['42']);
  });

  it('knows Python triple-quoted strings and # comments', () => {
    const tokens = highlight('def f():\n    """doc\nmore"""  # c\n    return None', 'python');
    assert.ok(tokens.some((t) => t.cls === 'string' && t.text === '"""doc\nmore"""'));
    assert.ok(tokens.some((t) => t.cls === 'comment' && t.text === '# c'));
    assert.ok(tokens.some((t) => t.cls === 'literal' && t.text === 'None'));
  });

  it('leaves unknown languages as plain text', () => {
    assert.equal(grammarFor('brainfuck'), undefined);
    assert.deepEqual(highlight('+[-]>', 'brainfuck'), [{ text: '+[-]>' }]);
  });

  it('gives back exactly the input, for any text and language', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom('ts', 'python', 'go', 'rust', 'c', 'shell', 'json', 'css', 'sql', 'yaml', 'none'), (code, lang) => {
        return highlight(code, lang).map((t) => t.text).join('') === code;
      }),
      { numRuns: 400 },
    );
  });

  it('highlights a 40 KB snippet, unterminated strings and comments included', () => {
    const code = 'let s = "unterminated\n/* open comment '.concat('x = 1;\n'.repeat(6_000));
    assert.equal(highlight(code, 'ts').map((t) => t.text).join(''), code);
  });
});
