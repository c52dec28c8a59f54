// End to end, in a real browser against a real VS Code (code-server) with the packaged
// extension installed (issue 4 §6): Alice uses the chat panel, Bob the terminal client
// (`smc chat --json`); the relay is the one Alice starts with SMC: Start Relay. The steps run
// in order and share one code-server, one page and one relay (TESTING.md: start once per suite).
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync, copyFileSync, rmSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Browser, Frame } from 'playwright-core';
import {
  aliceSettings, screenshotFailures, CodeServer, Workbench, REPO_ROOT, RESULTS_DIR, freePort, hostPathsFromEnv, launchBrowser, makeTempDir, stopAll, waitFor,
} from './harness';
import { JsonChat, newRoomInvite } from './cli';
import { seedRoom, sendEnvelopes } from './seed';
import { RelayClient } from '../../src/core/client';
import { createTcpTransport } from '../../src/node/tcpTransport';
import {
  RoomCipher, encodeB64u, formatInvite, generateIdentity, generateMessageId, generateRoomKey, parseInvite, shortOfFingerprint, fingerprint,
} from '../../src/core/crypto';

// Browser globals for the callbacks Playwright runs inside the webview. The project compiles
// without the DOM library on purpose (src/core must not use it), so the few used are declared
// here, locally, with only what these callbacks touch.
interface DomAttr { name: string }
interface DomEl {
  tagName: string;
  attributes: ArrayLike<DomAttr>;
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): ArrayLike<DomEl>;
}
interface CspEvent { violatedDirective: string; blockedURI: string }
declare const document: {
  querySelector(selector: string): DomEl | null;
  addEventListener(type: 'securitypolicyviolation', listener: (e: CspEvent) => void): void;
};
declare const window: { parent: unknown; location: { href: string } };
declare const requestAnimationFrame: (callback: () => void) => number;

/**
 * Every palette title of issue 4 §1 (exact titles: src/shared/messages.ts). "SMC: Share
 * Selection" is offered only while an editor has a selection; the snippet step runs it from
 * the palette then.
 */
const SMC_COMMANDS = [
  'SMC: Start Relay', 'SMC: Stop Relay', 'SMC: Open Chat', 'SMC: Create Room', 'SMC: Join Room',
  'SMC: Copy Invite Link', 'SMC: Show My Fingerprint', 'SMC: Connect to Relay', 'SMC: Disconnect from Relay',
];

const GREET_TS = [
  '// A small file to share from.',
  'export interface Greeting {',
  '  name: string;',
  '}',
  'export function greet(g: Greeting): string {',
  '  return `Hello, ${g.name}!`;',
  '}',
  '',
  'export const everyone = greet({ name: "everyone" });',
  '',
].join('\n');

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true once the port accepts a TCP connection, false once it refuses. */
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

/**
 * Everything the workbench keeps in the browser (localStorage, and every IndexedDB store:
 * globalState, logs, user data), as text. Run in the page as a string because the project
 * compiles without the DOM library.
 */
const DUMP_BROWSER_STORAGE = `(async () => {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    out.push({ where: 'localStorage/' + k, text: k + ' ' + localStorage.getItem(k) });
  }
  const asText = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) return new TextDecoder().decode(v);
    try { return JSON.stringify(v); } catch { return String(v); }
  };
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((res, rej) => { const r = indexedDB.open(info.name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    for (const store of db.objectStoreNames) {
      const read = (what) => new Promise((res) => {
        const r = db.transaction(store).objectStore(store)[what]();
        r.onsuccess = () => res(r.result); r.onerror = () => res([]);
      });
      const [keys, values] = [await read('getAllKeys'), await read('getAll')];
      out.push({ where: 'indexedDB/' + info.name + '/' + store, text: keys.map(asText).join(' ') + ' ' + values.map(asText).join(' ') });
    }
    db.close();
  }
  return out;
})()`;

/** Messages rendered in the panel (`.message` items), as their text. */
async function panelTexts(frame: Frame): Promise<string[]> {
  return frame.locator('#messages .message').allTextContents();
}

/**
 * Where the list stands (run in the webview as a string: the project compiles without the DOM
 * library): its scroll position, the first item whose bottom is below the top edge (the one
 * the reader looks at) with its offset from that edge, and whether the last item is fully
 * inside the list's box.
 */
const VIEW_STATE = `(() => {
  const list = document.querySelector('#messages');
  const box = list.getBoundingClientRect();
  const items = Array.from(list.querySelectorAll('.message'));
  let anchor;
  for (const el of items) {
    const r = el.getBoundingClientRect();
    if (r.bottom > box.top + 1) { anchor = { key: el.dataset.key, offset: Math.round(r.top - box.top) }; break; }
  }
  const last = items[items.length - 1];
  const lr = last ? last.getBoundingClientRect() : undefined;
  const pill = document.querySelector('#new-below');
  return {
    scrollTop: Math.round(list.scrollTop),
    bottomGap: Math.round(list.scrollHeight - list.scrollTop - list.clientHeight),
    anchor,
    lastKey: last ? last.dataset.key : undefined,
    lastText: last ? last.textContent : '',
    lastFullyVisible: !!lr && lr.top >= box.top - 1 && lr.bottom <= box.bottom + 1 && lr.height > 0,
    lastBelowBy: lr ? Math.round(lr.bottom - box.bottom) : 0,
    pill: pill && !pill.hidden ? pill.textContent : '',
  };
})()`;

interface ViewState {
  scrollTop: number;
  bottomGap: number;
  anchor?: { key: string; offset: number };
  lastKey?: string;
  lastText: string;
  lastFullyVisible: boolean;
  lastBelowBy: number;
  pill: string;
}

async function viewState(frame: Frame): Promise<ViewState> {
  return frame.evaluate(VIEW_STATE) as Promise<ViewState>;
}

/** A text message into the room of `key`, from a fresh identity, over plain TCP; its id. */
async function postToRoom(port: number, key: Uint8Array, text: string, name = 'Dora'): Promise<string> {
  const cipher = new RoomCipher(key);
  const id = generateMessageId();
  const body = cipher.seal({ id, ts: Date.now(), name, type: 'text', text }, generateIdentity());
  await sendEnvelopes('127.0.0.1', port, cipher, [{ id, body }]);
  return id;
}

function print(msg: string): void {
  console.log(`      [e2e] ${msg}`);
}

describe('SMC in a real browser: a panel in code-server and a terminal client', function () {
  this.timeout(180_000);
  const vsix = process.env.SMC_VSIX ?? '';
  let server: CodeServer;
  let browser: Browser;
  let wb: Workbench;
  let workspace: string;
  let cliHome: string;
  let relayPort: number;
  let invite: string;
  let bob: JsonChat | undefined;
  const chats: JsonChat[] = [];
  const measurements: Record<string, number> = {};
  /** The key of the room seeded with 10 000 messages (the last steps use it). */
  let bigKey: Uint8Array | undefined;

  before(async function () {
    this.timeout(240_000);
    if (!vsix || !existsSync(vsix)) throw new Error('SMC_VSIX must name the packaged extension (scripts/test-host.mjs packages it)');
    const paths = hostPathsFromEnv();
    workspace = makeTempDir('ws-e2e');
    mkdirSync(join(workspace, 'src'));
    writeFileSync(join(workspace, 'src', 'greet.ts'), GREET_TS);
    cliHome = makeTempDir('cli-home');
    relayPort = await freePort();
    server = await CodeServer.start(paths, {
      name: 'alice',
      workspace,
      install: [vsix],
      settings: aliceSettings(relayPort),
    });
    browser = await launchBrowser(paths);
    wb = await Workbench.open(browser, server);
    print(`extension installed from ${vsix}`);
  });

  screenshotFailures('', () => wb);

  after(async function () {
    this.timeout(60_000);
    for (const c of chats) await c.stop().catch(() => undefined);
    if (Object.keys(measurements).length) {
      mkdirSync(RESULTS_DIR, { recursive: true });
      writeFileSync(join(RESULTS_DIR, 'measurements.json'), `${JSON.stringify(measurements, null, 2)}\n`);
    }
    await stopAll();
    for (const d of [workspace, cliHome]) if (d) rmSync(d, { recursive: true, force: true });
  });

  function startChat(name: string, inv = invite): JsonChat {
    const c = JsonChat.start(inv, name);
    chats.push(c);
    return c;
  }

  /** SMC: Join Room, "Paste an invite link", the invite pasted (as a person does it). */
  async function joinWithInvite(text: string): Promise<void> {
    await wb.runCommand('SMC: Join Room');
    await wb.pick(/Paste an invite link/);
    await wb.answerInput(text, { promptContains: 'Paste the invite link' });
  }

  it('the palette shows every SMC command', async () => {
    const labels = await wb.paletteLabels('SMC:');
    for (const c of SMC_COMMANDS) assert.ok(labels.includes(c), `"${c}" missing from the palette; it shows: ${labels.join(', ')}`);
  });

  it('SMC: Start Relay (palette) starts a relay on the configured port', async () => {
    await wb.runCommand('SMC: Start Relay');
    await waitFor(`a relay listening on ${relayPort}`, async () => ((await portOpen(relayPort)) ? true : undefined), 60_000);
  });

  it('joins a room created by `smc room new` and opens the chat panel', async () => {
    invite = newRoomInvite(cliHome, `127.0.0.1:${relayPort}`, 'e2e-team');
    await joinWithInvite(invite);
    await wb.statusItem(/e2e-team/).first().waitFor({ state: 'visible', timeout: 60_000 });
    await wb.openChat();
  });

  it('keeps the room key out of the browser: SecretStorage holds it encrypted, nothing else holds it', async () => {
    const key = parseInvite(invite).key;
    const needles = [encodeB64u(key), key.toString('base64'), key.toString('hex'), key.toString('hex').toUpperCase()];
    const stores = await wb.page.evaluate(DUMP_BROWSER_STORAGE) as { where: string; text: string }[];
    assert.ok(stores.some((s) => s.where.startsWith('indexedDB/vscode-web-state-db')), `globalState was not searched: ${stores.map((s) => s.where).join(', ')}`);
    assert.ok(stores.some((s) => s.where === 'localStorage/secrets.provider'), 'no SecretStorage entry in the browser: where did the key go?');
    const hits = stores.filter((s) => needles.some((n) => s.text.includes(n))).map((s) => s.where);
    assert.deepEqual(hits, [], `the room key is readable in: ${hits.join(', ')}`);
  });

  it('two people exchange messages: panel -> terminal and terminal -> panel', async () => {
    bob = startChat('Bob');
    await wb.statusItem(/2 online/).first().waitFor({ state: 'visible', timeout: 60_000 });
    const composer = wb.webview().locator('#composer textarea');
    await composer.fill('Hello Bob, this is Alice');
    await composer.press('Enter');
    const got = await bob.waitForLine('Alice\'s message at Bob', (l) => l.text === 'Hello Bob, this is Alice');
    assert.equal(got.name, 'Alice');
    await wb.webview().locator('#messages .message[data-state="sent"]', { hasText: 'Hello Bob, this is Alice' }).waitFor({ state: 'visible', timeout: 30_000 });

    bob.send('Hi Alice, **this** is Bob');
    const item = wb.webview().locator('#messages .message', { hasText: 'is Bob' });
    await item.waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await item.locator('.body strong').textContent(), 'this', 'Markdown bold not rendered');
    assert.match((await item.textContent()) ?? '', /Bob/);
    // Alice is in the visible panel, at the bottom, typing: what arrives now is read as it
    // comes, so no "New messages" divider (issue 11, minor items).
    await composer.fill('Alice is typing a reply');
    bob.send('Bob writes while Alice types');
    await wb.webview().locator('#messages .message', { hasText: 'Bob writes while Alice types' }).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await wb.webview().locator('#unread-marker').count(), 0, 'a "New messages" divider for messages that arrived while Alice watched the panel');
    await composer.fill('');
  });

  it('the status bar toggles the connection', async () => {
    await wb.statusItem(/e2e-team/).first().click();
    await wb.statusItem(/SMC offline/).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.statusItem(/SMC offline/).first().click();
    await wb.statusItem(/e2e-team/).first().waitFor({ state: 'visible', timeout: 60_000 });
  });

  it('a selection shared with SMC: Share Selection arrives with its path and lines, and opens there', async () => {
    assert.ok(bob);
    await wb.openFile('src/greet.ts');
    await wb.selectLines(5, 7);
    await wb.runCommand('SMC: Share Selection');
    const line = await bob.waitForLine('the snippet at Bob', (l) => typeof l.snippet === 'object' && l.snippet !== null);
    const snippet = line.snippet as { path: string; start: number; end: number; lang: string; code: string };
    assert.equal(snippet.path, 'src/greet.ts');
    assert.equal(snippet.start, 5);
    assert.equal(snippet.end, 7);
    assert.equal(snippet.lang, 'typescript');
    assert.match(snippet.code, /export function greet/);

    // "Open in editor" from the panel: the file opens with the cursor on the snippet's first line.
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('SMC: Open Chat');
    const open = wb.webview().locator('#messages .snippet .open-snippet').last();
    await open.waitFor({ state: 'visible', timeout: 30_000 });
    await open.click();
    await wb.page.locator('.tabs-container .tab.active', { hasText: 'greet.ts' }).waitFor({ state: 'visible', timeout: 30_000 });
    await wb.cursorAt(5);
    // Beside the chat, not in its place: the chat stays the active tab of its own group.
    await wb.page.locator('.tabs-container .tab.active', { hasText: 'SMC:' }).waitFor({ state: 'visible', timeout: 30_000 });

    // Share Selection from an editor in the chat's group shows the chat beside it, not over it.
    await wb.openChat({ closeEditors: true });
    await wb.runCommand('View: Join All Editor Groups');
    await wb.openFile('src/greet.ts');
    await wb.selectLines(1, 1);
    await wb.runCommand('SMC: Share Selection');
    await bob.waitForLine('the second snippet at Bob', (l) => typeof l.snippet === 'object' && l.snippet !== null && (l.snippet as { start: number }).start === 1);
    await wb.page.locator('.tabs-container .tab.active', { hasText: 'SMC:' }).waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.locator('.tabs-container .tab.active', { hasText: 'greet.ts' }).waitFor({ state: 'visible', timeout: 30_000 });
  });

  it('screenshots of the panel in a dark and a light theme', async () => {
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('SMC: Open Chat');
    await wb.webview().locator('#messages .snippet').first().waitFor({ state: 'visible', timeout: 30_000 });
    const shots: string[] = [];
    // "Default Dark Modern" / "Default Light Modern" (the settings' names) are labelled
    // "Dark Modern" / "Light Modern" in the theme picker of VS Code 1.139.
    for (const [theme, file] of [['Dark Modern', 'panel-dark'], ['Light Modern', 'panel-light']] as const) {
      await wb.setColorTheme(theme);
      // The webview follows: VS Code sets vscode-light / vscode-dark on its body.
      const bodyClass = theme.includes('Dark') ? 'vscode-dark' : 'vscode-light';
      await wb.webview().locator(`body.${bodyClass}`).waitFor({ state: 'attached', timeout: 30_000 });
      shots.push(await wb.screenshot(file));
    }
    if (process.env.SMC_UPDATE_SCREENSHOTS) {
      const dir = join(REPO_ROOT, 'docs', 'screenshots');
      mkdirSync(dir, { recursive: true });
      for (const s of shots) copyFileSync(s, join(dir, s.split('/').pop()!));
      print(`screenshots copied to ${dir}`);
    }
    for (const s of shots) assert.ok(existsSync(s), `${s} not written`);
  });

  it('a narrow panel (about 650 px) folds the member list and wraps its header without cutting it', async () => {
    await wb.page.setViewportSize({ width: 1000, height: 900 });
    try {
      const frame = await wb.webviewFrame();
      await waitFor('the panel to be narrow', async () => {
        const w = await frame.evaluate('document.body.clientWidth') as number;
        return w > 0 && w <= 720 ? w : undefined;
      }, 30_000);
      const width = await frame.evaluate('document.body.clientWidth') as number;
      print(`narrow panel: ${width} px wide`);
      assert.equal(await frame.locator('#presence-panel').isVisible(), false, 'the member list keeps its column in a narrow panel');
      const toggle = frame.locator('#presence-toggle');
      await toggle.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match((await toggle.textContent()) ?? '', /\d+ online/);
      const cut = await frame.evaluate(`(() => {
        const out = [];
        for (const el of document.querySelectorAll('#room-name, .snippet-lang, #header vscode-button')) {
          if (el.scrollWidth > el.clientWidth + 1) out.push(el.id || el.className || el.tagName);
        }
        for (const el of document.querySelectorAll('.snippet-lang')) {
          const r = document.createRange(); r.selectNodeContents(el);
          if (r.getClientRects().length > 1) out.push('snippet-lang wrapped: ' + el.textContent);
        }
        return out;
      })()`) as string[];
      assert.deepEqual(cut, [], 'cut or broken header text in a narrow panel');
      await wb.screenshot('panel-narrow');
      await toggle.click();
      await frame.locator('#presence-panel').waitFor({ state: 'visible', timeout: 10_000 });
      await wb.screenshot('panel-narrow-members');
      await toggle.click();
    } finally {
      await wb.page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('the relay is stopped and restarted from the palette and nothing is lost', async () => {
    assert.ok(bob);
    await wb.runCommand('SMC: Stop Relay');
    await waitFor('the relay port to close', async () => ((await portOpen(relayPort)) ? undefined : true), 60_000);
    await wb.statusItem(/SMC (offline|connecting)/).first().waitFor({ state: 'visible', timeout: 60_000 });

    // Both sides write while the relay is down; their clients resend after the reconnect (§1.5).
    const composer = wb.webview().locator('#composer textarea');
    await composer.fill('Written by Alice while the relay was down');
    await composer.press('Enter');
    bob.send('Written by Bob while the relay was down');
    await wb.webview().locator('#messages .message', { hasText: 'Written by Alice while the relay was down' }).waitFor({ state: 'visible', timeout: 30_000 });
    await composer.fill('A second note from Alice while the relay was down');
    await composer.press('Enter');
    // One calm line for both, also once the client gives up waiting for their acks (the
    // fail timer, §1.5): no red error and no Retry on each (issue 11, "Offline sends").
    const banner = wb.webview().locator('#offline-banner');
    await banner.filter({ hasText: /Offline — 2 messages will be sent when the relay is back/ }).waitFor({ state: 'visible', timeout: 30_000 });
    await waitFor('the unacked messages past the fail timer', async () => (
      (await wb.webview().locator('#messages .message.own[data-state="failed"]').count()) === 2 ? true : undefined
    ), 60_000);
    assert.equal(await wb.webview().locator('#messages .message .retry').count(), 0, 'a Retry button on a message that is only waiting for the relay');
    assert.equal(await wb.webview().locator('#messages [role="alert"]').count(), 0, 'an alarm on a message that is only waiting for the relay');
    assert.match((await banner.textContent()) ?? '', /2 messages will be sent/);
    await wb.screenshot('offline-queued');

    await wb.runCommand('SMC: Start Relay');
    await waitFor('the relay to listen again', async () => ((await portOpen(relayPort)) ? true : undefined), 60_000);
    await wb.statusItem(/e2e-team/).first().waitFor({ state: 'visible', timeout: 90_000 });
    await bob.waitForLine('Alice\'s offline message at Bob', (l) => l.text === 'Written by Alice while the relay was down', 90_000);
    await wb.webview().locator('#messages .message', { hasText: 'Written by Bob while the relay was down' }).waitFor({ state: 'visible', timeout: 90_000 });
    await wb.webview().locator('#messages .message[data-state="sent"]', { hasText: 'Written by Alice while the relay was down' }).waitFor({ state: 'visible', timeout: 60_000 });
    await wb.webview().locator('#messages .message[data-state="sent"]', { hasText: 'A second note from Alice while the relay was down' }).waitFor({ state: 'attached', timeout: 60_000 });
    await banner.waitFor({ state: 'hidden', timeout: 30_000 });

    // A newcomer reads the whole history from the restarted relay: every message exactly once.
    const carol = startChat('Carol');
    const expected = [
      'Hello Bob, this is Alice', 'Hi Alice, **this** is Bob',
      'Written by Alice while the relay was down', 'Written by Bob while the relay was down',
    ];
    for (const text of expected) await carol.waitForLine(`"${text}" in Carol's history`, (l) => l.text === text, 60_000);
    for (const text of expected) {
      assert.equal(carol.messages().filter((l) => l.text === text).length, 1, `"${text}" is in the history more than once`);
    }
    await carol.waitForLine('the snippet in Carol\'s history', (l) => typeof l.snippet === 'object' && l.snippet !== null);
  });

  it('a hostile-message corpus renders inert in the panel', async () => {
    assert.ok(bob);
    // A local server that records any request a message manages to make.
    const beaconHits: string[] = [];
    const beacon: Server = createServer((req, res) => {
      beaconHits.push(req.url ?? '');
      res.end();
    });
    const beaconPort = await new Promise<number>((res) => beacon.listen(0, '127.0.0.1', () => {
      const a = beacon.address();
      res(typeof a === 'object' && a ? a.port : 0);
    }));
    const cspConsole: string[] = [];
    wb.page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspConsole.push(m.text());
    });
    try {
      const frame = await wb.webviewFrame();
      await frame.evaluate(() => {
        const w = window as unknown as { __smcCsp: string[] };
        w.__smcCsp = [];
        document.addEventListener('securitypolicyviolation', (e) => w.__smcCsp.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      const b = `http://127.0.0.1:${beaconPort}`;
      const big = `BEGIN${'x'.repeat(16_384 - 8)}END`; // exactly 16 KiB of UTF-8, the §2.3 maximum
      const corpus = [
        '<script>window.__smcPwned = "script"</script>',
        '<img src=x onerror="window.__smcPwned = \'onerror\'">',
        '<svg onload="window.__smcPwned = \'svg\'"><circle r="5"/></svg>',
        '<iframe src="javascript:parent.__smcPwned = \'iframe\'"></iframe>',
        '[click me](javascript:window.__smcPwned=\'link\')',
        '<a href="javascript:window.__smcPwned=\'anchor\'">anchor</a>',
        '[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
        `![beacon](${b}/markdown-image.png)`,
        `<img src="${b}/html-image.png">`,
        `<link rel="stylesheet" href="${b}/style.css"><style>body { display: none }</style>`,
        `<form action="${b}/form"><button>submit</button></form>`,
        '<div style="position:fixed;inset:0;background:red">overlay</div>',
        'access = "user\u202E \u2066// admin only\u2069 \u2066"; bidi \u200F\u061C marks',
        // Invisible characters (issue 11): a zero-width space in an address, a soft hyphen and a
        // word joiner in code; an emoji ZWJ sequence must stay one picture.
        'pay\u200Bpal.com and `rm -rf /\u00AD\u2060` by 👩\u200D💻',
        big,
        // Deep nesting: markdown-it gives up past its nesting limit and the text is lost.
        `${'>'.repeat(1000)} deepquote-text`,
        `${'- '.repeat(500)}deeplist-text`,
      ];
      // Aligned columns: markdown-it writes style="text-align:…" on every cell (a CSP violation
      // each). Several lines, so it goes over plain TCP (`smc chat --json` sends one line).
      const tableText = '| left | centre | right |\n|:-----|:------:|------:|\n| l1 | c1 | r1 |\n| l2 | c2 | r2 |';
      const before = (await panelTexts(frame)).length;
      for (const line of corpus) bob.send(line);
      await postToRoom(relayPort, parseInvite(invite).key, tableText);
      await waitFor('every hostile message in the panel', async () => ((await panelTexts(frame)).length >= before + corpus.length + 1 ? true : undefined), 90_000);
      await frame.locator('#messages .message', { hasText: 'END' }).last().waitFor({ state: 'attached', timeout: 30_000 });

      // The table's alignment comes from classes: the cells are aligned, and no CSP report.
      const table = frame.locator('#messages .message table').last();
      await table.scrollIntoViewIfNeeded();
      const computed = await frame.evaluate(`(() => { const t = Array.from(document.querySelectorAll('#messages .message table')).pop(); return Array.from(t.querySelectorAll('tbody tr:first-child td')).map((td) => getComputedStyle(td).textAlign); })()`) as string[];
      assert.deepEqual(computed.map((a) => a.replace(/^start$/, 'left')), ['left', 'center', 'right'], 'table columns are not aligned as the Markdown asks');
      // Deeply nested text is shown, in a box wide enough to read.
      for (const needle of ['deepquote-text', 'deeplist-text']) {
        const width = await frame.evaluate(`(() => {
          const item = Array.from(document.querySelectorAll('#messages .message')).find((m) => m.textContent.includes(${JSON.stringify(needle)}));
          if (!item) return -1;
          const walker = document.createTreeWalker(item, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (n.textContent.includes(${JSON.stringify(needle)})) { const r = document.createRange(); r.selectNodeContents(n); return Math.round(r.getBoundingClientRect().width); }
          }
          return -2;
        })()`) as number;
        assert.ok(width >= 60, `"${needle}" is not readable in the panel (text width ${width}px; -1: no such message, -2: text lost)`);
      }
      await frame.locator('#messages .message', { hasText: 'deepquote-text' }).last().scrollIntoViewIfNeeded();
      await wb.screenshot('table-and-nesting');

      // Every link a message produced asks first: the host shows the full address in a modal,
      // and nothing is opened or fetched behind the user's back (no new page, no beacon hit).
      const links = frame.locator('#messages .message a');
      const linkCount = await links.count();
      assert.ok(linkCount > 0, 'no link was rendered: the click checks would prove nothing');
      for (let i = 0; i < linkCount; i++) {
        await links.nth(i).click({ timeout: 10_000 });
        await wb.page.locator('.monaco-dialog-box', { hasText: 'link' }).first().waitFor({ state: 'visible', timeout: 15_000 });
        await wb.dismissDialogs();
      }
      const opened = wb.page.context().pages().filter((p) => p !== wb.page).map((p) => p.url());
      for (const p of wb.page.context().pages()) if (p !== wb.page) await p.close();
      assert.deepEqual(opened, [], 'clicking a link opened it without asking');

      const report = await frame.evaluate(() => {
        const root = document.querySelector('#messages');
        const w = window as unknown as { __smcPwned?: string; __smcCsp: string[] };
        const all = root ? Array.from(root.querySelectorAll('*')) : [];
        return {
          pwned: w.__smcPwned ?? (window.parent as unknown as { __smcPwned?: string }).__smcPwned,
          csp: w.__smcCsp,
          dangerous: all.filter((e) => ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'STYLE', 'LINK', 'SVG', 'svg', 'META', 'BASE'].includes(e.tagName)).map((e) => e.tagName),
          handlers: all.flatMap((e) => Array.from(e.attributes).filter((a) => a.name.toLowerCase().startsWith('on')).map((a) => `${e.tagName}[${a.name}]`)),
          styled: all.filter((e) => /position\s*:\s*fixed/i.test(e.getAttribute('style') ?? '')).length,
          remoteImages: Array.from(root?.querySelectorAll('img') ?? []).map((i) => i.getAttribute('src') ?? '').filter((s) => /^(https?:|\/\/)/i.test(s)),
          hrefs: Array.from(root?.querySelectorAll('a[href]') ?? []).map((a) => a.getAttribute('href') ?? ''),
          text: root?.textContent ?? '',
          location: window.location.href,
        };
      });
      assert.equal(report.pwned, undefined, `a message ran script: ${report.pwned}`);
      assert.deepEqual(report.csp, [], 'the webview reported CSP violations');
      assert.deepEqual(cspConsole, [], 'the console reported CSP violations');
      assert.deepEqual(report.dangerous, [], 'active elements rendered from messages');
      assert.deepEqual(report.handlers, [], 'event-handler attributes rendered from messages');
      assert.equal(report.styled, 0, 'a message controls layout through a style attribute');
      assert.deepEqual(report.remoteImages, [], 'remote images rendered');
      for (const h of report.hrefs) assert.match(h, /^(https?:|mailto:)/i, `unsafe link target rendered: ${h}`);
      assert.doesNotMatch(report.text, /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/, 'raw bidi control characters reach the screen');
      assert.doesNotMatch(report.text.replace(/👩\u200D💻/gu, ''), /[\u200B-\u200D\u00AD\u2060\uFEFF]/, 'raw invisible characters reach the screen');
      assert.ok(report.text.includes('pay⟦U+200B⟧pal.com'), 'the zero-width space in "paypal.com" is not shown');
      assert.ok(report.text.includes('rm -rf /⟦U+00AD⟧⟦U+2060⟧'), 'the invisible characters in the code span are not shown');
      assert.ok(report.text.includes('👩\u200D💻'), 'the emoji ZWJ sequence was broken up');
      assert.ok(report.text.includes(big) || (report.text.includes('BEGIN') && report.text.includes('END')), 'the 16 KiB message is not shown');
      assert.ok(report.text.includes('<script>'), 'markup should be shown as text, not dropped silently');
      assert.deepEqual(beaconHits, [], `a message made the browser fetch: ${beaconHits.join(', ')}`);
      await wb.screenshot('hostile-corpus');
    } finally {
      await new Promise<void>((res) => beacon.close(() => res()));
    }
  });

  it('"Beginning of the room" takes its own line at the top of the list and scrolls with it (issue 11)', async () => {
    const frame = await wb.webviewFrame();
    // Run in the webview as a string (no DOM library here): the status's and the messages'
    // boxes, at the top of the list and 12 px below it.
    const geometry = (scroll: number): Promise<{ inList: boolean; text: string; statusTop: number; statusBottom: number; firstTop: number; overlapping: number; scrollTop: number }> => frame.evaluate(`(async () => {
      const list = document.querySelector('#messages');
      list.scrollTop = ${scroll};
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const status = document.querySelector('#older-status');
      const s = status.getBoundingClientRect();
      const items = Array.from(list.querySelectorAll('.message')).map((m) => m.getBoundingClientRect());
      return {
        inList: list.contains(status), text: status.textContent, statusTop: s.top, statusBottom: s.bottom,
        firstTop: items.length ? items[0].top : 0, scrollTop: list.scrollTop,
        overlapping: items.filter((r) => r.height > 0 && r.top < s.bottom - 0.5 && r.bottom > s.top + 0.5).length,
      };
    })()`);
    await waitFor('"Beginning of the room" at the top of the list', async () => ((await geometry(0)).text === 'Beginning of the room' ? true : undefined), 30_000);
    const top = await geometry(0);
    assert.ok(top.inList, 'the status is not part of the scrolled list');
    assert.equal(top.overlapping, 0, `a message overlaps "Beginning of the room": ${JSON.stringify(top)}`);
    assert.ok(top.firstTop >= top.statusBottom, `the first message starts above the end of the status: ${JSON.stringify(top)}`);
    await wb.screenshot('beginning-of-room');
    const scrolled = await geometry(12);
    assert.ok(scrolled.scrollTop > 0, 'the list did not scroll');
    assert.ok(Math.abs((top.statusTop - scrolled.statusTop) - scrolled.scrollTop) <= 1, `the status stays put while the list scrolls under it: ${JSON.stringify({ top, scrolled })}`);
    assert.equal(scrolled.overlapping, 0, `a message overlaps the status once scrolled: ${JSON.stringify(scrolled)}`);
    await frame.evaluate(`(() => { const l = document.querySelector('#messages'); l.scrollTop = l.scrollHeight; })()`);
  });

  it('marks a message sealed with another key as unverifiable, and a known name with a new key as changed', async () => {
    const roomKey = parseInvite(invite).key;
    // Sealed with another room's key: decryption fails (§2.4 step 2).
    const forgedId = generateMessageId();
    const forged = new RoomCipher(generateRoomKey()).seal({ id: forgedId, ts: Date.now(), name: 'Mallory', type: 'text', text: 'FORGED CONTENT' }, generateIdentity());
    // Valid, but "Bob" signed by an identity this room has not seen for that name (§2.4).
    const impostorId = generateMessageId();
    const impostor = new RoomCipher(roomKey).seal({ id: impostorId, ts: Date.now(), name: 'Bob', type: 'text', text: 'Bob with a new key' }, generateIdentity());
    await sendEnvelopes('127.0.0.1', relayPort, new RoomCipher(roomKey), [{ id: forgedId, body: forged }, { id: impostorId, body: impostor }]);

    const frame = await wb.webviewFrame();
    const unverifiable = frame.locator(`#messages .message[data-key="${forgedId}"]`);
    await unverifiable.waitFor({ state: 'attached', timeout: 60_000 });
    assert.equal(await unverifiable.getAttribute('data-kind'), 'unverifiable');
    assert.doesNotMatch((await unverifiable.textContent()) ?? '', /FORGED CONTENT|Mallory/, 'an unverifiable message shows its content');
    const changed = frame.locator(`#messages .message[data-key="${impostorId}"]`);
    await changed.waitFor({ state: 'attached', timeout: 60_000 });
    assert.equal(await changed.locator('.key-changed').count() > 0, true, 'no "key changed" marker on a known name signed by a new key');
    await wb.screenshot('unverifiable-and-key-changed');
  });

  it('marks another key under Alice\'s own name, and under a look-alike of it, as key changed (issue 7 items 2.2, 2.6)', async () => {
    const roomKey = parseInvite(invite).key;
    const cipher = new RoomCipher(roomKey);
    const stranger = generateIdentity();
    // "Alice" is the panel's own display name: another key under it is always marked, and so is
    // "Аlice" with a Cyrillic А (U+0410), which the panel would otherwise show exactly alike.
    const sameId = generateMessageId();
    const lookId = generateMessageId();
    const same = cipher.seal({ id: sameId, ts: Date.now(), name: 'Alice', type: 'text', text: 'I am Alice, honestly' }, stranger);
    const look = cipher.seal({ id: lookId, ts: Date.now(), name: '\u0410lice', type: 'text', text: 'Alice with a Cyrillic A' }, stranger);
    await sendEnvelopes('127.0.0.1', relayPort, cipher, [{ id: sameId, body: same }, { id: lookId, body: look }]);
    const frame = await wb.webviewFrame();
    for (const id of [sameId, lookId]) {
      const item = frame.locator(`#messages .message[data-key="${id}"]`);
      await item.waitFor({ state: 'attached', timeout: 60_000 });
      assert.equal(await item.locator('.key-changed').count(), 1, `no "key changed" on ${id} under (a look-alike of) the own name`);
      assert.equal(await item.locator('.identity-verified').count(), 0);
    }
    const last = frame.locator(`#messages .message[data-key="${lookId}"]`);
    await last.scrollIntoViewIfNeeded();
    await last.waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('own-name-impersonation');
  });

  it('shows members unverified until verified; "It Matches" is not the default; verifying shows a badge and clears "key changed" (issue 7 item 2.6)', async () => {
    // Bob, on a new machine: a new key under a known name, so his messages are "key changed".
    const newBob = startChat('Bob');
    newBob.send('Bob here, new laptop');
    const frame = await wb.webviewFrame();
    const msg = frame.locator('#messages .message', { hasText: 'Bob here, new laptop' });
    await msg.waitFor({ state: 'attached', timeout: 60_000 });
    await msg.scrollIntoViewIfNeeded();
    const header = frame.locator('#messages .message.group-start', { hasText: 'Bob here, new laptop' });
    assert.equal(await header.locator('.key-changed').count(), 1, 'a new key under "Bob" is not marked');
    assert.equal(await header.locator('.identity-unverified').count(), 1, 'an unverified sender has no "unverified" marker');
    // The first Bob, in the presence list, not verified either.
    await frame.locator('#presence .member .identity-unverified').first().waitFor({ state: 'attached', timeout: 60_000 });
    await wb.screenshot('unverified-before-verify');

    // Verify… on the new key. Enter in the dialog must not trust it.
    const verify = header.locator('.verify-member');
    const fp = await verify.getAttribute('data-fingerprint');
    assert.ok(fp, 'the Verify… button carries the fingerprint');
    await verify.click();
    const dialog = wb.page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await dialog.textContent()) ?? '', new RegExp(fp.replace(/ /g, '\\s*')), 'the dialog shows the fingerprint');
    await wb.screenshot('verify-dialog');
    await wb.page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });
    await wb.dismissDialogs();
    // Nothing changed: still "key changed", still unverified (give a wrong trust time to show).
    await frame.locator('#messages .message.group-start', { hasText: 'Bob here, new laptop' }).locator('.key-changed').waitFor({ state: 'attached', timeout: 10_000 });
    assert.equal(await frame.locator('#messages .identity-verified').count(), 0, 'Enter in the Verify dialog trusted the key');

    // Now the person chooses "It Matches".
    await frame.locator('#messages .message.group-start', { hasText: 'Bob here, new laptop' }).locator('.verify-member').click();
    await dialog.waitFor({ state: 'visible', timeout: 30_000 });
    await dialog.locator('.monaco-button', { hasText: /^It Matches$/ }).click();
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });
    const after = frame.locator('#messages .message.group-start', { hasText: 'Bob here, new laptop' });
    await after.locator('.identity-verified').waitFor({ state: 'attached', timeout: 30_000 });
    assert.equal(await after.locator('.key-changed').count(), 0, 'verifying did not clear "key changed" on the earlier message');
    // The verified member in the presence list has the badge (the presence shows its short fingerprint).
    const short = fp.split(' ').slice(0, 2).join(' ');
    const member = frame.locator('#presence .member', { hasText: short });
    await member.locator('.identity-verified').waitFor({ state: 'attached', timeout: 30_000 });
    newBob.send('Bob again, verified');
    const later = frame.locator('#messages .message', { hasText: 'Bob again, verified' });
    await later.waitFor({ state: 'attached', timeout: 60_000 });
    await after.scrollIntoViewIfNeeded();
    await wb.screenshot('verified-badge');
    await newBob.stop();
  });

  it('marks a typist and a member under a known name with a new key as "key changed" (issue 11)', async () => {
    // A real client (the core, over TCP) calling itself "Bob" with a key this room has not seen
    // for that name: online in the member list and typing, never writing a message.
    const inv = parseInvite(invite);
    const identity = generateIdentity();
    const short = shortOfFingerprint(fingerprint(identity.publicKey));
    const impostor = new RelayClient({ host: '127.0.0.1', port: relayPort, agent: 'e2e-impostor', identity, displayName: 'Bob', transport: createTcpTransport });
    const { room } = impostor.join({ key: inv.key, name: inv.name });
    impostor.connect();
    try {
      const frame = await wb.webviewFrame();
      const member = frame.locator('#presence .member', { hasText: short });
      await member.waitFor({ state: 'attached', timeout: 60_000 });
      assert.equal(await member.locator('.key-changed').count(), 1, 'a member under "Bob" with a new key is not marked in the member list');
      // Typing indicators are ephemeral and shown for a few seconds: keep typing until seen.
      await waitFor('"Bob … key changed is typing…" in the panel', async () => {
        impostor.setTyping(room);
        const text = (await frame.locator('#typing').textContent()) ?? '';
        return /Bob\s+key changed\s+is typing…/.test(text) && (await frame.locator('#typing .key-changed').count()) === 1 ? true : undefined;
      }, 60_000, 500);
      await wb.screenshot('typing-key-changed');
    } finally {
      await impostor.disconnect();
    }
  });

  it('measures the time to open the panel on a room with 10 000 messages (to first paint)', async function () {
    this.timeout(300_000);
    const key = generateRoomKey();
    bigKey = key;
    const t0 = Date.now();
    await seedRoom('127.0.0.1', relayPort, key, 10_000);
    print(`seeded 10 000 messages in ${Date.now() - t0} ms`);
    const bigInvite = formatInvite({ host: '127.0.0.1', port: relayPort, name: 'ten-thousand', key });
    await joinWithInvite(bigInvite);
    await wb.statusItem(/ten-thousand/).first().waitFor({ state: 'visible', timeout: 120_000 });
    await wb.runCommand('SMC: Open Chat');
    await wb.webview().locator('#messages .message', { hasText: 'Seeded message' }).first().waitFor({ state: 'visible', timeout: 120_000 });
    await wb.runCommand('View: Close All Editors');

    // Timed: from the click on "SMC: Open Chat" to the first message painted in the panel.
    const row = await wb.findCommand('SMC: Open Chat');
    const start = Date.now();
    await row.click();
    await wb.webview().locator('#messages .message', { hasText: 'Seeded message' }).first().waitFor({ state: 'visible', timeout: 120_000 });
    const frame = await wb.webviewFrame();
    await frame.evaluate(() => new Promise<void>((res) => requestAnimationFrame(() => requestAnimationFrame(() => res()))));
    const ms = Date.now() - start;
    measurements.panelOpen10kMs = ms;
    print(`time to open the panel on a room with 10 000 messages (to first paint): ${ms} ms`);

    // The panel shows the newest messages; scrolling up brings older ones (PRODUCT.md: older
    // history loaded on scroll). Seeded texts carry their number, roughly in seq order.
    const oldestShown = async (): Promise<number> => {
      const texts = await frame.locator('#messages .message').allTextContents();
      return Math.min(...texts.map((t) => Number(/Seeded message (\d+)/.exec(t)?.[1] ?? Number.POSITIVE_INFINITY)));
    };
    const firstOldest = await oldestShown();
    const older = await waitFor('older messages after scrolling to the top', async () => {
      await frame.locator('#messages .message').first().scrollIntoViewIfNeeded();
      const now = await oldestShown();
      return now < firstOldest - 100 ? now : undefined;
    }, 60_000, 1_000);
    print(`scrolling up loaded older history: oldest shown went from #${firstOldest} to #${older}`);
  });
  // ---- reading position (issue 11, "The chat panel") ------------------------------------

  it('opens a long room with its newest message fully in view, and keeps a live one in view at the bottom', async () => {
    assert.ok(bigKey);
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('SMC: Open Chat');
    await wb.webview().locator('#messages .message', { hasText: 'Seeded message' }).first().waitFor({ state: 'visible', timeout: 120_000 });
    const frame = await wb.webviewFrame();
    const opened = await waitFor('the newest message fully in view after opening', async () => {
      const v = await viewState(frame);
      return v.lastFullyVisible ? v : undefined;
    }, 15_000).catch(async (e: Error) => {
      await wb.screenshot('newest-not-in-view');
      throw new Error(`${e.message}: ${JSON.stringify(await viewState(frame))}`);
    });
    assert.equal(opened.pill, '', `a pill is shown at the bottom: "${opened.pill}"`);
    await wb.screenshot('opened-at-newest');

    const id = await postToRoom(relayPort, bigKey, 'Live message while at the bottom');
    await frame.locator(`#messages .message[data-key="${id}"]`).waitFor({ state: 'attached', timeout: 60_000 });
    await waitFor('the live message fully in view', async () => {
      const v = await viewState(frame);
      return v.lastKey === id && v.lastFullyVisible && v.pill === '' ? true : undefined;
    }, 15_000).catch(async (e: Error) => {
      await wb.screenshot('live-not-in-view');
      throw new Error(`${e.message}: ${JSON.stringify(await viewState(frame))}`);
    });
  });

  it('leaves a reader who scrolled up where they are, with a "1 new message" pill', async () => {
    assert.ok(bigKey);
    const frame = await wb.webviewFrame();
    await frame.locator('#messages').hover();
    await wb.page.mouse.wheel(0, -700);
    const before = await waitFor('the list scrolled up', async () => {
      const v = await viewState(frame);
      return v.bottomGap > 500 ? v : undefined;
    }, 15_000);
    const id = await postToRoom(relayPort, bigKey, 'Live message while scrolled up');
    await frame.locator(`#messages .message[data-key="${id}"]`).waitFor({ state: 'attached', timeout: 60_000 });
    const after = await waitFor('the "1 new message" pill', async () => {
      const v = await viewState(frame);
      return /1 new message/.test(v.pill) ? v : undefined;
    }, 15_000);
    assert.equal(after.anchor?.key, before.anchor?.key, 'the message the reader looked at moved away');
    assert.ok(Math.abs((after.anchor?.offset ?? 0) - (before.anchor?.offset ?? 0)) <= 2, `the reader was moved: ${JSON.stringify({ before, after })}`);
  });

  it('reconnecting from the status bar, or a relay restart, does not move the reader', async () => {
    assert.ok(bigKey);
    const frame = await wb.webviewFrame();
    const before = await viewState(frame);
    assert.ok(before.bottomGap > 500, 'the reader should still be scrolled up');
    await wb.statusItem(/ten-thousand/).first().click();
    await wb.statusItem(/SMC offline/).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.statusItem(/SMC offline/).first().click();
    await wb.statusItem(/ten-thousand/).first().waitFor({ state: 'visible', timeout: 60_000 });
    // Two messages in turn: the second one reaches the panel after the rejoin's sync (§1.6)
    // and whatever the host redraws after it.
    for (const text of ['First after reconnecting', 'Second after reconnecting']) {
      const id = await postToRoom(relayPort, bigKey, text);
      await waitFor(`"${text}" in the panel`, async () => ((await frame.locator(`#messages .message[data-key="${id}"]`).count()) > 0 ? true : undefined), 60_000)
        .catch(async (e: Error) => {
          await wb.screenshot('reconnect-moved');
          throw new Error(`${e.message}: ${JSON.stringify({ before, now: await viewState(frame) })}`);
        });
    }
    const after = await viewState(frame);
    assert.equal(after.anchor?.key, before.anchor?.key, `reconnecting moved the reader: ${JSON.stringify({ before, after })}`);
    assert.ok(Math.abs((after.anchor?.offset ?? 0) - (before.anchor?.offset ?? 0)) <= 2, `reconnecting moved the reader: ${JSON.stringify({ before, after })}`);

    // A relay restart (SMC: Stop Relay, SMC: Start Relay) does not move the reader either.
    await wb.runCommand('SMC: Stop Relay');
    await waitFor('the relay port to close', async () => ((await portOpen(relayPort)) ? undefined : true), 60_000);
    await wb.runCommand('SMC: Start Relay');
    await waitFor('the relay to listen again', async () => ((await portOpen(relayPort)) ? true : undefined), 60_000);
    await wb.statusItem(/ten-thousand/).first().waitFor({ state: 'visible', timeout: 90_000 });
    for (const text of ['First after the relay restart', 'Second after the relay restart']) {
      const id = await postToRoom(relayPort, bigKey, text);
      await waitFor(`"${text}" in the panel`, async () => ((await frame.locator(`#messages .message[data-key="${id}"]`).count()) > 0 ? true : undefined), 60_000)
        .catch(async (e: Error) => {
          await wb.screenshot('relay-restart-moved');
          throw new Error(`${e.message}: ${JSON.stringify({ before, now: await viewState(frame) })}`);
        });
    }
    const restarted = await viewState(frame);
    assert.equal(restarted.anchor?.key, before.anchor?.key, `a relay restart moved the reader: ${JSON.stringify({ before, restarted })}`);
    assert.ok(Math.abs((restarted.anchor?.offset ?? 0) - (before.anchor?.offset ?? 0)) <= 2, `a relay restart moved the reader: ${JSON.stringify({ before, restarted })}`);
  });

  it('"Jump to newest" jumps to the newest message in one click, from deep in a 10 000-message room', async function () {
    this.timeout(300_000);
    assert.ok(bigKey);
    const frame = await wb.webviewFrame();
    const newestId = await postToRoom(relayPort, bigKey, 'The newest message of the big room');
    await frame.locator(`#messages .message[data-key="${newestId}"]`).waitFor({ state: 'attached', timeout: 60_000 });
    // Scroll up until the window no longer reaches the newest end.
    await frame.locator('#messages').hover();
    await waitFor('the window to leave the newest end', async () => {
      await wb.page.mouse.wheel(0, -4_000);
      const gone = (await frame.locator(`#messages .message[data-key="${newestId}"]`).count()) === 0;
      return gone && (await frame.locator('#new-below:not([hidden])').count()) > 0 ? true : undefined;
    }, 180_000, 300);
    await wb.screenshot('deep-in-history');
    await frame.locator('#new-below').click();
    await waitFor('the newest message fully in view after one click', async () => {
      const v = await viewState(frame);
      return v.lastKey === newestId && v.lastFullyVisible && v.pill === '' ? true : undefined;
    }, 30_000).catch(async (e: Error) => {
      await wb.screenshot('jump-fell-short');
      throw new Error(`${e.message}: ${JSON.stringify(await viewState(frame))}`);
    });
  });

  it('keeps a draft per room: switching rooms neither carries it over nor loses it', async () => {
    const composer = wb.webview().locator('#composer textarea');
    const title = wb.webview().locator('#room-name');
    await composer.fill('Draft for the big room');
    await wb.runCommand('SMC: Switch Room');
    await wb.pick(/e2e-team/);
    await wb.webview().locator('#room-name', { hasText: 'e2e-team' }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await composer.inputValue(), '', 'the draft of another room is in the composer');
    await composer.fill('Draft for the team');
    await wb.runCommand('SMC: Switch Room');
    await wb.pick(/ten-thousand/);
    await wb.webview().locator('#room-name', { hasText: 'ten-thousand' }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await composer.inputValue(), 'Draft for the big room');
    await wb.runCommand('SMC: Switch Room');
    await wb.pick(/e2e-team/);
    await wb.webview().locator('#room-name', { hasText: 'e2e-team' }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await composer.inputValue(), 'Draft for the team');
    assert.match((await title.textContent()) ?? '', /e2e-team/);
  });

  it('the installed extension holds every file its README links to', () => {
    const dirs = readdirSync(server.extensionsDir, { withFileTypes: true }).filter((d) => d.isDirectory() && /smc/i.test(d.name));
    assert.equal(dirs.length, 1, `one SMC extension folder expected in ${server.extensionsDir}`);
    const root = join(server.extensionsDir, dirs[0]!.name);
    // vsce stores the README as readme.md.
    const readmeName = readdirSync(root).find((f) => f.toLowerCase() === 'readme.md');
    assert.ok(readmeName, 'no README in the installed extension');
    const readme = readFileSync(join(root, readmeName), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
    assert.ok(targets.some((t) => t.endsWith('.png')), `the README links no image: ${targets.join(', ')}`);
    const missing = targets.filter((t) => !existsSync(join(root, t)));
    assert.deepEqual(missing, [], 'README links that the .vsix does not contain');
  });

  it('the walkthrough shows its steps without raw Markdown', async () => {
    await wb.runCommand('Welcome: Open Walkthrough...');
    await wb.pick(/Chat end to end with SMC/);
    const page = wb.page.locator('.gettingStartedContainer').first();
    await page.waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.locator('.getting-started-step', { hasText: 'Start a relay' }).first().click();
    await wb.page.locator('.getting-started-step', { hasText: 'Open Relay Settings' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    const text = (await page.textContent()) ?? '';
    assert.doesNotMatch(text, /`/, 'raw backticks in the walkthrough');
    // Steps done from the palette before the walkthrough was ever shown are ticked (issue 11):
    // Start Relay, Join Room and Open Chat ran in the first steps; Copy Invite Link never did.
    const ticked = (title: string): Promise<number> => wb.page.locator('.getting-started-step', { hasText: title }).locator('.codicon-getting-started-step-checked').count();
    for (const title of ['Start a relay', 'Create or join a room', 'Chat and share code']) {
      await wb.page.locator('.getting-started-step', { hasText: title }).locator('.codicon-getting-started-step-checked').first()
        .waitFor({ state: 'attached', timeout: 30_000 })
        .catch(() => assert.fail(`the walkthrough step "${title}" is not ticked although it was done from the palette`));
    }
    assert.equal(await ticked('Invite a teammate'), 0, 'a step that was never done is ticked');
    await wb.screenshot('walkthrough');
    // Not asserted: a step done while the walkthrough is already open (Copy Invite Link) was
    // ticked in some runs and not in others; docs/extension.md says so.
    print('walkthrough: the 3 steps done before it was opened are ticked, the 4th is not');
  });

  it('a window reload keeps the local relay, a terminal client on it, and the chat (issue 11)', async () => {
    // The relay's log (in the extension's global storage) names the pid of every start.
    const log = join(server.userDataDir, 'User', 'globalStorage', 'smc-chat.smc', 'relay.log');
    const starts = (): number[] => readFileSync(log, 'utf8').split('\n').filter((l) => /"event":\s*"start"/.test(l)).map((l) => (JSON.parse(l) as { pid: number }).pid);
    const before = starts();
    const pid = before[before.length - 1];
    assert.ok(pid !== undefined && processAlive(pid), `no running relay in ${log}`);
    // The walkthrough step left the Welcome page in front: the chat first.
    await wb.runCommand('SMC: Open Chat');
    const rita = startChat('Rita');
    rita.send('Rita before the reload');
    let frame = await wb.webviewFrame();
    await frame.locator('#messages .message', { hasText: 'Rita before the reload' }).waitFor({ state: 'attached', timeout: 60_000 });

    await wb.runCommand('Developer: Reload Window');
    await wb.waitUntilReady();
    await wb.runCommand('SMC: Open Chat');
    frame = await wb.webviewFrame();
    await frame.locator('#connection[data-state="connected"]').waitFor({ state: 'attached', timeout: 60_000 });
    await frame.locator('#messages .message', { hasText: 'Rita before the reload' }).waitFor({ state: 'attached', timeout: 60_000 });
    assert.ok(processAlive(pid), 'the relay died with the reloaded window');
    assert.deepEqual(starts(), before, 'a new relay was started: the reload lost the old one');
    rita.send('Rita after the reload');
    await frame.locator('#messages .message', { hasText: 'Rita after the reload' }).waitFor({ state: 'attached', timeout: 60_000 });
    assert.doesNotMatch(rita.stderr.join('\n'), /Lost the connection|Cannot reach/, 'the terminal client lost the relay during the reload');
    await wb.screenshot('after-reload');
    // Stop Relay in the new window stops the relay the old one started.
    await wb.runCommand('SMC: Stop Relay');
    await waitFor('the adopted relay to stop', () => (!processAlive(pid) ? true : undefined), 60_000);
  });
});
