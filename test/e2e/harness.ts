// The host-test harness: starts code-server (VS Code's own server and workbench) and a
// headless Chromium, opens the workbench, and drives it like a person. Used by
// scripts/test-host.mjs for the integration suite (through VS Code's test payload) and by the
// end-to-end suites; bench/ may reuse it to measure the panel. How and why each step works is
// in docs/testing.md (and /work/shared/design/TESTING.md, where it was first tried).
//
// Every process started here is its own process group and is registered, so that `stopAll()`
// (also run on exit and on SIGINT/SIGTERM) kills code-server together with its extension
// host and anything the extension spawned (such as a local relay).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync, createWriteStream, readFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, delimiter } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { format } from 'node:util';
import { chromium, type Browser, type Page, type Frame, type FrameLocator, type Locator } from 'playwright-core';

/** The repository root (this file compiles to out/test/e2e/harness.js). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
/** Where runs save screenshots and logs (git-ignored). */
export const RESULTS_DIR = resolve(process.env.SMC_TEST_RESULTS ?? join(REPO_ROOT, 'test-results'));

/** Paths of the provisioned pieces (scripts/provision.mjs puts them in .vscode-test/). */
export interface HostPaths {
  /** Folder holding Node 24's `node`; first in code-server's PATH (its entry is `#!/usr/bin/env node`). */
  nodeBinDir: string;
  /** code-server's entry script (out/node/entry.js). */
  codeServer: string;
  /** A Chromium executable. */
  browser: string;
}

export function hostPathsFromEnv(): HostPaths {
  const cache = join(REPO_ROOT, '.vscode-test');
  const paths: HostPaths = {
    nodeBinDir: process.env.SMC_NODE24_BIN_DIR ?? join(cache, 'node24', 'node_modules', 'node', 'bin'),
    codeServer: process.env.SMC_CODE_SERVER ?? join(cache, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    browser: process.env.SMC_CHROMIUM ?? '/usr/bin/chromium',
  };
  for (const [what, p] of Object.entries(paths)) {
    if (!existsSync(p)) throw new Error(`${what} not found at ${p}: run \`node scripts/provision.mjs\` first`);
  }
  return paths;
}

/** Quiet workbench settings (TESTING.md): no welcome page, no trust prompt, nothing online. */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'git.enabled': false,
};

// ---- process bookkeeping ------------------------------------------------------------

const groups = new Set<ChildProcess>();

/**
 * Spawns `cmd` as the leader of a new process group, registered for `stopAll()`. Its output
 * goes to `log`, or stays with the caller when `capture` is set (stdin is then a pipe too).
 */
export function spawnGroup(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; log?: string; capture?: boolean }): ChildProcess {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, detached: true, stdio: [opts.capture ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  // Kept registered after the leader exits: its children (a relay, an extension host) may not have.
  groups.add(child);
  if (opts.capture) return child;
  if (opts.log) {
    const out = createWriteStream(opts.log);
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Ends a process group: SIGTERM, then SIGKILL after `graceMs`. Resolves once the leader exited. */
export async function stopGroup(child: ChildProcess, graceMs = 8_000): Promise<void> {
  if (!groups.has(child)) return; // already stopped: its pid may belong to someone else by now
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  killGroup(child, 'SIGKILL'); // children of the leader that outlived it
  groups.delete(child);
}

const browsers = new Set<Browser>();
const servers = new Set<{ stop(): Promise<void> }>();

/** Stops every browser, code-server (removing its folder) and process group this harness started. */
export async function stopAll(): Promise<void> {
  await Promise.all([...browsers].map((b) => b.close().catch(() => undefined)));
  browsers.clear();
  await Promise.all([...servers].map((s) => s.stop()));
  await Promise.all([...groups].map((g) => stopGroup(g)));
  groups.clear();
}

let exitHooks = false;
function installExitHooks(): void {
  if (exitHooks) return;
  exitHooks = true;
  // Last resort when the runner dies: never leave code-server or a relay behind.
  process.once('exit', () => {
    for (const g of groups) killGroup(g, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void stopAll().finally(() => process.exit(130));
    });
  }
}

// ---- small helpers --------------------------------------------------------------------

/** A free loopback port (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Polls `check` until it returns a value other than undefined, or fails with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/**
 * Alice's user settings in the e2e suites: the dark theme, her name, the relay at `relayPort`
 * (also where SMC: Start Relay listens), notifications quiet (only a mention notifies, docs/
 * extension.md "Notifications"), and a 30 s lease, so that the relay SMC: Start Relay leaves
 * behind stops 30 s after this code-server is gone, even if a step fails before SMC: Stop Relay
 * (docs/extension.md "The local relay").
 */
export function aliceSettings(relayPort: number): Record<string, unknown> {
  return {
    'workbench.colorTheme': 'Default Dark Modern',
    'smc.displayName': 'Alice',
    'smc.relay.host': '127.0.0.1',
    'smc.relay.port': relayPort,
    'smc.localRelay.host': '127.0.0.1',
    'smc.localRelay.port': relayPort,
    'smc.notifications': false,
    'smc.localRelay.leaseSeconds': 30,
  };
}

/** After each failed test of the suite: a screenshot of the workbench, `failed-PREFIXtitle`. */
export function screenshotFailures(prefix: string, workbench: () => Workbench | undefined): void {
  afterEach(async function () {
    const wb = workbench();
    if (this.currentTest?.state === 'failed' && wb) {
      const name = `failed-${prefix}${(this.currentTest.title || 'step').replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
      await wb.screenshot(name).catch(() => undefined);
    }
  });
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `smc-${prefix}-`));
}

export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

// ---- code-server ----------------------------------------------------------------------

export interface CodeServerOptions {
  /** A name for logs and folders ("integration", "alice", ...). */
  name: string;
  /** Folder opened in the workbench. */
  workspace: string;
  /** User settings on top of QUIET_SETTINGS. */
  settings?: Record<string, unknown>;
  /** Extra environment for code-server; it reaches the extension host. */
  env?: Record<string, string>;
  /** .vsix files to install into the fresh extensions folder before starting. */
  install?: string[];
}

/** One running code-server with its own fresh folder D (config, user data, extensions). */
export class CodeServer {
  private constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly workspace: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get authority(): string {
    return `127.0.0.1:${this.port}`;
  }

  get userDataDir(): string {
    return join(this.dir, 'ud');
  }

  get extensionsDir(): string {
    return join(this.dir, 'exts');
  }

  /** The URL that opens the workbench on `folder` (default: the workspace), with an optional test payload. */
  workbenchUrl(payload?: [string, string][], folder = this.workspace): string {
    let u = `${this.url}/?folder=${encodeURIComponent(folder)}`;
    if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    return u;
  }

  /** A path on the server as the `vscode-remote://` URI the workbench expects in a payload. */
  remoteUri(absPath: string): string {
    return `vscode-remote://${this.authority}${absPath}`;
  }

  static async start(paths: HostPaths, opts: CodeServerOptions): Promise<CodeServer> {
    installExitHooks();
    const dir = makeTempDir(`cs-${opts.name}`);
    mkdirSync(join(dir, 'ud', 'User'), { recursive: true });
    mkdirSync(join(dir, 'exts'), { recursive: true });
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), 'auth: none\ncert: false\n');
    writeFileSync(join(dir, 'ud', 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${paths.nodeBinDir}${delimiter}${process.env.PATH ?? ''}`,
      // Keep code-server's own state (logs, heartbeat) inside D, not in the user's home.
      XDG_DATA_HOME: join(dir, 'xdg-data'),
      XDG_CONFIG_HOME: join(dir, 'xdg-config'),
      // Everything this code-server writes is under D: the keys test searches it for key bytes.
      SMC_TEST_USER_DATA_DIR: dir,
      ...opts.env,
    };
    const node = join(paths.nodeBinDir, 'node');
    for (const vsix of opts.install ?? []) {
      await runToEnd(node, [paths.codeServer, '--user-data-dir', join(dir, 'ud'), '--extensions-dir', join(dir, 'exts'), '--install-extension', vsix, '--force'], env, `install ${vsix}`);
    }
    const port = await freePort();
    const logFile = join(RESULTS_DIR, `code-server-${opts.name}.log`);
    const args = [
      paths.codeServer,
      '--config', join(dir, 'config.yaml'),
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir', join(dir, 'ud'),
      '--extensions-dir', join(dir, 'exts'),
      // VS Code >= 1.133 ignores the test payload without it.
      '--vscode-option', 'enable-smoke-test-driver',
      opts.workspace,
    ];
    console.log(`[harness] code-server "${opts.name}" on ${port} (log: ${logFile})`);
    const child = spawnGroup(node, args, { env, log: logFile });
    const server = new CodeServer(opts.name, port, dir, opts.workspace, logFile, child);
    servers.add(server);
    try {
      await waitFor(`code-server "${opts.name}" to answer /healthz`, async () => {
        if (child.exitCode !== null) throw new Error(`code-server exited (${child.exitCode}); log tail:\n${tail(logFile)}`);
        const r = await fetch(`${server.url}/healthz`).catch(() => undefined);
        return r?.ok ? true : undefined;
      }, 90_000);
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  /** Changes user settings on disk; the workbench watches the file and applies them. */
  updateUserSettings(patch: Record<string, unknown>): void {
    const file = join(this.userDataDir, 'User', 'settings.json');
    const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...current, ...patch }, null, 2));
  }

  async stop(): Promise<void> {
    servers.delete(this);
    await stopGroup(this.child);
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function runToEnd(cmd: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((res) => child.once('exit', res));
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${out}`);
}

// ---- the browser ----------------------------------------------------------------------

/** Flags from TESTING.md: no sandbox (root in a container), nothing online, no GPU. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

export async function launchBrowser(paths: HostPaths): Promise<Browser> {
  installExitHooks();
  const browser = await chromium.launch({ executablePath: paths.browser, headless: true, args: CHROMIUM_FLAGS });
  browsers.add(browser);
  browser.once('disconnected', () => browsers.delete(browser));
  return browser;
}

// ---- the integration suite through VS Code's test payload ---------------------------

export interface ExtensionTestOptions {
  /** Absolute path of the extension under development (the work tree). */
  extensionPath: string;
  /** Absolute path of the compiled test entry (exports `run(): Promise<void>`). */
  testsPath: string;
  workspace: string;
  env?: Record<string, string>;
  /** Give up after this long (the suite itself has per-test timeouts). */
  timeoutMs?: number;
}

/** Workbench console lines that are expected offline (TESTING.md) and say nothing about SMC. */
const EXPECTED_NOISE = [/ENOTFOUND open-vsx\.org/, /authentication provider 'github'/];

/**
 * Runs an extension test entry inside code-server's extension host, as VS Code's own browser
 * integration tests do: the workbench gets a payload naming the extension and the tests, runs
 * them, forwards their console through `codeAutomationLog` and reports the result through
 * `codeAutomationExit`. Returns the exit code (0 = all passed).
 */
export async function runExtensionTests(paths: HostPaths, opts: ExtensionTestOptions): Promise<number> {
  const server = await CodeServer.start(paths, { name: 'integration', workspace: opts.workspace, env: opts.env });
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser(paths);
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // The extension host's vscode.env.clipboard is the browser's clipboard in code-server.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await context.newPage();
    let resolveExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((res) => (resolveExit = res));
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      // console.* arguments, format string first (mocha's reporter uses %s and %d).
      const text = format(...(Array.isArray(args) ? args : [args]));
      if (EXPECTED_NOISE.some((re) => re.test(text))) return;
      if (type === 'error') console.error(text);
      else console.log(text);
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
    page.on('pageerror', (e) => console.error(`[workbench] page error: ${e.message}`));
    const payload: [string, string][] = [
      ['extensionDevelopmentPath', server.remoteUri(opts.extensionPath)],
      ['extensionTestsPath', server.remoteUri(opts.testsPath)],
      ['skipWelcome', 'true'],
    ];
    await page.goto(server.workbenchUrl(payload));
    const timeoutMs = opts.timeoutMs ?? 300_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<number>((res) => {
      timer = setTimeout(() => {
        console.error(`[harness] the integration suite did not finish within ${timeoutMs / 1000}s`);
        res(1);
      }, timeoutMs);
    });
    const code = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    await page.screenshot({ path: join(RESULTS_DIR, 'integration-end.png') }).catch(() => undefined);
    return code;
  } finally {
    await browser?.close().catch(() => undefined);
    await server.stop();
  }
}

// ---- driving the workbench like a person --------------------------------------------

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A workbench page: command palette, quick input, notifications, status bar, the webview. */
export class Workbench {
  constructor(readonly page: Page, readonly server: CodeServer) {}

  /** Opens the workbench in a new page of `browser` and waits until it is usable. */
  static async open(browser: Browser, server: CodeServer): Promise<Workbench> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`[workbench ${server.name}] page error: ${e.message}`));
    await page.goto(server.workbenchUrl());
    const wb = new Workbench(page, server);
    await wb.waitUntilReady();
    return wb;
  }

  async waitUntilReady(): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });
    await this.page.locator('.statusbar').waitFor({ state: 'visible', timeout: 90_000 });
    // The extension host is up once the explorer shows the folder.
    await this.page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ state: 'attached', timeout: 90_000 }).catch(() => undefined);
  }

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /**
   * Saves through VS Code's save dialog (a quick input in code-server, which completes what is
   * typed): `open` opens it, the path is typed until it reads exactly `target`, then accepted,
   * and the file must have `size` bytes. The dialog reads a typed path asynchronously: an Enter
   * that comes first (a loaded machine) accepts the path it offered, `offered`. That file is
   * removed and the dialog opened again, at most three times; the product is not at fault.
   */
  async saveAs(open: () => Promise<void>, target: string, offered: string, size: number): Promise<void> {
    const input = this.quickInput.locator('input');
    for (let attempt = 1; ; attempt++) {
      await open();
      await input.waitFor({ state: 'visible', timeout: 30_000 });
      await waitFor('the path in the save dialog', async () => {
        await input.fill(target);
        return (await input.inputValue()) === target ? true : undefined;
      }, 30_000, 500);
      await this.page.keyboard.press('Enter');
      const saved = (path: string): boolean => existsSync(path) && statSync(path).isFile() && statSync(path).size === size;
      const where = await waitFor('the saved file', () => (saved(target) ? 'target' : target !== offered && saved(offered) ? 'offered' : undefined), 30_000);
      if (where === 'target') return;
      if (attempt === 3) throw new Error(`the save dialog saved to the path it offered (${offered}) three times, never to ${target}`);
      rmSync(offered);
    }
  }

  /**
   * Runs a command through the palette, choosing the row whose label is exactly `title`.
   * Retried when the palette closes under the click (focus taken by a panel or editor that
   * was still opening): the click either lands or throws, so a command never runs twice.
   */
  async runCommand(title: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const row = await this.findCommand(title);
      try {
        await row.click({ timeout: 10_000 });
        return;
      } catch (e) {
        if (attempt === 3) throw e;
      }
    }
  }

  /** Switches the colour theme with "Preferences: Color Theme", as a person does, and waits for it. */
  async setColorTheme(theme: string): Promise<void> {
    await this.runCommand('Preferences: Color Theme');
    await this.quickInput.locator('input').fill(theme);
    const row = this.quickInput.locator('.quick-input-list .monaco-list-row', {
      has: this.page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(theme)}\\s*$`) }),
    }).first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await row.click();
    const id = theme.toLowerCase().includes('dark') ? 'vs-dark' : 'vs';
    await waitFor(`the ${theme} theme`, async () => {
      const classes = await this.page.locator('.monaco-workbench').evaluate((el) => [...el.classList]);
      return classes.includes(id) ? true : undefined;
    }, 30_000);
  }

  /** Closes every modal dialog that is open (Escape), and fails if one will not close. */
  async dismissDialogs(): Promise<void> {
    const dialog = this.page.locator('.monaco-dialog-box');
    for (let i = 0; i < 10 && (await dialog.count()) > 0; i++) {
      await this.page.keyboard.press('Escape');
      await dialog.first().waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
    }
    if ((await dialog.count()) > 0) throw new Error('a modal dialog does not close');
  }

  /**
   * Opens the palette on `title` and returns its row, for a caller that clicks it itself (to
   * time it). Retries while the row is missing: right after the workbench loads, extension
   * contributions are still being registered.
   */
  async findCommand(title: string, timeoutMs = 60_000): Promise<Locator> {
    const rowFor = this.quickInput.locator('.quick-input-list .monaco-list-row', {
      has: this.page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(title)}\\s*$`) }),
    }).first();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        // The palette can close under the fill (focus taken back by a webview that was still
        // settling): that is one more attempt, not a failure.
        await this.openPalette();
        await this.quickInput.locator('input').fill(`>${title}`, { timeout: 5_000 });
        await rowFor.waitFor({ state: 'visible', timeout: 5_000 });
        return rowFor;
      } catch (e) {
        if (Date.now() > deadline) {
          const rows = await this.quickInput.locator('.quick-input-list .monaco-list-row').allInnerTexts().catch(() => []);
          throw new Error(`command "${title}" not in the palette after ${timeoutMs / 1000}s; rows shown: ${JSON.stringify(rows)}`, { cause: e });
        }
        await this.page.keyboard.press('Escape');
      }
    }
  }

  /** Every row the palette offers for `query` (e.g. "SMC:"), as label text, once one starts with it. */
  async paletteLabels(query: string, timeoutMs = 60_000): Promise<string[]> {
    const labels = this.quickInput.locator('.quick-input-list .monaco-list-row .label-name');
    return waitFor(`palette rows for "${query}"`, async () => {
      await this.openPalette();
      await this.quickInput.locator('input').fill(`>${query}`);
      await labels.first().waitFor({ state: 'visible', timeout: 5_000 }).catch(() => undefined);
      const texts = (await labels.allTextContents()).map((l) => l.trim());
      await this.page.keyboard.press('Escape');
      return texts.some((t) => t.startsWith(query)) ? texts : undefined;
    }, timeoutMs, 500);
  }

  private async openPalette(): Promise<void> {
    if (await this.quickInput.isVisible()) await this.page.keyboard.press('Escape');
    const input = this.quickInput.locator('input');
    // F1 first; Ctrl+Shift+P if F1 went to something that kept it (both are VS Code defaults).
    for (const key of ['F1', 'Control+Shift+P', 'F1']) {
      await this.page.keyboard.press(key);
      if (await input.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false)) return;
    }
    throw new Error('the command palette does not open (F1, Ctrl+Shift+P)');
  }

  /** Answers an input box or quick pick shown by a command: types `text` and presses Enter. */
  async answerInput(text: string, opts: { promptContains?: string } = {}): Promise<void> {
    const input = this.quickInput.locator('input');
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    if (opts.promptContains) {
      await this.quickInput.filter({ hasText: opts.promptContains }).waitFor({ state: 'visible', timeout: 30_000 });
    }
    await input.fill(text);
    await this.page.keyboard.press('Enter');
  }

  /** Picks the quick-pick row containing `text`. */
  async pick(text: string | RegExp): Promise<void> {
    const row = this.quickInput.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await row.click();
  }

  statusItem(text: string | RegExp): Locator {
    return this.page.locator('.statusbar-item', { hasText: text });
  }

  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text });
  }

  /** Clicks a button of the notification that contains `text`. */
  async clickNotificationButton(text: string | RegExp, button: string): Promise<void> {
    const toast = this.notification(text).first();
    await toast.waitFor({ state: 'visible', timeout: 30_000 });
    await toast.locator('.monaco-button', { hasText: button }).first().click();
  }

  /** The content frame of the first webview (two iframes deep). */
  webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview').first().frameLocator('#active-frame');
  }

  /**
   * SMC: Open Chat, then waits until the panel shows `ready` (a selector in the webview; its
   * composer by default). `closeEditors` first closes every editor (the panel opens afresh).
   */
  async openChat(opts: { ready?: string; closeEditors?: boolean } = {}): Promise<void> {
    if (opts.closeEditors === true) await this.runCommand('View: Close All Editors');
    await this.runCommand('SMC: Open Chat');
    await this.webview().locator(opts.ready ?? '#composer').waitFor({ state: 'visible', timeout: 60_000 });
  }

  /** The content frame of the first webview as a Playwright Frame, for `evaluate`. */
  async webviewFrame(): Promise<Frame> {
    // Just after a reload or an Open Chat the iframe can be there before its document (no frame
    // yet, or one that is replaced): asked again until both frames are attached.
    return waitFor('the webview\'s active frame', async () => {
      const outer = await this.page.locator('iframe.webview').first().elementHandle({ timeout: 60_000 });
      const outerFrame = await outer.contentFrame();
      if (!outerFrame) return undefined;
      const inner = await outerFrame.locator('#active-frame').elementHandle({ timeout: 60_000 }).catch(() => undefined);
      const frame = await inner?.contentFrame();
      return frame ?? undefined;
    }, 60_000);
  }

  /**
   * Opens a workspace file through Quick Open (the palette's input without the ">" prefix),
   * clicking its row once the file search has found it.
   */
  async openFile(relPath: string): Promise<void> {
    const base = relPath.split('/').pop() ?? relPath;
    await this.openPalette();
    await this.quickInput.locator('input').fill(relPath);
    const row = this.quickInput.locator('.quick-input-list .monaco-list-row', { hasText: base }).first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await row.click();
    await this.page.locator('.tabs-container .tab.active', { hasText: base }).waitFor({ state: 'visible', timeout: 30_000 });
  }

  /** Moves the cursor of the active editor to `line` (the palette's ":" mode, Go to Line). */
  async goToLine(line: number): Promise<void> {
    await this.openPalette();
    await this.quickInput.locator('input').fill(`:${line}`);
    await this.quickInput.filter({ hasText: new RegExp(`line ${line}\\b`, 'i') }).waitFor({ state: 'visible', timeout: 15_000 }).catch(() => undefined);
    await this.page.keyboard.press('Enter');
    await this.cursorAt(line);
  }

  /**
   * Selects whole lines `from`..`to` of the active editor with the keyboard, and waits until the
   * status bar reports the selection (retried: keys sent while the quick input is still closing
   * would go elsewhere).
   */
  async selectLines(from: number, to: number): Promise<void> {
    const status = this.page.locator('[id="status.editor.selection"]');
    for (let attempt = 1; ; attempt++) {
      await this.goToLine(from);
      await this.quickInput.waitFor({ state: 'hidden', timeout: 15_000 });
      await this.page.keyboard.press('Home');
      for (let l = from; l < to; l++) await this.page.keyboard.press('Shift+ArrowDown');
      await this.page.keyboard.press('Shift+End');
      const ok = await waitFor(`lines ${from}-${to} selected`, async () => {
        const t = (await status.allTextContents()).join(' ');
        return new RegExp(`Ln ${to}\\b.*selected`).test(t) ? true : undefined;
      }, 5_000).then(() => true, () => false);
      if (ok) return;
      if (attempt === 3) throw new Error(`could not select lines ${from}-${to}; status: ${(await status.allTextContents()).join(' ')}`);
    }
  }

  /** Waits until the status bar shows the cursor on `line` (the editor's "Ln L, Col C" item). */
  async cursorAt(line: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(`the cursor on line ${line}`, async () => {
      const texts = await this.page.locator('[id="status.editor.selection"]').allTextContents();
      return texts.some((t) => new RegExp(`Ln ${line}\\b`).test(t)) ? true : undefined;
    }, timeoutMs);
  }

  async screenshot(name: string): Promise<string> {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async close(): Promise<void> {
    await this.page.context().close().catch(() => undefined);
  }
}
