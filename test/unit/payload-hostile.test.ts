// The hostile corpus of docs/protocol.md §2.3.7, through the real envelope (seal, then open as a
// receiver: §2.4 step 4 applies the §2.3 rules): each hostile value in each new field is refused
// (the message "could not be verified" and nothing of it is shown) or kept inert (accepted as
// literal characters that the rules of §2.3 keep from acting: a quote is plain text, an SVG is
// never previewed). Senders get a clear error, and the helpers that make sendable values
// (sendableFileName, makeQuote) turn every hostile input into one the rules accept.
import { strict as assert } from 'node:assert';
import { generateIdentity, generateMessageId, generateRoomKey, Payload, RoomCipher } from '../../src/core/crypto';
import { sealEnvelope } from '../../src/core/crypto/envelope';
import { encodePayload } from '../../src/core/crypto/payload';
import { aesKey } from '../../src/core/crypto/primitives';
import { deriveMessageKey } from '../../src/core/crypto/roomKey';
import { isReactionEmoji, isSendableEmoji } from '../../src/core/payload/emoji';
import { fileNameProblem, isPreviewableImage, sendableFileName } from '../../src/core/payload/fileName';
import { patchPaths } from '../../src/core/payload/patchPaths';
import { makeQuote, quoteProblem } from '../../src/core/payload/quote';

const key = generateRoomKey();
const cipher = new RoomCipher(key);
const mkey = aesKey(deriveMessageKey(key));
const identity = generateIdentity();
const FP = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';

/** Seals a payload object as a hostile sender would (no sender checks) and opens it as a receiver. */
function receive(fields: Omit<Payload, 'id' | 'ts' | 'name'>): ReturnType<RoomCipher['open']> {
  const id = generateMessageId();
  const p = Buffer.from(JSON.stringify({ id, ts: 1764100000000, name: 'Mallory', ...fields }), 'utf8');
  return cipher.open(id, sealEnvelope(mkey, cipher.room, id, p, identity));
}

const fileWith = (name: string, mime = 'text/plain'): Omit<Payload, 'id' | 'ts' | 'name'> => ({
  type: 'file', file: { name, size: 3, mime, sha256: 'a'.repeat(64), chunks: 1 },
});
const replyWith = (quote: string): Omit<Payload, 'id' | 'ts' | 'name'> => ({
  type: 'text', text: 'ok', reply: { to: generateMessageId(), from: FP, quote },
});
const reactionWith = (emoji: string): Omit<Payload, 'id' | 'ts' | 'name'> => ({ type: 'reaction', target: generateMessageId(), emoji });

const HOSTILE_NAMES = [
  '../../.ssh/authorized_keys', 'a/b', 'a\\b', '..', '.', '', 'a\u0000.txt', 'a\n.txt', '\u001b[31m.txt',
  'photo\u202Egnp.exe', '\u2066a\u2069.txt', 'a\u200B.txt', '\uFEFFa.txt', 'in\u00ADvoice.pdf', '\u3164', '\u2800',
  'CON', 'nul.txt', 'COM1.log', 'lpt¹', 'a.', ' a', 'a ', 'a:b', 'a|b', 'a?b', 'a*b', 'a<b>', 'a"b', 'a'.repeat(256),
  'é'.repeat(128), '\uD800.txt', '\uE000.txt',
];

describe('the hostile corpus (§2.3.7)', () => {
  it('every hostile file name is refused by the receiver, and by the sender with a clear message', () => {
    for (const name of HOSTILE_NAMES) {
      const got = receive(fileWith(name));
      assert.equal(got.ok, false, JSON.stringify(name));
      assert.ok(!got.ok && got.reason.includes('file.name'), `${JSON.stringify(name)}: ${got.ok ? '' : got.reason}`);
      assert.throws(() => cipher.seal({ id: generateMessageId(), ts: 1, name: 'Me', ...fileWith(name) }, identity), /cannot be sent: file\.name/);
    }
  });

  it('sendableFileName makes an accepted name of every hostile one', () => {
    for (const name of HOSTILE_NAMES) {
      const safe = sendableFileName(name);
      assert.equal(fileNameProblem(safe), undefined, `${JSON.stringify(name)} -> ${JSON.stringify(safe)}`);
    }
    assert.equal(sendableFileName('../../etc/passwd'), '.._.._etc_passwd');
    assert.equal(sendableFileName('photo\u202Egnp.exe'), 'photo_gnp.exe');
    assert.equal(sendableFileName('CON.txt'), '_CON.txt');
    assert.ok(sendableFileName(`${'x'.repeat(300)}.tar.gz`).endsWith('x.gz'));
  });

  it('ordinary names are kept as they are', () => {
    for (const name of ['build log – 1.txt', 'photo.jpg', 'résumé.pdf', '日本語.md', '.env.example', 'console.log', 'a..b', 'COM10.txt', '❤️.png']) {
      assert.equal(fileNameProblem(name), undefined, name);
      assert.ok(receive(fileWith(name)).ok, name);
    }
  });

  it('a media type with parameters or upper case is refused; image/svg+xml is accepted and never previewed', () => {
    for (const mime of ['text/html; charset=utf-8', 'TEXT/HTML', 'text', '/x', 'a/b/c', `a/${'b'.repeat(130)}`]) {
      const got = receive(fileWith('a.txt', mime));
      assert.ok(!got.ok && got.reason.includes('file.mime'), mime);
    }
    assert.ok(receive(fileWith('a.svg', 'image/svg+xml')).ok);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
    assert.equal(isPreviewableImage('image/svg+xml', svg), false);
  });

  it('an image is previewed only when its bytes have the signature of its claimed raster type', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
    const gif = Buffer.from('GIF89a....');
    const webp = Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1');
    assert.ok(isPreviewableImage('image/png', png) && isPreviewableImage('image/jpeg', jpeg));
    assert.ok(isPreviewableImage('image/gif', gif) && isPreviewableImage('image/webp', webp));
    assert.equal(isPreviewableImage('image/jpeg', png), false);
    assert.equal(isPreviewableImage('image/png', Buffer.from('<html><script>alert(1)</script>')), false);
    assert.equal(isPreviewableImage('text/html', png), false);
    assert.equal(isPreviewableImage('image/png', Buffer.alloc(0)), false);
    assert.equal(isPreviewableImage('__proto__', png), false);
  });

  it('hostile emoji are refused; real ones, long ZWJ sequences and flags included, are accepted', () => {
    const longest = '🧑🏻‍❤️‍💋‍🧑🏼';
    for (const e of ['👍', '👍🏽', '❤️', '❤️‍🔥', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '1️⃣', '#️⃣', '👁️‍🗨️', longest]) {
      assert.ok(isReactionEmoji(e) && isSendableEmoji(e), e);
      assert.ok(receive(reactionWith(e)).ok, e);
    }
    const nine = Array.from({ length: 9 }, () => '👨').join('\u200D');
    for (const e of ['a', '1', '#', '👍👍', '\u200B', '👍\u200B', '\u200D👍', '👍\u200D', nine, '🏴' + '\u{E0061}'.repeat(16) + '\u{E007F}',
      '<b>', '👍\u202E', '👍\n', '🇫', '👍'.repeat(100), '']) {
      const got = receive(reactionWith(e));
      assert.ok(!got.ok && got.reason.includes('emoji'), JSON.stringify(e));
      assert.throws(() => encodePayload({ id: generateMessageId(), ts: 1, name: 'Me', ...reactionWith(e) }), /cannot be sent/);
    }
    // Possible but not RGI (a newer or made-up sequence): a receiver accepts it, a sender does not send it.
    assert.equal(isReactionEmoji('👍\u200D👍'), true);
    assert.equal(isSendableEmoji('👍\u200D👍'), false);
  });

  it('a quote with markup is accepted and kept as the exact literal characters (never rendered)', () => {
    for (const q of ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '**bold** _it_', '[x](javascript:alert(1))', '`code`', '&lt;&#x3c;', '\u200Bzero width', 'שלום \u200F עולם']) {
      const got = receive(replyWith(q));
      assert.ok(got.ok, q);
      assert.equal(got.payload.reply!.quote, q);
    }
  });

  it('a quote with a control character, a lone surrogate or a bidi embedding is refused', () => {
    for (const q of ['a\nb', 'a\rb', 'a\u0000', '\u001b[31mred', '\u0085', '\u202Egnp.exe', '\u2066x\u2069', '\u202Ax', '\uD800', 'é'.repeat(257)]) {
      const got = receive(replyWith(q));
      assert.ok(!got.ok && got.reason.includes('reply.quote'), JSON.stringify(q));
    }
  });

  it('makeQuote makes an accepted quote of any text, hostile ones included', () => {
    for (const t of ['line 1\nline 2\r\n\tline 3', '\u001b[31mred\u001b[0m', '\u202Egnp.exe', 'x'.repeat(2000), 'é'.repeat(600), '😀'.repeat(200), '']) {
      const q = makeQuote(t);
      assert.equal(quoteProblem(q), undefined, JSON.stringify(t).slice(0, 40));
    }
    assert.equal(makeQuote('line 1\n\nline 2'), 'line 1 line 2');
    assert.ok(makeQuote('x'.repeat(2000)).endsWith('…'));
  });

  it('hostile mentions are refused', () => {
    for (const mentions of [[], [FP.toLowerCase()], [FP, FP], Array.from({ length: 33 }, (_, i) => `${i.toString(16).toUpperCase().padStart(4, '0')} 0000 0000 0000 0000 0000 0000 0000`), ['@George'], [1]]) {
      const got = receive({ type: 'text', text: '@George', mentions: mentions as string[] });
      assert.ok(!got.ok && got.reason.includes('mentions'), JSON.stringify(mentions).slice(0, 60));
    }
  });

  it('hostile diffs are refused before anyone is asked to apply them', () => {
    const one = (path: string, extra = ''): string => `diff --git a/${path} b/${path}\n${extra}--- a/${path}\n+++ b/${path}\n@@ -1 +1 @@\n-a\n+b\n`;
    const hostile: [string, string][] = [
      ['..', one('../x')], ['absolute', one('/etc/passwd')], ['drive', one('C:/x')], ['url', one('file:x')],
      ['.git hooks', one('.git/hooks/pre-commit')], ['.GIT', one('.GIT/config')], ['.git. (Windows)', one('sub/.git./config')],
      ['git~1', one('GIT~1/config')], ['backslash', one('a\\..\\..\\x')], ['trailing dot', one('a./x')],
      ['symlink', `diff --git a/l b/l\nnew file mode 120000\nindex 0000000..1b3c0e3\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n`],
      ['submodule', `diff --git a/s b/s\nnew file mode 160000\nindex 0000000..1b3c0e3\n--- /dev/null\n+++ b/s\n@@ -0,0 +1 @@\n+Subproject commit 1b3c0e3\n`],
      ['mode change to a link', `diff --git a/l b/l\nold mode 100644\nnew mode 120000\n`],
      ['preamble', `From: x\n${one('a')}`], ['traditional first', `--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n${one('y')}`],
      ['hunk overrun', `${one('y')}+c\n`], ['cut short', `diff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -1,3 +1,3 @@\n a\n`],
      ['a header after the hunk', `${one('y')}rename to ../evil\n`], ['quoted escape', `diff --git "a/\\056\\056/x" "b/\\056\\056/x"\n`],
      ['quoted control', `diff --git "a/x\\033y" "b/x\\033y"\n`], ['invalid UTF-8 in quotes', `diff --git "a/\\377" "b/\\377"\n`],
      ['names nothing readable', `diff --git a/x b/y z\nsimilarity index 90%\n`],
    ];
    for (const [why, diff] of hostile) {
      assert.equal(patchPaths(diff).ok, false, why);
      const got = receive({ type: 'patch', patch: { root: '', paths: ['x'], diff } });
      assert.ok(!got.ok && got.reason.includes('patch'), why);
    }
  });

  it('a patch whose paths do not list what the diff touches is refused', () => {
    const diff = 'diff --git a/a.ts b/a.ts\n--- a/a.ts\n+++ b/a.ts\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/b.ts b/b.ts\n--- a/b.ts\n+++ b/b.ts\n@@ -1 +1 @@\n-a\n+b\n';
    assert.deepEqual(patchPaths(diff), { ok: true, paths: ['a.ts', 'b.ts'] });
    assert.ok(receive({ type: 'patch', patch: { root: '', paths: ['a.ts', 'b.ts'], diff } }).ok);
    for (const paths of [['a.ts'], ['b.ts', 'a.ts'], ['a.ts', 'b.ts', 'c.ts'], ['a.ts', 'README.md']]) {
      const got = receive({ type: 'patch', patch: { root: '', paths, diff } });
      assert.ok(!got.ok && got.reason.includes('patch.paths'), paths.join());
    }
  });

  it('fields a type does not take are dropped by the receiver and refused by the sender', () => {
    const got = receive({ type: 'reaction', target: generateMessageId(), emoji: '👍', text: 'hidden', file: { name: 'x', size: 0, mime: 'a/b', sha256: 'a'.repeat(64), chunks: 0 } });
    assert.ok(got.ok);
    assert.equal(got.payload.text, undefined);
    assert.equal(got.payload.file, undefined);
    assert.throws(() => encodePayload({ id: generateMessageId(), ts: 1, name: 'Me', type: 'text', text: 'x', emoji: '👍' }), /takes no emoji/);
    assert.throws(() => encodePayload({ id: generateMessageId(), ts: 1, name: 'Me', type: 'delete', target: generateMessageId(), text: 'x' }), /takes no text/);
  });

  it('nothing a sender adds travels further (extra keys inside reply, file and patch; __proto__)', () => {
    const id = generateMessageId();
    const json = `{"id":"${id}","ts":1,"name":"M","type":"text","text":"x","reply":{"to":"${generateMessageId()}","from":"${FP}","quote":"q","html":"<b>","__proto__":{"polluted":true}},"__proto__":{"polluted":true}}`;
    const got = cipher.open(id, sealEnvelope(mkey, cipher.room, id, Buffer.from(json), identity));
    assert.ok(got.ok);
    assert.deepEqual(Object.keys(got.payload.reply!), ['to', 'from', 'quote']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
