// The panel's pure feature helpers (webview/features.ts): code references, @mention spans and
// completion, emoji, diff line classes.
import { strict as assert } from 'node:assert';
import { completeMention, diffLineClass, findCodeRefs, findMentionSpans, formatBytes, looksLikeOneEmoji, mentionQuery } from '../../webview/features';

describe('panel feature helpers (issue 12)', () => {
  it('finds path:line references, and not what leaves the workspace or is no path', () => {
    assert.deepEqual(findCodeRefs('see src/relay/server.ts:120 and README.md:3:7.').map((r) => [r.path, r.line]), [['src/relay/server.ts', 120], ['README.md', 3]]);
    assert.deepEqual(findCodeRefs('../etc/passwd.txt:1 /etc/x.conf:2 a/./b.ts:3 x.ts:0 12:30 http://h.com/a.ts:4 nofile:5'), []);
    assert.deepEqual(findCodeRefs('`pkg/a_b-c.go:7`').map((r) => r.path), ['pkg/a_b-c.go']);
  });

  it('finds the given @names, longest first, never overlapping', () => {
    assert.deepEqual(findMentionSpans('@Bob and @Bobby, @Bob', ['@Bob', '@Bobby']), [{ start: 0, end: 4 }, { start: 9, end: 15 }, { start: 17, end: 21 }]);
    assert.deepEqual(findMentionSpans('no mention', ['@Bob']), []);
  });

  it('knows the @ being typed and completes it', () => {
    assert.deepEqual(mentionQuery('hi @Bo', 6), { at: 3, prefix: 'Bo' });
    assert.deepEqual(mentionQuery('@', 1), { at: 0, prefix: '' });
    assert.equal(mentionQuery('mail a@b', 8), undefined);
    assert.equal(mentionQuery('hi @Bo ', 7), undefined);
    assert.deepEqual(completeMention('hi @Bo!', 3, 6, 'Bob'), { text: 'hi @Bob !', caret: 8 });
  });

  it('takes one emoji, not letters, digits or several', () => {
    for (const e of ['👍', '❤️', '👩‍💻', '🇫🇷', '1️⃣']) assert.ok(looksLikeOneEmoji(e), e);
    for (const e of ['a', '1', '👍👍', '', '\u200B', '🇫']) assert.ok(!looksLikeOneEmoji(e), JSON.stringify(e));
  });

  it('classes diff lines and formats sizes', () => {
    assert.deepEqual(['@@ -1 +1 @@', '+++ b/x', '+a', '-b', ' c', 'diff --git a/x b/x'].map(diffLineClass), ['hunk', 'meta', 'add', 'del', 'ctx', 'meta']);
    assert.deepEqual([10, 2048, 300_000, 8 * 1024 * 1024].map(formatBytes), ['10 B', '2.0 KB', '293 KB', '8.0 MB']);
  });
});
