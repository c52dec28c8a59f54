// The pieces of `smc chat`'s features (src/cli/chatFeatures.ts): numbers on screen, the
// interactive commands and --json objects parsed into what they ask (and refused with a usage
// when malformed), received files kept within their bound, and a save that goes only where the
// user said: never over a file, through a link or into a folder under the sender's name.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateMessageId } from '../../src/core/crypto/index';
import {
  FeatureError, MAX_KEPT_FILE_BYTES, MAX_NUMBERED, MessageNumbers, ReceivedFiles, parseFeatureCommand, parseJsonInput, readFileToSend, saveReceivedFile,
} from '../../src/cli/chatFeatures';
import { formatMessage, PLAIN } from '../../src/cli/chatFormat';
import type { ChatMessage } from '../../src/core/client/index';

describe('smc chat features: parsing, numbers, files (chatFeatures.ts)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'smc-cli-features-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('numbers messages once each, keeps the newest MAX_NUMBERED', () => {
    const n = new MessageNumbers();
    const a = generateMessageId();
    assert.equal(n.number(a), 1);
    assert.equal(n.number(a), 1);
    for (let i = 0; i < MAX_NUMBERED; i++) n.number(generateMessageId());
    assert.equal(n.id(1), undefined, 'the oldest number is forgotten');
    assert.equal(n.of(a), undefined);
    assert.ok(n.id(MAX_NUMBERED + 1) !== undefined);
  });

  it('interactive commands: N resolved, usage errors, quoted paths', () => {
    const n = new MessageNumbers();
    const id = generateMessageId();
    n.number(id);
    assert.deepEqual(parseFeatureCommand('/reply', '1 ok then', n), { kind: 'reply', to: id, text: 'ok then' });
    assert.deepEqual(parseFeatureCommand('/react', '1 👍', n), { kind: 'reaction', target: id, emoji: '👍' });
    assert.deepEqual(parseFeatureCommand('/edit', '1 new', n), { kind: 'edit', target: id, text: 'new' });
    assert.deepEqual(parseFeatureCommand('/delete', '1', n), { kind: 'delete', target: id });
    assert.deepEqual(parseFeatureCommand('/save', '1 "my file.bin"', n), { kind: 'save', file: id, path: 'my file.bin' });
    assert.deepEqual(parseFeatureCommand('/send-file', '"a b.txt" the caption', n), { kind: 'file', path: 'a b.txt', text: 'the caption' });
    assert.equal(parseFeatureCommand('/who', '', n), undefined);
    assert.throws(() => parseFeatureCommand('/reply', 'x hi', n), /usage: \/reply N TEXT/);
    assert.throws(() => parseFeatureCommand('/reply', '7 hi', n), /no message \[7\]/);
    assert.throws(() => parseFeatureCommand('/delete', '1 2', n), FeatureError);
    assert.throws(() => parseFeatureCommand('/save', '1', n), /usage: \/save N PATH/);
  });

  it('--json objects: each type, malformed ones refused, other lines are text', () => {
    const id = generateMessageId();
    assert.equal(parseJsonInput('hello'), undefined);
    assert.equal(parseJsonInput('{"not":"typed"}'), undefined);
    assert.equal(parseJsonInput('{broken'), undefined);
    assert.deepEqual(parseJsonInput(JSON.stringify({ type: 'reply', to: id, text: 'x' })), { kind: 'reply', to: id, text: 'x' });
    assert.deepEqual(parseJsonInput(JSON.stringify({ type: 'react', target: id, emoji: '🎉' })), { kind: 'reaction', target: id, emoji: '🎉' });
    assert.deepEqual(parseJsonInput(JSON.stringify({ type: 'file', path: '/tmp/a' })), { kind: 'file', path: '/tmp/a' });
    assert.deepEqual(parseJsonInput(JSON.stringify({ type: 'save', file: id, path: 'out.bin' })), { kind: 'save', file: id, path: 'out.bin' });
    assert.throws(() => parseJsonInput(JSON.stringify({ type: 'reply', to: '../x', text: 'x' })), /"to" must be a message id/);
    assert.throws(() => parseJsonInput(JSON.stringify({ type: 'edit', target: id })), /"text" must be a string/);
    assert.throws(() => parseJsonInput(JSON.stringify({ type: 'text', text: 'x', mentions: ['bob'] })), /fingerprints/);
    assert.throws(() => parseJsonInput(JSON.stringify({ type: 'launch' })), /unknown "type"/);
  });

  it('received files: the oldest go past MAX_KEPT_FILE_BYTES, a deleted one at once', () => {
    const files = new ReceivedFiles();
    const info = { name: 'a', size: 0, mime: 'application/octet-stream', sha256: '0'.repeat(64), chunks: 0 };
    const big = new Uint8Array(MAX_KEPT_FILE_BYTES / 2);
    const ids = [generateMessageId(), generateMessageId(), generateMessageId()];
    for (const file of ids) files.keep({ room: 'r', file, state: 'complete', info, fingerprint: 'f', bytes: big });
    assert.equal(files.get(ids[0]!), undefined);
    assert.ok(files.get(ids[1]!) && files.get(ids[2]!));
    files.forget(ids[2]!);
    assert.equal(files.get(ids[2]!), undefined);
  });

  it('saves only to a new file at the path given: not over a file, a folder or a link', async () => {
    const bytes = Buffer.from('payload');
    await saveReceivedFile(bytes, join(dir, 'new.bin'));
    assert.ok(readFileSync(join(dir, 'new.bin')).equals(bytes));
    writeFileSync(join(dir, 'taken'), 'mine');
    await assert.rejects(saveReceivedFile(bytes, join(dir, 'taken')), /exists; choose another path/);
    await assert.rejects(saveReceivedFile(bytes, dir), /is a folder/);
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    await assert.rejects(saveReceivedFile(bytes, join(dir, 'link')), /exists/);
    assert.deepEqual(readdirSync(dir).sort(), ['link', 'new.bin', 'taken'], 'nothing written through the link');
    assert.equal(readFileSync(join(dir, 'taken'), 'utf8'), 'mine');
  });

  it('reads a file to send: its base name made sendable, a media type; over 8 MiB refused before reading', async () => {
    writeFileSync(join(dir, 'notes.md'), '# hi');
    const f = await readFileToSend(join(dir, 'notes.md'), 'cap');
    assert.equal(f.name, 'notes.md');
    assert.equal(f.mime, 'text/markdown');
    assert.equal(f.text, 'cap');
    writeFileSync(join(dir, 'big'), Buffer.alloc(8 * 1024 * 1024 + 1));
    await assert.rejects(readFileToSend(join(dir, 'big')), /at most 8388608 bytes/);
    await assert.rejects(readFileToSend(dir), /is not a file/);
  });

  it('hostile fields render inert: a quote, a file name, an emoji with controls', () => {
    const m: ChatMessage = {
      room: 'r', ts: 0, id: generateMessageId(), name: 'eve\u001b[2J', fingerprint: 'F', shortFingerprint: 'AAAA BBBB', type: 'file',
      text: 'see \u202Eexe.txt', verified: true, keyChanged: false, own: false, history: false,
      file: { name: 'a\u200Bb.txt', size: 3, mime: 'text/plain', sha256: '0'.repeat(64), chunks: 1 },
      reply: { to: generateMessageId(), from: 'F', quote: '\u001b]52;c;bad\u0007' },
      reactions: [{ emoji: '👍\u001b[31m', signers: ['x'] }],
    };
    const out = formatMessage(m, PLAIN);
    for (const c of ['\u001b', '\u0007', '\u202E', '\u200B']) assert.ok(!out.includes(c), out);
    assert.match(out, /\\u\{1B\}/);
    assert.match(out, /a\\u\{200B\}b\.txt/);
  });
});
