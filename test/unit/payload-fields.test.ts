// Field rules of docs/protocol.md §2.3.1-2.3.6 beyond the vectors: the diffs git writes (renames,
// binary patches, mode changes, quoted names, "\ No newline") read to the right paths; a sender
// refuses what it may not send with a message for the user, and encodes what it may.
import { strict as assert } from 'node:assert';
import { generateMessageId } from '../../src/core/crypto';
import { encodePayload, parsePayload } from '../../src/core/crypto/payload';
import { DEFAULT_MIME, makeQuote, mimeForFileName, mimeProblem, patchPaths, patchPathProblem, resolveMentions } from '../../src/core/payload';

describe('patch paths (§2.3.6)', () => {
  it('reads the paths of the diffs git writes', () => {
    const cases: [string, string[]][] = [
      ['diff --git a/a.txt b/a.txt\nindex 1..2 100644\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\\ No newline at end of file\n', ['a.txt']],
      ['diff --git a/old b/new\nsimilarity index 100%\nrename from old\nrename to new\n', ['old', 'new']],
      ['diff --git a/a b/a\nold mode 100644\nnew mode 100755\n', ['a']],
      ['diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?wbhEHbbQ\n\nliteral 0\nHcmV?d00001\n\n', ['img.png']],
      ['diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n', ['img.png']],
      ['diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\nindex 1..0\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n', ['gone.txt']],
      ['diff --git "a/caf\\303\\251 menu.md" "b/caf\\303\\251 menu.md"\n--- "a/caf\\303\\251 menu.md"\n+++ "b/caf\\303\\251 menu.md"\n@@ -1 +1 @@\n-a\n+b\n', ['café menu.md']],
      ['diff --git a/d/x b/d/x\n--- a/d/x\n+++ b/d/x\n@@ -1 +1 @@\n--- a/not/a/header\n+++ b/not/a/header\n', ['d/x']],
      ['diff --git a/a b/a\r\n--- a/a\r\n+++ b/a\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n', ['a']],
    ];
    for (const [diff, paths] of cases) assert.deepEqual(patchPaths(diff), { ok: true, paths }, diff.slice(0, 60));
  });

  it('a control character in a quoted name is read, then refused by the path rule', () => {
    const diff = 'diff --git "a/x\\ty" "b/x\\ty"\n--- "a/x\\ty"\n+++ "b/x\\ty"\n@@ -1 +1 @@\n-a\n+b\n';
    assert.deepEqual(patchPaths(diff), { ok: false, reason: 'a path must hold no backslash, control or format character' });
  });

  it('accepts ordinary paths and the empty root', () => {
    for (const p of ['src/a.ts', '.github/workflows/ci.yml', '.gitignore', 'a/.gitkeep', 'docs/café.md', 'a..b/c']) assert.equal(patchPathProblem(p), undefined, p);
    assert.equal(patchPathProblem('', true), undefined);
    assert.notEqual(patchPathProblem(''), undefined);
  });
});

describe('senders (§2.3)', () => {
  const base = { id: generateMessageId(), ts: 1764100000000, name: 'George' };

  it('refuses a patch over 32 768 bytes and a reaction that is not RGI, with a message for the user', () => {
    assert.throws(() => encodePayload({ ...base, type: 'patch', patch: { root: '', paths: ['a'], diff: `diff --git a/a b/a\n${'+'.repeat(40_000)}` } }),
      /cannot be sent: patch\.diff must be at most 32768 bytes/);
    assert.throws(() => encodePayload({ ...base, type: 'reaction', target: generateMessageId(), emoji: '👍\u200D👍' }), /RGI_Emoji/);
  });

  it('encodes a reply whose quote is made by makeQuote and mentions resolved from the text, and reads it back', () => {
    const original = 'Rendez-vous\n**demain** à <b>14 h</b>';
    const text = '@Jacques oui';
    const jacques = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';
    const { mentions } = resolveMentions(text, [{ name: 'Jacques', fingerprint: jacques }]);
    const p = { ...base, type: 'text', text, reply: { to: generateMessageId(), from: jacques, quote: makeQuote(original) }, mentions };
    const parsed = parsePayload(encodePayload(p));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.payload, p);
    assert.equal(parsed.payload.reply!.quote, 'Rendez-vous **demain** à <b>14 h</b>');
  });
});

describe('media types by extension (§2.3.5)', () => {
  it('names common types, and application/octet-stream otherwise; every one passes the mime rule', () => {
    assert.equal(mimeForFileName('Screenshot.PNG'), 'image/png');
    assert.equal(mimeForFileName('fix.patch'), 'text/x-diff');
    assert.equal(mimeForFileName('a.tar.gz'), 'application/gzip');
    for (const n of ['Makefile', 'a.', 'a.exe', '.bashrc', 'x.__proto__', 'x.constructor']) assert.equal(mimeForFileName(n), DEFAULT_MIME, n);
    for (const n of ['a.png', 'a.jpg', 'a.svg', 'a.md', 'a.json', 'a.zip', 'a.bin']) assert.equal(mimeProblem(mimeForFileName(n)), undefined, n);
  });
});
