// End to end, private rooms (issue 10 "Extension"): a real VS Code (code-server) in Chromium
// with the packaged extension, a real relay (started from the palette), and the real terminal
// client (`smc chat --json`) as the other member. Alice creates a private room in the panel,
// invites Bob from it, chats with him, and removes him (his smc chat exits 7 and prints nothing
// after); then Carol, an admin in the terminal, adds Alice by an invite and removes her, and
// Alice's panel says so and offers to leave. The steps run in order and share one code-server.
import { strict as assert } from 'node:assert';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { Browser, Frame } from 'playwright-core';
import {
  CodeServer, Workbench, REPO_ROOT, freePort, hostPathsFromEnv, launchBrowser, makeTempDir, spawnGroup, stopAll, waitFor,
} from './harness';

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
    homes = makeTempDir('private-homes');
    relayPort = await freePort();
    server = await CodeServer.start(paths, {
      name: 'alice-private',
      workspace,
      install: [vsix],
      settings: {
        'workbench.colorTheme': 'Default Dark Modern',
        'smc.displayName': 'Alice',
        'smc.relay.host': '127.0.0.1',
        'smc.relay.port': relayPort,
        'smc.localRelay.host': '127.0.0.1',
        'smc.localRelay.port': relayPort,
        'smc.notifications': false,
        'smc.localRelay.leaseSeconds': 30,
      },
    });
    browser = await launchBrowser(paths);
    wb = await Workbench.open(browser, server);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && wb) {
      const name = `failed-private-${(this.currentTest.title || 'step').replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
      await wb.screenshot(name).catch(() => undefined);
    }
  });

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
    await wb.runCommand('SMC: Open Chat');
    await panel().locator('#room-kind[data-kind="private"]').waitFor({ state: 'visible', timeout: 60_000 });
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
    await wb.screenshot('private-room-members');
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
    await wb.runCommand('SMC: Open Chat');
    await panel().locator('#room-kind[data-kind="private"]').waitFor({ state: 'visible', timeout: 60_000 });
    for (const text of ['Hello Bob, private', 'Hi Alice, bob here', 'after bob left']) {
      await panel().locator('#messages .message', { hasText: text }).waitFor({ state: 'visible', timeout: 60_000 });
    }
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
