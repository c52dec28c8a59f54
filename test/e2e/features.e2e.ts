// End to end, the chat features of issue 12 (docs/protocol.md §2.3.1-2.3.6) in a real browser
// against a real VS Code (code-server) with the packaged extension: Alice uses the chat panel;
// Bob is the client core's RelayClient in this process, over a real TCP connection to the relay
// Alice starts with SMC: Start Relay. Every flow goes through the relay: reply, react, edit,
// delete, @mention completion and notification, mute, a pasted image, a saved file, search, a
// shared and applied diff, references that open code, and a hostile corpus through the new fields.
// The steps run in order and share one code-server, one page and one relay.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Browser, Frame } from 'playwright-core';
import {
  aliceSettings, screenshotFailures, CodeServer, Workbench, RESULTS_DIR, freePort, hostPathsFromEnv, launchBrowser, makeTempDir, stopAll, waitFor,
} from './harness';
import { CANVAS_PIXEL, PASTE, png } from './media';
import { seedRoom } from './seed';
import { RelayClient } from '../../src/core/client';
import type { ChatMessage, EffectEvent, FileEvent } from '../../src/core/client/types';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { fingerprint, formatInvite, generateIdentity, generateRoomKey } from '../../src/core/crypto';
import { makeQuote } from '../../src/core/payload';

const GREET_TS = [
  '// A small file to share from.',
  'export function greet(name: string): string {',
  '  return `Hello, ${name}!`;',
  '}',
  '',
].join('\n');

function print(msg: string): void {
  console.log(`      [e2e] ${msg}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** Bob: the client core in this process, with everything it receives. */
class Peer {
  readonly messages: ChatMessage[] = [];
  readonly effects: EffectEvent[] = [];
  readonly files: FileEvent[] = [];
  readonly client: RelayClient;
  readonly room: string;
  readonly fingerprint: string;
  constructor(port: number, key: Uint8Array, roomName: string, name: string) {
    const identity = generateIdentity();
    this.fingerprint = fingerprint(identity.publicKey);
    this.client = new RelayClient({ host: '127.0.0.1', port, agent: 'e2e-bob', identity, displayName: name, transport: createTcpTransport });
    this.client.on('message', (m) => this.messages.push(m));
    this.client.on('effects', (e) => this.effects.push(e));
    this.client.on('file', (f) => this.files.push(f));
    this.room = this.client.join({ key, name: roomName }).room;
    this.client.connect();
  }
  message(what: string, pred: (m: ChatMessage) => boolean): Promise<ChatMessage> {
    return waitFor(what, () => this.messages.find(pred), 60_000);
  }
  effect(what: string, pred: (e: EffectEvent) => boolean): Promise<EffectEvent> {
    return waitFor(what, () => this.effects.find(pred), 60_000);
  }
  text(text: string, extra: Record<string, unknown> = {}): string {
    return this.client.sendPayload(this.room, { type: 'text', text, ...extra }).id;
  }
}

describe('SMC chat features in a real browser (issue 12): reply, react, edit, delete, mentions, files, search, diffs', function () {
  this.timeout(180_000);
  const vsix = process.env.SMC_VSIX ?? '';
  let server: CodeServer;
  let browser: Browser;
  let wb: Workbench;
  let workspace: string;
  let relayPort: number;
  let bob: Peer;
  let aliceFp = '';
  /** Bob's first message (own messages are not echoed to their sender: kept by id). */
  let hiId = '';
  const hiText = 'Hi Alice, the build of src/greet.ts:2 fails for me';
  /** A message of Bob's at the newest end, for the steps after the history one. */
  let reactId = '';
  const reactText = 'Ship the release today?';
  const key = generateRoomKey();

  before(async function () {
    this.timeout(240_000);
    if (!vsix || !existsSync(vsix)) throw new Error('SMC_VSIX must name the packaged extension (scripts/test-host.mjs packages it)');
    const paths = hostPathsFromEnv();
    workspace = makeTempDir('ws-features');
    mkdirSync(join(workspace, 'src'));
    writeFileSync(join(workspace, 'src', 'greet.ts'), GREET_TS);
    // A git repository, so that SMC: Share Diff has a working tree to diff.
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: workspace, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' } });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'start');
    relayPort = await freePort();
    server = await CodeServer.start(paths, {
      name: 'alice-features',
      workspace,
      install: [vsix],
      settings: aliceSettings(relayPort),
    });
    browser = await launchBrowser(paths);
    wb = await Workbench.open(browser, server);
  });

  screenshotFailures('features-', () => wb);

  after(async function () {
    this.timeout(60_000);
    await bob?.client.disconnect().catch(() => undefined);
    await stopAll();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  async function frame(): Promise<Frame> {
    return wb.webviewFrame();
  }

  /** The panel's item of a message, by its id. */
  function byKey(key: string) {
    return wb.webview().locator(`#messages .message[data-key="${key}"]`);
  }

  /** The panel's item of a message, by its text. */
  function item(text: string | RegExp) {
    return wb.webview().locator('#messages .message', { hasText: text });
  }

  const openChat = (): Promise<void> => wb.openChat();

  async function typeAndSend(text: string): Promise<void> {
    const composer = wb.webview().locator('#composer textarea');
    await composer.fill(text);
    await composer.press('Enter');
  }

  it('starts a relay, joins a room, and Bob (the client core) talks to Alice', async () => {
    await wb.runCommand('SMC: Start Relay');
    await waitFor(`a relay listening on ${relayPort}`, async () => ((await portOpen(relayPort)) ? true : undefined), 60_000);
    const invite = formatInvite({ host: '127.0.0.1', port: relayPort, name: 'features', key });
    await wb.runCommand('SMC: Join Room');
    await wb.pick(/Paste an invite link/);
    await wb.answerInput(invite, { promptContains: 'Paste the invite link' });
    await wb.statusItem(/features/).first().waitFor({ state: 'visible', timeout: 60_000 });
    await openChat();
    bob = new Peer(relayPort, key, 'features', 'Bob');
    await wb.statusItem(/2 online/).first().waitFor({ state: 'visible', timeout: 60_000 });
    hiId = bob.text(hiText);
    await item('the build of').waitFor({ state: 'visible', timeout: 60_000 });
    await typeAndSend('Hello Bob');
    const hello = await bob.message('Alice\'s hello at Bob', (m) => m.text === 'Hello Bob');
    aliceFp = hello.fingerprint;
  });

  it('a reference like src/greet.ts:2 opens that line of the reader\'s workspace', async () => {
    const ref = byKey(hiId).locator('button.code-ref', { hasText: 'src/greet.ts:2' });
    await ref.click();
    await wb.page.locator('.tabs-container .tab.active', { hasText: 'greet.ts' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.cursorAt(2);
    await openChat();
  });

  it('replies with a quote; a click on the quote scrolls to the original, also one older than what is loaded', async () => {
    // Reply to Bob's message from the panel: Bob receives a reply naming it, with its quote.
    const target = byKey(hiId);
    await target.hover();
    await target.locator('.act-reply').click();
    await wb.webview().locator('#reply-bar', { hasText: 'Replying to Bob' }).waitFor({ state: 'visible', timeout: 30_000 });
    await typeAndSend('Which line exactly?');
    const reply = await bob.message('Alice\'s reply at Bob', (m) => m.text === 'Which line exactly?');
    assert.equal(reply.reply?.to, hiId);
    assert.equal(reply.reply?.from, bob.fingerprint);
    assert.equal(reply.reply?.quote, makeQuote(hiText));
    await item('Which line exactly?').locator('.reply-quote', { hasText: 'Bob' }).waitFor({ state: 'visible', timeout: 30_000 });

    // An original far above what the panel loaded: 400 messages after it, then Bob's reply to it.
    const early = bob.text('An early message to come back to');
    await byKey(early).waitFor({ state: 'visible', timeout: 60_000 });
    await seedRoom('127.0.0.1', relayPort, key, 400, 'Carol');
    await item('Seeded message 400').waitFor({ state: 'visible', timeout: 120_000 });
    bob.text('About that early one', { reply: bob.client.replyTo(bob.room, early) });
    await item('About that early one').waitFor({ state: 'visible', timeout: 60_000 });
    // A reloaded window: the extension host holds only the newest 200 of the room (§1.4), so the
    // original is neither in the panel nor in the host, only on the relay.
    await wb.runCommand('Developer: Reload Window');
    await wb.waitUntilReady();
    await openChat();
    await item('About that early one').waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await byKey(early).count(), 0, 'the original is still in the window: the test proves nothing');
    await item('About that early one').locator('.reply-quote').click();
    await byKey(early).waitFor({ state: 'visible', timeout: 60_000 });
    const inView = await (await frame()).evaluate(`(() => {
      const el = document.querySelector('.message[data-key="${early}"]');
      const box = document.querySelector('#messages').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    })()`);
    assert.equal(inView, true, 'the original is loaded but not scrolled into view');
    await wb.screenshot('features-reply-jump');
    // Back to the newest for the next steps, and a message of Bob's there.
    await wb.runCommand('View: Close All Editors');
    await openChat();
    reactId = bob.text(reactText);
    await byKey(reactId).waitFor({ state: 'visible', timeout: 60_000 });
  });

  it('reacts with the small set and any emoji, shows who reacted, and a second click removes it', async () => {
    const target = byKey(reactId);
    await target.hover();
    await target.locator('.act-react').click();
    await wb.webview().locator('#emoji-picker .pick-emoji', { hasText: '👍' }).click();
    const thumbs = target.locator('.reaction', { hasText: '👍' });
    await thumbs.waitFor({ state: 'visible', timeout: 30_000 });
    const e1 = await bob.effect('Alice\'s 👍 at Bob', (e) => e.effect.type === 'reaction' && e.effect.emoji === '👍' && e.change === 'reactions');
    assert.deepEqual(e1.view?.reactions, [{ emoji: '👍', signers: [aliceFp] }]);
    // Bob reacts too, with an emoji outside the small set: Alice sees both, and who.
    bob.client.sendPayload(bob.room, { type: 'reaction', target: reactId, emoji: '👍' });
    bob.client.sendPayload(bob.room, { type: 'reaction', target: reactId, emoji: '🦀' });
    await target.locator('.reaction', { hasText: '🦀' }).waitFor({ state: 'visible', timeout: 30_000 });
    await waitFor('two on 👍', async () => ((await thumbs.locator('.count').textContent()) === '2' ? true : undefined), 30_000);
    assert.match((await thumbs.getAttribute('title')) ?? '', /you, Bob|Bob, you/);
    // Any emoji from the picker's field.
    await target.hover();
    await target.locator('.act-react').click();
    await wb.webview().locator('#emoji-input').fill('🧪');
    await wb.webview().locator('#emoji-picker .pick-emoji-other').click();
    await target.locator('.reaction', { hasText: '🧪' }).waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('features-reactions');
    // Toggle: Alice's second 👍 removes hers (parity, §2.3.3).
    await thumbs.click();
    await waitFor('one on 👍', async () => ((await thumbs.locator('.count').textContent()) === '1' ? true : undefined), 30_000);
    await bob.effect('Alice\'s 👍 removed at Bob', (e) => e.effect.type === 'reaction' && e.effect.emoji === '👍' && e.change === 'reactions' && (e.view?.reactions.find((r) => r.emoji === '👍')?.signers.length ?? 0) === 1);
  });

  it('edits and deletes her own messages; Bob\'s edit and delete show; another key\'s delete is refused', async () => {
    await typeAndSend('A mesage with a typo');
    const sent = await bob.message('the typo at Bob', (m) => m.text === 'A mesage with a typo');
    const own = byKey(sent.id);
    await own.hover();
    await own.locator('.act-edit').click();
    await wb.webview().locator('#edit-bar').waitFor({ state: 'visible', timeout: 30_000 });
    await typeAndSend('A message without the typo');
    await item('A message without the typo').locator('.edited').waitFor({ state: 'visible', timeout: 30_000 });
    const edit = await bob.effect('the edit at Bob', (e) => e.target === sent.id && e.change === 'edited');
    assert.equal(edit.view?.text, 'A message without the typo');

    // Delete: a modal asks first; then it is gone from Bob's view and from Alice's own store.
    const doomed = byKey(sent.id);
    await doomed.hover();
    await doomed.locator('.act-delete').click();
    await wb.page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Delete for Everyone' }).click();
    await wb.webview().locator(`#messages .message[data-key="${sent.id}"] .deleted-text`).waitFor({ state: 'visible', timeout: 30_000 });
    await bob.effect('the delete at Bob', (e) => e.target === sent.id && e.change === 'deleted');
    // Search (the extension's local copy) no longer finds it.
    await wb.webview().locator('#search-toggle').click();
    await wb.webview().locator('#search input').fill('without the typo');
    await wb.webview().locator('#search-status', { hasText: 'No match' }).waitFor({ state: 'visible', timeout: 30_000 });
    await wb.webview().locator('#search-toggle').click();

    // Bob edits then deletes his own.
    const bobs = bob.text('Bob wrote this fisrt');
    await byKey(bobs).waitFor({ state: 'visible', timeout: 60_000 });
    bob.client.sendPayload(bob.room, { type: 'edit', target: bobs, text: 'Bob wrote this first' });
    await byKey(bobs).locator('.edited').waitFor({ state: 'visible', timeout: 30_000 });
    bob.client.sendPayload(bob.room, { type: 'delete', target: bobs });
    await wb.webview().locator(`#messages .message[data-key="${bobs}"] .deleted-text`).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await item('Bob wrote this first').count(), 0, 'the deleted text is still shown');
    // Alice offers no edit or delete on Bob's messages.
    const other = byKey(reactId);
    await other.hover();
    assert.equal(await other.locator('.act-edit, .act-delete').count(), 0);
  });

  it('completes @mentions from the members and sends the fingerprint picked', async () => {
    const composer = wb.webview().locator('#composer textarea');
    await composer.fill('');
    await composer.pressSequentially('Thanks @Bo');
    const option = wb.webview().locator('#mention-list .mention-option', { hasText: 'Bob' });
    await option.waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('features-mention-completion');
    await composer.press('Tab');
    await waitFor('the completed mention', async () => ((await composer.inputValue()) === 'Thanks @Bob ' ? true : undefined), 10_000);
    await composer.pressSequentially('for the report');
    await composer.press('Enter');
    const m = await bob.message('the mention at Bob', (x) => x.text === 'Thanks @Bob for the report');
    assert.deepEqual(m.mentions, [bob.fingerprint]);
    await item('Thanks @Bob').locator('.mention', { hasText: '@Bob' }).waitFor({ state: 'visible', timeout: 30_000 });
  });

  it('a mention notifies although notifications are off; a muted room does not', async () => {
    // Every notification of the session, toasts and those already folded away, from the center.
    const mentionNotes = async (): Promise<number> => {
      await wb.runCommand('Notifications: Show Notifications');
      const center = wb.page.locator('.notifications-center');
      await center.waitFor({ state: 'visible', timeout: 30_000 });
      const n = await center.locator('.notification-list-item', { hasText: /Bob mentioned you in features/ }).count();
      await wb.page.keyboard.press('Escape');
      return n;
    };
    try {
      // The panel out of sight: an editor in its place.
      await wb.runCommand('View: Close All Editors');
      await openChat();
      await wb.openFile('src/greet.ts');
      bob.text('@Alice can you look?', { mentions: [aliceFp] });
      await waitFor('the mention notification', async () => ((await mentionNotes()) === 1 ? true : undefined), 60_000, 1_000);
      await wb.screenshot('features-mention-notification');
      await openChat();
      await item('can you look?').and(wb.webview().locator('.mentions-me')).waitFor({ state: 'visible', timeout: 30_000 });
      // Mute the room, then the same again: no notification.
      await wb.webview().locator('#mute-toggle').click();
      await wb.webview().locator('#mute-toggle[aria-pressed="true"]').waitFor({ state: 'attached', timeout: 30_000 });
      await wb.runCommand('View: Close All Editors');
      await openChat();
      await wb.openFile('src/greet.ts');
      bob.text('@Alice again, muted', { mentions: [aliceFp] });
      await openChat();
      await item('again, muted').waitFor({ state: 'visible', timeout: 60_000 });
      assert.equal(await mentionNotes(), 1, 'a muted room notified');
    } finally {
      await openChat();
      if ((await wb.webview().locator('#mute-toggle[aria-pressed="true"]').count()) > 0) await wb.webview().locator('#mute-toggle').click();
    }
    await wb.webview().locator('#mute-toggle[aria-pressed="false"]').waitFor({ state: 'attached', timeout: 30_000 });
  });

  it('a pasted image goes to Bob byte for byte and is previewed; Bob\'s image is drawn from its bytes', async () => {
    await openChat();
    const red = png(40, 30, [220, 20, 20]);
    await (await frame()).evaluate(PASTE(red.toString('base64'), 'image.png', 'image/png'));
    const done = await waitFor('the pasted image at Bob', () => bob.files.find((f) => f.state === 'complete'), 60_000);
    assert.ok(done.state === 'complete');
    assert.ok(Buffer.from(done.bytes).equals(red), 'the image Bob got is not the one pasted');
    assert.equal(done.info.mime, 'image/png');
    const key = done.file;
    const own = await waitFor('Alice\'s own preview', async () => (await (await frame()).evaluate(CANVAS_PIXEL(key))) as { w: number; h: number; rgb: number[] } | undefined, 30_000);
    assert.deepEqual([own.w, own.h], [40, 30]);
    // Bob sends a blue one: Alice assembles, verifies and draws it.
    const blue = png(24, 24, [20, 40, 230]);
    const out = bob.client.sendFile(bob.room, { name: 'blue.png', mime: 'image/png', bytes: blue });
    const drawn = await waitFor('Bob\'s image drawn', async () => (await (await frame()).evaluate(CANVAS_PIXEL(out.id))) as { w: number; h: number; rgb: number[] } | undefined, 60_000);
    assert.deepEqual(drawn, { w: 24, h: 24, rgb: [20, 40, 230] });
    // An HTML file claiming image/png is never previewed (§2.3.5 "Images").
    const fake = bob.client.sendFile(bob.room, { name: 'fake.png', mime: 'image/png', bytes: Buffer.from('<html><script>alert(1)</script></html>') });
    await wb.webview().locator(`.message[data-key="${fake.id}"] .save-file`).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await wb.webview().locator(`.message[data-key="${fake.id}"] .image-preview`).count(), 0, 'HTML under image/png was previewed');
    await wb.screenshot('features-images');
  });

  it('a file from Bob (300 KB, 10 parts) is saved through the save dialog, byte-identical', async () => {
    await openChat();
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    const out = bob.client.sendFile(bob.room, { name: 'build.log', mime: 'text/plain', bytes });
    const save = wb.webview().locator(`.message[data-key="${out.id}"] .save-file`);
    await save.waitFor({ state: 'visible', timeout: 90_000 });
    const target = join(workspace, 'saved-build.log');
    await wb.saveAs(() => save.click(), target, join(workspace, 'build.log'), bytes.length);
    assert.ok(readFileSync(target).equals(bytes), 'the saved file differs from the one sent');
  });

  it('searches the room\'s history on this machine and jumps to a result', async () => {
    await openChat();
    await wb.webview().locator('#search-toggle').click();
    await wb.webview().locator('#search input').fill('seeded message 17');
    // "17" also finds 170-179 (newest first): the one that is exactly 17.
    const hit = wb.webview().locator('#search-results .search-hit', { hasText: /Seeded message 17$/ }).first();
    await hit.waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('features-search');
    const key = (await hit.getAttribute('data-key')) ?? '';
    await hit.click();
    await byKey(key).waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await byKey(key).textContent()) ?? '', /Seeded message 17\s*$/);
    await wb.webview().locator('#search-toggle').click();
    await wb.runCommand('View: Close All Editors');
    await openChat();
  });

  it('SMC: Share Diff sends the working tree\'s diff; Bob\'s patch previews in the diff editor and applies after confirming', async () => {
    writeFileSync(join(workspace, 'src', 'greet.ts'), GREET_TS.replace('Hello', 'Hi'));
    // No editor open: the whole working tree, without the "which changes" pick.
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('SMC: Share Diff');
    const shared = await bob.message('the patch at Bob', (m) => m.type === 'patch');
    assert.deepEqual(shared.patch?.paths, ['src/greet.ts']);
    assert.match(shared.patch?.diff ?? '', /^- {2}return `Hello, \$\{name\}!`;$/m);
    await item('Patch: 1 file').first().waitFor({ state: 'visible', timeout: 30_000 });
    // Back to the committed file; Bob shares a change of it that Alice applies.
    execFileSync('git', ['checkout', '--', 'src/greet.ts'], { cwd: workspace });
    const diff = [
      'diff --git a/src/greet.ts b/src/greet.ts',
      '--- a/src/greet.ts',
      '+++ b/src/greet.ts',
      '@@ -1,4 +1,4 @@',
      ' // A small file to share from.',
      ' export function greet(name: string): string {',
      '-  return `Hello, ${name}!`;',
      '+  return `Welcome, ${name}!`;',
      ' }',
      '',
    ].join('\n');
    const p = bob.client.sendPayload(bob.room, { type: 'patch', text: 'a friendlier greeting', patch: { root: '', paths: ['src/greet.ts'], diff } });
    const patchItem = wb.webview().locator(`.message[data-key="${p.id}"]`);
    await patchItem.locator('.preview-patch').click();
    await wb.page.locator('.tabs-container .tab', { hasText: 'Patch from Bob' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('features-patch-preview');
    await openChat();
    await patchItem.locator('.apply-patch').click();
    await wb.page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Apply Patch' }).click();
    await waitFor('the applied patch on disk', () => (readFileSync(join(workspace, 'src', 'greet.ts'), 'utf8').includes('Welcome, ${name}!') ? true : undefined), 30_000);
    // The same patch again no longer applies: refused, nothing written.
    const before = readFileSync(join(workspace, 'src', 'greet.ts'), 'utf8');
    await patchItem.locator('.apply-patch').click();
    await wb.webview().locator('#composer-error', { hasText: 'does not apply' }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(readFileSync(join(workspace, 'src', 'greet.ts'), 'utf8'), before);
    await wb.dismissDialogs();
  });

  it('renders a hostile corpus through the new fields inert', async () => {
    await openChat();
    const f = await frame();
    await f.evaluate(`(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    })()`);
    const original = { id: reactId };
    // A reply whose quote (the replier's claim) is markup: Alice shows the original's text instead,
    // and flags the claimed sender. A quote of a message Alice does not have stays literal.
    bob.text('hostile reply 1', { reply: { to: original.id, from: aliceFp, quote: '<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))' } });
    bob.text('hostile reply 2', { reply: { to: 'AAAAAAAAAAAAAAAAAAAAAA', from: aliceFp, quote: '<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))' } });
    bob.text('hostile mention <script>alert(1)</script> @Alice', { mentions: [aliceFp] });
    const diff = [
      'diff --git a/src/x.html b/src/x.html',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/src/x.html',
      '@@ -0,0 +1,2 @@',
      '+<script>alert(1)</script>',
      '+<img src=x onerror=alert(1)>',
      '',
    ].join('\n');
    bob.client.sendPayload(bob.room, { type: 'patch', text: 'hostile patch', patch: { root: '', paths: ['src/x.html'], diff } });
    await item('hostile patch').waitFor({ state: 'visible', timeout: 60_000 });
    await item('hostile mention').waitFor({ state: 'visible', timeout: 60_000 });
    const r2 = item('hostile reply 2').locator('.reply-quote');
    await r2.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match((await r2.textContent()) ?? '', /<img src=x onerror=alert\(1\)> \*\*bold\*\* \[x\]\(javascript:alert\(1\)\)/);
    const r1 = item('hostile reply 1').locator('.reply-quote');
    assert.match((await r1.textContent()) ?? '', /Ship the release/);
    assert.equal(await r1.locator('.key-changed').count(), 1, 'a quote claiming another sender is not flagged');
    const live = await f.evaluate(`(() => ({
      img: document.querySelectorAll('#messages img').length,
      script: document.querySelectorAll('#messages script').length,
      strongInQuote: document.querySelectorAll('.reply-quote strong, .reply-quote a').length,
      patchEls: document.querySelectorAll('.patch pre.diff *:not(span)').length,
      csp: window.__csp,
    }))()`) as { img: number; script: number; strongInQuote: number; patchEls: number; csp: string[] };
    assert.deepEqual(live, { img: 0, script: 0, strongInQuote: 0, patchEls: 0, csp: [] });
    await wb.screenshot('features-hostile');
  });

  it('screenshots of the features in a dark and a light theme', async () => {
    await byKey(reactId).scrollIntoViewIfNeeded();
    const shots: string[] = [];
    for (const [theme, file] of [['Dark Modern', 'features-dark'], ['Light Modern', 'features-light']] as const) {
      await wb.setColorTheme(theme);
      const bodyClass = theme.includes('Dark') ? 'vscode-dark' : 'vscode-light';
      await wb.webview().locator(`body.${bodyClass}`).waitFor({ state: 'attached', timeout: 30_000 });
      await byKey(reactId).hover();
      shots.push(await wb.screenshot(file));
    }
    for (const s of shots) assert.ok(existsSync(s), `${s} not written`);
    print(`screenshots in ${RESULTS_DIR}: ${shots.map((s) => s.split('/').pop()).join(', ')}`);
  });
});
