// End to end, private rooms (issue 10 "Extension"): a real VS Code (code-server) in Chromium
// with the packaged extension, a real relay (started from the palette), and the real terminal
// client (`smc chat --json`) as the other member. Alice creates a private room in the panel,
// invites Bob from it, chats with him, and removes him (his smc chat exits 7 and prints nothing
// after); then Carol, an admin in the terminal, adds Alice by an invite and removes her, and
// Alice's panel says so and offers to leave. In between, every chat feature of issue 12 in the
// private room (reply, reactions, edit, delete, a pasted image, a saved file, search, Share Diff, a
// hostile corpus), and after a reload they are all there again from the local history.
// The steps run in order and share one code-server.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { Browser, Frame } from 'playwright-core';
import {
  aliceSettings, screenshotFailures, CodeServer, Workbench, REPO_ROOT, RESULTS_DIR, freePort, hostPathsFromEnv, launchBrowser, makeTempDir, spawnGroup, stopAll, waitFor,
} from './harness';
import { CANVAS_PIXEL, PASTE, png } from './media';

const CLI = join(REPO_ROOT, 'dist', 'cli.js');
/** `smc chat` exit codes (src/cli/homeStores.ts CHAT_EXIT). */
const EXIT_REMOVED = 7;

type Line = Record<string, unknown>;

function print(msg: string): void {
  console.log(`      ${msg}`);
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

/** `smc ARGS` to completion in `home`. */
function smc(home: string, args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, SMC_HOME: home }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`smc ${args.join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** A running `smc chat --json ...` in a private room: its lines, stderr and exit code. */
class PrivateChat {
  readonly lines: Line[] = [];
  /** Every stdout line as printed (to prove that nothing came after a given one). */
  readonly raw: string[] = [];
  readonly stderr: string[] = [];
  exitCode: number | null | undefined;
  readonly exit: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(readonly home: string, args: string[]) {
    this.child = spawnGroup(process.execPath, [CLI, 'chat', '--json', ...args], { env: { ...process.env, SMC_HOME: home }, capture: true });
    this.exit = new Promise((res) => this.child.once('exit', (code) => {
      this.exitCode = code;
      res(code);
    }));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Line);
      } catch {
        this.stderr.push(`(not JSON on stdout) ${line}`);
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  events(event: string): Line[] {
    return this.lines.filter((l) => l.event === event);
  }

  texts(): string[] {
    return this.lines.filter((l) => typeof l.text === 'string').map((l) => String(l.text));
  }

  async waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 90_000): Promise<T> {
    try {
      return await waitFor(what, () => {
        const v = check();
        if (v !== undefined && v !== false) return v;
        if (this.exitCode !== undefined) throw new Error(`smc chat exited (${this.exitCode})`);
        return undefined;
      }, timeoutMs);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n  last lines: ${this.raw.slice(-6).join('\n    ')}\n  stderr: ${this.stderr.slice(-6).join(' | ')}`);
    }
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}

/** The answer the host gives to a request posted by hand from the webview (an attacker's). */
const FORGE_REQUEST = (name: string, payload: Record<string, unknown>, id: number): string => `(() => new Promise((resolve) => {
  const onMessage = (e) => {
    const d = e.data;
    if (d && d.kind === 'response' && d.id === ${id}) { window.removeEventListener('message', onMessage); resolve(d); }
  };
  window.addEventListener('message', onMessage);
  // What acquireVsCodeApi().postMessage does (VS Code's webview pre/index.html): a script that
  // runs in the panel (an XSS) can do the same with any frame it likes.
  // VS Code hides window.parent from the panel, but the frame's element is same-origin.
  let outer;
  try { outer = window.frameElement ? window.frameElement.ownerDocument.defaultView : undefined; } catch (err) { resolve({ diag: 'frameElement: ' + String(err) }); return; }
  const post = outer ? outer.__vscode_post_message__ : undefined;
  if (typeof post !== 'function') {
    resolve({ diag: { href: location.href, frameElement: !!window.frameElement, outer: !!outer } });
    return;
  }
  post.call(outer, 'onmessage', { message: { kind: 'request', id: ${id}, name: ${JSON.stringify(name)}, payload: ${JSON.stringify(payload)} } });
  setTimeout(() => resolve({ timeout: true }), 10000);
}))()`;

describe('SMC private rooms in a real browser: the panel and terminal clients through a real relay', function () {
  this.timeout(180_000);
  const vsix = process.env.SMC_VSIX ?? '';
  let server: CodeServer;
  let browser: Browser;
  let wb: Workbench;
  let workspace: string;
  let homes: string;
  let relayPort: number;
  const chats: PrivateChat[] = [];

  before(async function () {
    this.timeout(240_000);
    if (!vsix || !existsSync(vsix)) throw new Error('SMC_VSIX must name the packaged extension (scripts/test-host.mjs packages it)');
    const paths = hostPathsFromEnv();
    workspace = makeTempDir('ws-private');
    writeFileSync(join(workspace, 'README.md'), '# private rooms\n');
    mkdirSync(join(workspace, 'src'));
    writeFileSync(join(workspace, 'src', 'page.html'), '<p>hello</p>\n');
    // A git repository, so that SMC: Share Diff has a working tree to diff.
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: workspace, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' } });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'start');
    homes = makeTempDir('private-homes');
    relayPort = await freePort();
    server = await CodeServer.start(paths, {
      name: 'alice-private',
      workspace,
      install: [vsix],
      settings: aliceSettings(relayPort),
    });
    browser = await launchBrowser(paths);
    wb = await Workbench.open(browser, server);
  });

  screenshotFailures('private-', () => wb);

  after(async function () {
    this.timeout(60_000);
    for (const c of chats) c.kill();
    await stopAll();
    for (const d of [workspace, homes]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const home = (who: string): string => {
    const d = join(homes, who);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  };
  const chat = (who: string, args: string[]): PrivateChat => {
    const c = new PrivateChat(home(who), args);
    chats.push(c);
    return c;
  };
  const panel = () => wb.webview();
  const member = (name: string) => panel().locator('#members .member', { hasText: name });
  const dialog = () => wb.page.locator('.monaco-dialog-box');

  async function clipboardText(): Promise<string> {
    return wb.page.evaluate('navigator.clipboard.readText()') as Promise<string>;
  }

  it('SMC: Start Relay starts the relay the rooms use', async () => {
    await wb.runCommand('SMC: Start Relay');
    await waitFor(`a relay listening on ${relayPort}`, async () => ((await portOpen(relayPort)) ? true : undefined), 60_000);
  });

  it('SMC: Create Room asks which kind; a private room is made with Alice as its admin, and the panel says so', async () => {
    await wb.runCommand('SMC: Create Room');
    await wb.pick(/Private room/);
    await wb.answerInput('e2e-private', { promptContains: 'A name for the room' });
    await wb.statusItem(/e2e-private/).first().waitFor({ state: 'visible', timeout: 60_000 });
    await wb.openChat({ ready: '#room-kind[data-kind="private"]' });
    assert.equal(await panel().locator('#room-kind').textContent(), 'Private room');
    const self = panel().locator('#members .member[data-self="true"]');
    await self.waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await self.getAttribute('data-role'), 'admin');
    assert.match((await self.textContent()) ?? '', /Alice/);
    assert.match((await self.locator('.fingerprint').textContent()) ?? '', /^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    await panel().locator('#invite-member').waitFor({ state: 'visible', timeout: 30_000 });
  });

  let bob: PrivateChat;

  it('Invite copies a single-use link (shown once, never in the webview); Bob\'s smc chat joins by it and is added by Alice\'s extension', async () => {
    await wb.page.evaluate('navigator.clipboard.writeText("")');
    await panel().locator('#invite-member').click();
    // Asked first (a script in the panel cannot make an invite by itself).
    await dialog().waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await dialog().textContent()) ?? '', /Make an invite to "e2e-private"/);
    await dialog().locator('.monaco-button', { hasText: /^Create Invite$/ }).click();
    await dialog().waitFor({ state: 'detached', timeout: 30_000 });
    const invite = await waitFor('the invite on the clipboard', async () => {
      const t = await clipboardText();
      return /\?join=1(&[^#]*)?#/.test(t) ? t : undefined;
    }, 30_000);
    assert.match(invite, new RegExp(`^smc://127\\.0\\.0\\.1:${relayPort}/e2e-private\\?join=1&by=[0-9a-f]{32}#[A-Za-z0-9_-]{43}$`));
    // The invite's secret is nowhere in the webview's DOM.
    const secret = invite.split('#')[1]!;
    const frame = await wb.webviewFrame();
    const html = await frame.evaluate('document.documentElement.outerHTML') as string;
    assert.ok(!html.includes(secret), 'the invite secret reached the webview');

    bob = chat('bob', ['--name', 'bob', '--timeout', '120', invite]);
    await member('bob').waitFor({ state: 'visible', timeout: 90_000 });
    assert.equal(await member('bob').getAttribute('data-role'), 'member');
    await panel().locator('#messages .message[data-kind="membership"]', { hasText: 'Alice added bob' }).waitFor({ state: 'visible', timeout: 60_000 });
    await bob.waitFor('bob told he was added', () => bob.stderr.some((l) => /added to private room "e2e-private"/.test(l)));
  });

  it('messages go both ways between the panel and Bob\'s smc chat', async () => {
    // The room's history at Bob starts at his add: wait until his client is in (it sees its own message acked).
    const composer = panel().locator('#composer textarea');
    await composer.fill('Hello Bob, private');
    await composer.press('Enter');
    await bob.waitFor('Alice\'s message at Bob', () => bob.texts().includes('Hello Bob, private'));
    await panel().locator('#messages .message[data-state="sent"]', { hasText: 'Hello Bob, private' }).waitFor({ state: 'visible', timeout: 30_000 });
    bob.send('Hi Alice, bob here');
    await panel().locator('#messages .message', { hasText: 'Hi Alice, bob here' }).waitFor({ state: 'visible', timeout: 60_000 });
    // A private room has no presence (§3): the status bar and the panel count its members, not "0 online".
    await wb.statusItem(/e2e-private · 2 members/).first().waitFor({ state: 'visible', timeout: 60_000 });
    // (The toggle shows in a narrow panel only: its words are checked, not its visibility.)
    await panel().locator('#presence-toggle', { hasText: '2 members' }).waitFor({ state: 'attached', timeout: 60_000 });
    await wb.screenshot('private-room-members');
  });

  /** The panel's item of a message, by its id. */
  const byKey = (key: string) => panel().locator(`#messages .message[data-key="${key}"]`);
  const item = (text: string | RegExp) => panel().locator('#messages .message', { hasText: text });
  const keyOf = async (text: string | RegExp): Promise<string> => {
    const el = item(text).last();
    await el.waitFor({ state: 'visible', timeout: 60_000 });
    return (await el.getAttribute('data-key')) ?? '';
  };
  async function typeAndSend(text: string): Promise<void> {
    const composer = panel().locator('#composer textarea');
    await composer.fill(text);
    await composer.press('Enter');
  }
  /** Bob's received line whose fields match. */
  const bobGot = (what: string, pred: (l: Line) => boolean): Promise<Line> => bob.waitFor(what, () => bob.lines.find(pred));
  /** Items of the private room that the reload step finds again. */
  const keys = { hello: '', bob: '', reply: '', edited: '', deleted: '', image: '', bobFile: '', patch: '' };

  it('in the private room: a reply with its quote, reactions (toggled), an edit, a delete; Bob\'s edit of Alice\'s message is refused', async () => {
    keys.hello = await keyOf('Hello Bob, private');
    keys.bob = await keyOf('Hi Alice, bob here');
    // Reply (§2.3.1) from the panel: Bob's client gets it naming his message, with its quote.
    const target = byKey(keys.bob);
    await target.hover();
    await target.locator('.act-reply').click();
    await panel().locator('#reply-bar', { hasText: 'Replying to bob' }).waitFor({ state: 'visible', timeout: 30_000 });
    await typeAndSend('Which part, bob?');
    const reply = await bobGot('the reply at Bob', (l) => l.text === 'Which part, bob?');
    assert.equal((reply.reply as { to?: string } | undefined)?.to, keys.bob);
    assert.equal((reply.reply as { quote?: string } | undefined)?.quote, 'Hi Alice, bob here');
    keys.reply = String(reply.id);
    await byKey(keys.reply).locator('.reply-quote', { hasText: 'bob' }).waitFor({ state: 'visible', timeout: 30_000 });
    // A click on the quote goes to the original.
    await byKey(keys.reply).locator('.reply-quote').click();
    await byKey(keys.bob).waitFor({ state: 'visible', timeout: 30_000 });

    // Reactions (§2.3.3): Alice's 👍 on Bob's message reaches him; a second click takes it back.
    await target.hover();
    await target.locator('.act-react').click();
    await panel().locator('#emoji-picker .pick-emoji', { hasText: '👍' }).click();
    const thumbs = target.locator('.reaction', { hasText: '👍' });
    await thumbs.waitFor({ state: 'visible', timeout: 30_000 });
    await bobGot('Alice\'s 👍 at Bob', (l) => l.type === 'reaction' && l.emoji === '👍' && l.target === keys.bob);
    // Bob reacts to Alice's message from his terminal: shown with his name.
    bob.send(JSON.stringify({ type: 'reaction', target: keys.hello, emoji: '🎉' }));
    const party = byKey(keys.hello).locator('.reaction', { hasText: '🎉' });
    await party.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match((await party.getAttribute('title')) ?? '', /bob/);
    await thumbs.click();
    await thumbs.waitFor({ state: 'detached', timeout: 30_000 });
    await bobGot('Alice\'s 👍 taken back at Bob', (l) => l.type === 'reaction' && l.emoji === '👍' && l.target === keys.bob && l !== bob.lines.find((x) => x.type === 'reaction' && x.emoji === '👍'));

    // Edit (§2.3.4) of her own message; Bob sees it edited.
    await typeAndSend('A private mesage');
    keys.edited = String((await bobGot('the typo at Bob', (l) => l.text === 'A private mesage')).id);
    const own = byKey(keys.edited);
    await own.hover();
    await own.locator('.act-edit').click();
    await panel().locator('#edit-bar').waitFor({ state: 'visible', timeout: 30_000 });
    await typeAndSend('A private message');
    await own.locator('.edited').waitFor({ state: 'visible', timeout: 30_000 });
    await bobGot('the edit at Bob', (l) => l.type === 'edit' && l.target === keys.edited && l.change === 'edited');
    // Bob's client will not edit Alice's message (only its sender's key may, §2.3.4), and says why.
    bob.send(JSON.stringify({ type: 'edit', target: keys.edited, text: 'bob was here' }));
    await bob.waitFor('Bob told his edit is refused', () => bob.stderr.some((l) => /only its sender can edit/.test(l)));
    assert.equal(await item('bob was here').count(), 0);
    // Alice offers no edit or delete on Bob's messages.
    await target.hover();
    assert.equal(await target.locator('.act-edit, .act-delete').count(), 0);

    // Delete (§2.3.4): asked first, then gone from both views.
    await typeAndSend('soon deleted');
    keys.deleted = String((await bobGot('the doomed one at Bob', (l) => l.text === 'soon deleted')).id);
    const doomed = byKey(keys.deleted);
    await doomed.hover();
    await doomed.locator('.act-delete').click();
    await wb.page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Delete for Everyone' }).click();
    await doomed.locator('.deleted-text').waitFor({ state: 'visible', timeout: 30_000 });
    await bobGot('the delete at Bob', (l) => l.type === 'delete' && l.target === keys.deleted && l.change === 'deleted');
  });

  it('in the private room: a pasted image reaches Bob byte for byte and is previewed; Bob\'s file is saved through the save dialog, byte-identical', async () => {
    const red = png(40, 30, [220, 20, 20]);
    await (await wb.webviewFrame()).evaluate(PASTE(red.toString('base64'), 'image.png', 'image/png'));
    // A pasted file is named by its time (pasted-….png).
    const done = await bobGot('the pasted image at Bob', (l) => l.event === 'file' && l.state === 'complete' && l.mime === 'image/png' && /^pasted-.*\.png$/.test(String(l.name)));
    keys.image = String(done.file);
    const savedImage = join(bob.home, 'image-at-bob.png');
    bob.send(JSON.stringify({ type: 'save', file: keys.image, path: savedImage }));
    await bobGot('Bob saved the image', (l) => l.event === 'saved' && l.file === keys.image);
    assert.ok(readFileSync(savedImage).equals(red), 'the image Bob got is not the one pasted');
    const drawn = await waitFor('Alice\'s own preview', async () => (await (await wb.webviewFrame()).evaluate(CANVAS_PIXEL(keys.image))) as { w: number; h: number } | undefined, 30_000);
    assert.deepEqual([drawn.w, drawn.h], [40, 30]);

    // Bob sends a file of 10 parts under a hostile name; Alice saves it through VS Code's dialog.
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
    const hostileName = '<img src=x onerror=alert(1)>\u202Egol.exe';
    const source = join(bob.home, hostileName);
    writeFileSync(source, bytes);
    bob.send(JSON.stringify({ type: 'file', path: source, text: 'the build log' }));
    keys.bobFile = await keyOf('the build log');
    const save = byKey(keys.bobFile).locator('.save-file');
    await save.waitFor({ state: 'visible', timeout: 90_000 });
    const target = join(workspace, 'saved-build.log');
    // The dialog offers the file's name as the panel shows it (sanitized, §2.3.5) in the workspace.
    const offered = join(workspace, (await byKey(keys.bobFile).locator('.file-name').textContent()) ?? '');
    await wb.saveAs(() => save.click(), target, offered, bytes.length);
    assert.ok(readFileSync(target).equals(bytes), 'the saved file differs from the one sent');
    await wb.openChat({ closeEditors: true });
  });

  it('in the private room: search finds a message on this machine and jumps to it', async () => {
    await panel().locator('#search-toggle').click();
    await panel().locator('#search input').fill('bob here');
    const hit = panel().locator('#search-results .search-hit', { hasText: 'Hi Alice, bob here' }).first();
    await hit.waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await hit.getAttribute('data-key'), keys.bob);
    await hit.click();
    await byKey(keys.bob).waitFor({ state: 'visible', timeout: 30_000 });
    // A deleted message is not found (its text is gone from this machine's copy).
    await panel().locator('#search input').fill('soon deleted');
    await panel().locator('#search-status', { hasText: 'No match' }).waitFor({ state: 'visible', timeout: 30_000 });
    await panel().locator('#search-toggle').click();
  });

  it('in the private room: SMC: Share Diff sends the working tree\'s diff (hostile hunks shown inert); Bob gets the patch, Alice previews it', async () => {
    writeFileSync(join(workspace, 'src', 'page.html'), '<p>hello</p>\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n');
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('SMC: Share Diff');
    const shared = await bobGot('the patch at Bob', (l) => l.type === 'patch');
    keys.patch = String(shared.id);
    const patch = shared.patch as { paths: string[]; diff: string };
    assert.deepEqual(patch.paths, ['src/page.html']);
    assert.match(patch.diff, /^\+<script>alert\(1\)<\/script>$/m);
    execFileSync('git', ['checkout', '--', 'src/page.html'], { cwd: workspace });
    await wb.openChat();
    const patchItem = byKey(keys.patch);
    await patchItem.locator('.preview-patch').click();
    await wb.page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.openChat({ closeEditors: true });
  });

  it('in the private room: a hostile corpus through the new fields (text, mentions, reply quotes, file names, diff hunks) renders inert', async () => {
    const f = await wb.webviewFrame();
    await f.evaluate(`(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    })()`);
    bob.send('hostile text <img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) @Alice');
    const hostile = await keyOf('hostile text');
    // Bob replies to it: the quote (made from the hostile text) is shown as text.
    bob.send(JSON.stringify({ type: 'reply', to: hostile, text: 'hostile reply <script>alert(1)</script>' }));
    const quote = item('hostile reply').locator('.reply-quote');
    await quote.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match((await quote.textContent()) ?? '', /<img src=x onerror=alert\(1\)>/);
    bob.send(JSON.stringify({ type: 'reaction', target: hostile, emoji: '🧪' }));
    await byKey(hostile).locator('.reaction', { hasText: '🧪' }).waitFor({ state: 'visible', timeout: 60_000 });
    // The file name with markup and a bidi override: made sendable by Bob's client (§2.3.5: no
    // <, >, or format character; a receiver refuses a name with them), shown as text.
    const fileName = (await byKey(keys.bobFile).locator('.file-name').textContent()) ?? '';
    assert.match(fileName, /_img src=x onerror=alert\(1\)__gol\.exe/);
    assert.ok(!fileName.includes('\u202E'), 'a bidi override reached the DOM');
    const live = await f.evaluate(`(() => ({
      img: document.querySelectorAll('#messages img').length,
      script: document.querySelectorAll('#messages script').length,
      markupInQuote: document.querySelectorAll('.reply-quote strong, .reply-quote a, .reply-quote img').length,
      patchEls: document.querySelectorAll('.patch pre.diff *:not(span)').length,
      csp: window.__csp,
    }))()`) as { img: number; script: number; markupInQuote: number; patchEls: number; csp: string[] };
    assert.deepEqual(live, { img: 0, script: 0, markupInQuote: 0, patchEls: 0, csp: [] });
  });

  it('screenshots of a private room with its features in a dark and a light theme', async () => {
    await byKey(keys.hello).scrollIntoViewIfNeeded();
    const shots: string[] = [];
    for (const [theme, file] of [['Dark Modern', 'private-features-dark'], ['Light Modern', 'private-features-light']] as const) {
      await wb.setColorTheme(theme);
      const bodyClass = theme.includes('Dark') ? 'vscode-dark' : 'vscode-light';
      await panel().locator(`body.${bodyClass}`).waitFor({ state: 'attached', timeout: 30_000 });
      await byKey(keys.hello).hover();
      shots.push(await wb.screenshot(file));
    }
    await wb.setColorTheme('Dark Modern');
    for (const s of shots) assert.ok(existsSync(s), `${s} not written`);
    print(`screenshots in ${RESULTS_DIR}: ${shots.map((s) => s.split('/').pop()).join(', ')}`);
  });

  it('Remove asks first; then Bob\'s smc chat is told, exits 7 and prints nothing after', async () => {
    await member('bob').locator('.remove-member').click();
    await dialog().waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await dialog().textContent()) ?? '', /Remove bob/);
    await wb.screenshot('private-remove-dialog');
    await dialog().locator('.monaco-button', { hasText: /^Remove$/ }).click();
    await dialog().waitFor({ state: 'detached', timeout: 30_000 });
    const code = await Promise.race([bob.exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    assert.equal(code, EXIT_REMOVED, `bob's smc chat: ${bob.stderr.slice(-5).join(' | ')}`);
    const removedAt = bob.raw.findIndex((l) => l.includes('"event":"removed"'));
    assert.ok(removedAt >= 0, `no removed event: ${bob.raw.join(' | ')}`);
    assert.equal(bob.raw.length, removedAt + 1, `bob printed after his removal: ${bob.raw.slice(removedAt + 1).join(' | ')}`);
    assert.equal(bob.events('removed')[0]!.by, 'Alice');
    await panel().locator('#messages .message[data-kind="membership"]', { hasText: 'Alice removed bob' }).waitFor({ state: 'visible', timeout: 60_000 });
    await member('bob').waitFor({ state: 'detached', timeout: 30_000 });
    // Alice writes on; Bob's state can no longer open it (his next smc chat says he was removed).
    const composer = panel().locator('#composer textarea');
    await composer.fill('after bob left');
    await composer.press('Enter');
    await panel().locator('#messages .message[data-state="sent"]', { hasText: 'after bob left' }).waitFor({ state: 'visible', timeout: 30_000 });
    const again = new PrivateChat(bob.home, ['--name', 'bob', 'e2e-private']);
    chats.push(again);
    assert.equal(await again.exit, EXIT_REMOVED);
    assert.ok(!again.texts().includes('after bob left'));
  });

  it('the history is kept encrypted in the extension\'s storage (mode 0600), and no MLS state or history key in the settings', async () => {
    const found: string[] = [];
    const walk = (d: string): void => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, f.name);
        if (f.isDirectory()) walk(p);
        else if (/\/history\/[A-Za-z0-9_-]{22}\.log$/.test(p)) found.push(p);
      }
    };
    walk(server.dir);
    assert.equal(found.length, 1, `history logs: ${found.join(', ')}`);
    assert.equal(statSync(found[0]!).mode & 0o777, 0o600);
    const settings = join(server.dir, 'ud', 'User', 'settings.json');
    if (existsSync(settings)) assert.doesNotMatch(readFileSync(settings, 'utf8'), /smc\.mls|smc\.history|ownerSeed/);
  });

  it('after a window reload the private room comes back from its local history (messages and membership events) and reconnects', async () => {
    await wb.runCommand('Developer: Reload Window');
    await wb.waitUntilReady();
    await wb.openChat({ ready: '#room-kind[data-kind="private"]' });
    for (const text of ['Hello Bob, private', 'Hi Alice, bob here', 'after bob left']) {
      // .first(): a reply quoting one holds its text too.
      await panel().locator('#messages .message', { hasText: text }).first().waitFor({ state: 'visible', timeout: 60_000 });
    }
    // The chat features came back from the history too (§3.8: replayed through the features):
    // the reply's quote, the reaction, the edit, the delete, the files (previewed, savable), the patch.
    await byKey(keys.reply).locator('.reply-quote', { hasText: 'bob' }).waitFor({ state: 'visible', timeout: 60_000 });
    await byKey(keys.hello).locator('.reaction', { hasText: '🎉' }).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await byKey(keys.bob).locator('.reaction').count(), 0, 'the reaction Alice took back is there again');
    await byKey(keys.edited).locator('.edited').waitFor({ state: 'visible', timeout: 60_000 });
    assert.match((await byKey(keys.edited).textContent()) ?? '', /A private message/);
    await byKey(keys.deleted).locator('.deleted-text').waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await panel().locator('#messages .message', { hasText: 'soon deleted' }).count(), 0);
    await byKey(keys.bobFile).locator('.save-file').waitFor({ state: 'visible', timeout: 60_000 });
    const pixel = await waitFor('the pasted image drawn again', async () => (await (await wb.webviewFrame()).evaluate(CANVAS_PIXEL(keys.image))) as { rgb: number[] } | undefined, 60_000);
    assert.deepEqual(pixel.rgb, [220, 20, 20]);
    await byKey(keys.patch).locator('.preview-patch').waitFor({ state: 'visible', timeout: 60_000 });
    await wb.screenshot('private-features-after-reload');
    for (const text of ['Alice added bob', 'Alice removed bob']) {
      await panel().locator('#messages .message[data-kind="membership"]', { hasText: text }).waitFor({ state: 'visible', timeout: 60_000 });
    }
    // Connected again: the member list is the live group's (Alice alone, admin), and she can write.
    await panel().locator('#members .member[data-self="true"][data-role="admin"]').waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await panel().locator('#members .member').count(), 1);
    const composer = panel().locator('#composer textarea');
    await composer.fill('after the reload');
    await composer.press('Enter');
    await panel().locator('#messages .message[data-state="sent"]', { hasText: 'after the reload' }).waitFor({ state: 'visible', timeout: 60_000 });
  });

  let carol: PrivateChat;

  it('joins a terminal admin\'s private room by its invite: told to wait, added by Carol\'s client, members shown', async () => {
    smc(home('carol'), ['room', 'new', '--private', '--name', 'cli-team', '--relay', `127.0.0.1:${relayPort}`]);
    carol = chat('carol', ['--name', 'carol', 'cli-team']);
    carol.send('/invite');
    const inv = await carol.waitFor('carol\'s invite', () => carol.events('invite')[0]);
    const link = String(inv.invite);
    await wb.runCommand('SMC: Join Room');
    await wb.pick(/Paste an invite link/);
    await wb.answerInput(link, { promptContains: 'Paste the invite link' });
    await carol.waitFor('carol adds Alice', () => carol.events('member_added').some((e) => e.name === 'Alice'));
    await wb.statusItem(/cli-team/).first().waitFor({ state: 'visible', timeout: 60_000 });
    await member('carol').waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await member('carol').getAttribute('data-role'), 'admin');
    assert.equal(await panel().locator('#members .member[data-self="true"]').getAttribute('data-role'), 'member');
    // A member is offered no Invite, Remove or Promote.
    assert.equal(await panel().locator('#invite-member, .remove-member, .promote-member').count(), 0);
    carol.send('welcome Alice');
    await panel().locator('#messages .message', { hasText: 'welcome Alice' }).waitFor({ state: 'visible', timeout: 60_000 });
    const composer = panel().locator('#composer textarea');
    await composer.fill('thanks carol');
    await composer.press('Enter');
    await carol.waitFor('Alice\'s message at Carol', () => carol.texts().includes('thanks carol'));
  });

  it('a forged request from the webview (a member removing the admin, promoting itself) is refused by the host, and nothing changes', async () => {
    const frame: Frame = await wb.webviewFrame();
    const carolFp = await member('carol').getAttribute('data-fingerprint');
    const ownFp = await panel().locator('#members .member[data-self="true"]').getAttribute('data-fingerprint');
    const removal = await frame.evaluate(FORGE_REQUEST('privateRemove', { fingerprint: carolFp }, 900001)) as { ok?: boolean; error?: string; timeout?: boolean };
    const promotion = await frame.evaluate(FORGE_REQUEST('privatePromote', { fingerprint: ownFp }, 900002)) as { ok?: boolean; error?: string; timeout?: boolean };
    print(`forged remove: ${JSON.stringify(removal)}; forged promote: ${JSON.stringify(promotion)}`);
    assert.equal(removal.ok, false);
    assert.match(removal.error ?? '', /Only an admin/);
    assert.equal(promotion.ok, false);
    assert.match(promotion.error ?? '', /Only an admin/);
    assert.equal(await dialog().count(), 0, 'a forged request opened a confirmation');
    carol.send('/members');
    const members = await carol.waitFor('carol\'s /members', () => carol.events('members')[0]);
    const list = members.members as Line[];
    assert.deepEqual(list.map((m) => [m.name, m.role]).sort(), [['Alice', 'member'], ['carol', 'admin']]);
  });

  it('removed by Carol, Alice\'s panel says so and offers to leave; Leave forgets the room', async () => {
    carol.send('/remove Alice');
    const banner = panel().locator('#removed-banner');
    await banner.waitFor({ state: 'visible', timeout: 90_000 });
    assert.match((await banner.textContent()) ?? '', /carol removed you from this room/);
    await panel().locator('#messages .message[data-kind="membership"]', { hasText: 'carol removed you' }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await panel().locator('#composer-form').isVisible(), false, 'a removed member can still write');
    await wb.screenshot('private-removed');
    await banner.locator('.forget-room').click();
    await dialog().waitFor({ state: 'visible', timeout: 30_000 });
    await dialog().locator('.monaco-button', { hasText: /^Leave Room$/ }).click();
    await dialog().waitFor({ state: 'detached', timeout: 30_000 });
    await wb.statusItem(/cli-team/).first().waitFor({ state: 'detached', timeout: 60_000 });
  });

  /** SMC: Join Room with an invite pasted, retried until the input took it (it closes on Enter). */
  async function joinWith(link: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await wb.runCommand('SMC: Join Room');
      await wb.pick(/Paste an invite link/);
      await wb.answerInput(link, { promptContains: 'Paste the invite link' });
      const taken = await wb.quickInput.waitFor({ state: 'hidden', timeout: 10_000 }).then(() => true, () => false);
      if (taken) return;
      if (attempt === 3) throw new Error('the invite input did not take the link');
      await wb.page.keyboard.press('Escape');
    }
  }

  /** A notification (toast or in the notification centre) whose text matches. */
  async function notificationItem(text: RegExp) {
    await wb.runCommand('Notifications: Show Notifications');
    const item = wb.page.locator('.notification-list-item', { hasText: text }).first();
    await item.waitFor({ state: 'visible', timeout: 60_000 });
    return item;
  }

  it('joining again with the old invite is refused with its reason; with no admin online the join says so and can be cancelled', async () => {
    const oldLink = String(carol.events('invite')[0]!.invite);
    // The panel has settled on the room that is left (a redraw can take the focus from the palette).
    await panel().locator('#room-name', { hasText: 'e2e-private' }).waitFor({ state: 'visible', timeout: 60_000 });
    await joinWith(oldLink);
    await notificationItem(/Not added to private room "cli-team": you were removed from this room/).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n  carol: ${carol.raw.slice(-4).join(' | ')}\n  carol stderr: ${carol.stderr.slice(-6).join(' | ')}`);
    });
    carol.send('/invite');
    const fresh = String((await carol.waitFor('a second invite', () => carol.events('invite')[1])).invite);
    carol.send('/stop');
    assert.equal(await carol.exit, 0);
    await joinWith(fresh);
    const waiting = await notificationItem(/no admin of the room is online/);
    await wb.screenshot('private-join-no-admin');
    await waiting.locator('.monaco-button', { hasText: /^Cancel$/ }).click();
    await waiting.waitFor({ state: 'detached', timeout: 30_000 });
  });
});
