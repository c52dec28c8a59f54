// The host's runtime check of every message from the webview (src/shared/validate.ts): the
// webview is less trusted than the host, so anything but an exact, well-formed request is refused.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { isSafeHref, validateWebviewMessage } from '../../src/shared/validate';

const KEY = 'AAAAAAAAAAAAAAAAAAAAAA';
const FP = '21FE 31DF 0A1B 2C3D 4E5F 6071 8293 A4B5';
const req = (name: string, payload: unknown, id = 1): unknown => ({ kind: 'request', id, name, payload });

describe('webview message validator', () => {
  it('accepts every well-formed request', () => {
    const good: [string, unknown][] = [
      ['ready', {}], ['typing', {}], ['send', { text: 'hello' }], ['retry', { key: KEY }],
      ['openSnippet', { key: KEY }], ['loadOlder', { before: KEY }], ['loadNewer', { after: KEY }],
      ['loadNewest', {}], ['loadRange', { from: KEY, count: 1 }], ['loadRange', { from: KEY, count: 300 }],
      ['openLink', { href: 'https://example.com/a?b=c#d' }], ['openLink', { href: 'mailto:a@example.com' }],
      ['markRead', { seq: 0 }], ['markRead', { seq: 42 }], ['verifyMember', { name: 'Alice', fingerprint: FP }],
      ['runCommand', { command: 'smc.createRoom' }],
    ];
    for (const [name, payload] of good) {
      const r = validateWebviewMessage(req(name, payload));
      assert.equal(r.ok, true, `${name} ${JSON.stringify(payload)} was refused: ${r.ok ? '' : r.error}`);
    }
  });

  it('checks the chat features\' requests (issue 12): keys, emoji, fingerprints, sizes, lines', () => {
    const good: [string, unknown][] = [
      ['send', { text: 'hi', replyTo: KEY, mentions: [FP] }], ['react', { key: KEY, emoji: '👍' }], ['edit', { key: KEY, text: '' }],
      ['deleteMessage', { key: KEY }], ['mentionCandidates', { prefix: 'Bo' }], ['search', { query: 'relay crash' }],
      ['loadAround', { key: KEY }], ['sendFileBytes', { name: 'a.png', mime: 'image/png', data: 'iVBORw0KGgo=' }], ['pickFile', {}],
      ['saveFile', { key: KEY }], ['imageBytes', { key: KEY }], ['previewPatch', { key: KEY }], ['applyPatch', { key: KEY }],
      ['openRef', { path: 'src/a.ts', line: 3 }], ['setMuted', { muted: true }],
    ];
    for (const [name, payload] of good) {
      const r = validateWebviewMessage(req(name, payload));
      assert.equal(r.ok, true, `${name} ${JSON.stringify(payload)} was refused: ${r.ok ? '' : r.error}`);
    }
    const bad: [string, unknown][] = [
      ['send', { text: 'hi', replyTo: '../x' }], ['send', { text: 'hi', mentions: ['21fe 31df'] }],
      ['send', { text: 'hi', mentions: Array.from({ length: 33 }, () => FP) }], ['react', { key: KEY, emoji: '👍'.repeat(20) }],
      ['react', { key: KEY }], ['edit', { key: KEY, text: 'x'.repeat(16_385) }], ['search', { query: 'x'.repeat(201) }],
      ['sendFileBytes', { name: '', mime: 'image/png', data: '' }], ['sendFileBytes', { name: 'a', mime: 'image/png', data: '<script>' }],
      ['sendFileBytes', { name: 'a', mime: 'x', data: 'A'.repeat(Math.ceil((8 * 1024 * 1024) / 3) * 4 + 4) }],
      ['openRef', { path: 'a.ts', line: 0 }], ['openRef', { path: 'a.ts', line: 1.5 }], ['openRef', { path: '', line: 1 }],
      ['setMuted', { muted: 'yes' }], ['pickFile', { path: '/etc/passwd' }],
    ];
    for (const [name, payload] of bad) assert.equal(validateWebviewMessage(req(name, payload)).ok, false, `${name} ${JSON.stringify(payload).slice(0, 80)} was accepted`);
  });

  it('refuses frames that are not plain request objects', () => {
    for (const raw of [null, undefined, 1, 'x', [], [req('ready', {})], new Date(), Object.create({ kind: 'request' })]) {
      assert.equal(validateWebviewMessage(raw).ok, false, String(raw));
    }
    assert.equal(validateWebviewMessage({ kind: 'response', id: 1, name: 'ready', payload: {} }).ok, false);
    assert.equal(validateWebviewMessage({ kind: 'request', id: -1, name: 'ready', payload: {} }).ok, false);
    assert.equal(validateWebviewMessage({ kind: 'request', id: 1.5, name: 'ready', payload: {} }).ok, false);
    assert.equal(validateWebviewMessage({ kind: 'request', id: '1', name: 'ready', payload: {} }).ok, false);
    assert.equal(validateWebviewMessage({ ...(req('ready', {}) as object), extra: 1 }).ok, false);
  });

  it('refuses unknown names, including Object.prototype members', () => {
    for (const name of ['getKey', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '', 'READY']) {
      const r = validateWebviewMessage(req(name, {}));
      assert.equal(r.ok, false, name);
    }
  });

  it('refuses payloads with extra or mistyped fields', () => {
    const bad: [string, unknown][] = [
      ['ready', { x: 1 }], ['ready', null], ['ready', []], ['send', {}], ['send', { text: 1 }],
      ['send', { text: '   ' }], ['send', { text: 'a', room: KEY }], ['retry', { key: '../../etc' }],
      ['retry', { key: 'a'.repeat(65) }], ['retry', { key: 7 }], ['loadOlder', { before: '' }],
      ['loadNewest', { count: 5 }], ['loadRange', { from: KEY, count: 0 }], ['loadRange', { from: KEY, count: 301 }],
      ['loadRange', { from: KEY, count: 2.5 }], ['loadRange', { from: '../x', count: 5 }], ['loadRange', { from: KEY }],
      ['markRead', { seq: -1 }], ['markRead', { seq: 1.5 }], ['markRead', { seq: '3' }],
      ['markRead', { seq: Number.MAX_SAFE_INTEGER + 2 }],
      ['verifyMember', { name: 'A', fingerprint: '21FE 31DF' }], ['verifyMember', { name: '', fingerprint: FP }],
      ['verifyMember', { name: 'x'.repeat(65), fingerprint: FP }],
      ['runCommand', { command: 'workbench.action.terminal.sendSequence' }],
      ['runCommand', { command: 'smc.startRelay', args: ['--host', '0.0.0.0'] }],
    ];
    for (const [name, payload] of bad) {
      const r = validateWebviewMessage(req(name, payload));
      assert.equal(r.ok, false, `${name} ${JSON.stringify(payload)} was accepted`);
      if (!r.ok) assert.equal(r.id, 1, 'a refused request with an id is answered');
    }
  });

  it('refuses a message over 16 KiB of UTF-8 and accepts one exactly at it', () => {
    assert.equal(validateWebviewMessage(req('send', { text: 'a'.repeat(16_384) })).ok, true);
    assert.equal(validateWebviewMessage(req('send', { text: 'a'.repeat(16_385) })).ok, false);
    // 5 462 three-byte characters are 16 386 bytes though only 5 462 UTF-16 units.
    assert.equal(validateWebviewMessage(req('send', { text: '€'.repeat(5_462) })).ok, false);
  });

  it('lets only http(s) and mailto links through, without credentials', () => {
    for (const href of ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>',
      'vbscript:x', 'file:///etc/passwd', 'command:workbench.action.reloadWindow', 'vscode://smc-chat.smc/join',
      'https://user:pass@example.com/', '//example.com', '/relative', 'http://', 'x'.repeat(3000)]) {
      assert.equal(validateWebviewMessage(req('openLink', { href })).ok, false, href);
    }
    assert.equal(isSafeHref('HTTPS://EXAMPLE.COM'), true);
  });

  it('never echoes a payload value in its error', () => {
    fc.assert(
      fc.property(fc.string().map((s) => `\u2063${s}`), fc.constantFrom('send', 'retry', 'openLink', 'verifyMember', 'runCommand'), (secret, name) => {
        const r = validateWebviewMessage(req(name, { [secret]: secret, text: 5, key: secret, href: secret, command: secret }));
        return r.ok || !r.error.includes(secret);
      }),
    );
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        validateWebviewMessage(raw);
        validateWebviewMessage({ kind: 'request', id: 1, name: 'send', payload: raw });
        return true;
      }),
    );
  });
});
