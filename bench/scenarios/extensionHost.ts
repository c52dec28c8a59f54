// Scenarios 9 and 10 (issue 4 "Done when"), in the real host: code-server (VS Code's own
// server and workbench) with the work tree loaded as the extension under development, driven
// by headless Chromium through the test engineer's harness (test/e2e/harness.ts).
//   9. Activation time as VS Code itself records it (the extension host's activationTimes,
//      shown by "Developer: Show Running Extensions" as codeLoadingTime + activateCallTime);
//      baseline: the built-in extensions activated in the same host.
//  10. Time to open the chat panel on a room with 10 000 messages, from the click on
//      "SMC: Open Chat" to the first message painted (visible, then two animation frames);
//      baseline: the same on a room with 10 messages.
import type { Browser, Frame } from 'playwright-core';
import { formatInvite, generateRoomKey } from '../../src/core/crypto/index';
import { CodeServer, Workbench, hostPathsFromEnv, launchBrowser, makeTempDir, stopAll, type HostPaths } from '../../test/e2e/harness';
import { sealRoom } from '../lib/envelopes';
import { fmt, result, type RunContext, type Scenario } from '../lib/report';
import { seedMessages } from '../lib/seed';
import { productionExtensionCopy } from '../lib/productionBuild';
import { startRelay } from '../lib/servers';
import { nowNs } from '../lib/stats';
import { rmSync } from 'node:fs';

const EXTENSION_NAME = /SMC|smc-chat\.smc/;
const TARGET_ACTIVATION_MS = 50;
const TARGET_PANEL_NS = 1e9;

interface RuntimeRow {
  name: string;
  time: string;
}

/** Reads the Running Extensions editor: every row's name and activation-time text. */
async function runningExtensions(wb: Workbench): Promise<RuntimeRow[]> {
  await wb.runCommand('Developer: Show Running Extensions');
  await wb.page.locator('.activation-time').first().waitFor({ state: 'visible', timeout: 60_000 });
  // A tall page, so that the virtualised list renders every row at once.
  await wb.page.setViewportSize({ width: 1400, height: 4000 });
  // The project compiles without the DOM library, so the page-side code is given as a string.
  const read = `(() => Array.from(document.querySelectorAll('.monaco-list-row')).map((row) => ({
    name: (row.querySelector('.name') || {}).textContent || '',
    time: (row.querySelector('.activation-time') || {}).textContent || '',
  })).filter((r) => r.name))()`;
  for (let i = 0; i < 100; i++) {
    const rows = (await wb.page.evaluate(read)) as RuntimeRow[];
    const ours = rows.find((r) => EXTENSION_NAME.test(r.name));
    if (ours && /\d+ms/.test(ours.time)) {
      await wb.page.setViewportSize({ width: 1400, height: 900 });
      // This VS Code shows Running Extensions as a modal editor, which the palette cannot reach.
      await wb.page.keyboard.press('Escape');
      await wb.page.locator('.activation-time').first().waitFor({ state: 'hidden', timeout: 15_000 }).catch(() => undefined);
      return rows;
    }
    await wb.page.waitForTimeout(200);
  }
  throw new Error('the SMC extension never showed an activation time in Running Extensions');
}

/**
 * Opens the workbench with the work tree as the extension under development (VS Code's
 * `extensionDevelopmentPath` payload, TESTING.md), from `extensionDir`.
 */
async function openWithDevelopmentExtension(browser: Browser, server: CodeServer, extensionDir: string): Promise<Workbench> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(server.workbenchUrl([['extensionDevelopmentPath', server.remoteUri(extensionDir)], ['skipWelcome', 'true']]));
  const wb = new Workbench(page, server);
  await wb.waitUntilReady();
  return wb;
}

const msOf = (text: string): number => Number(/(\d+)ms/.exec(text)?.[1] ?? NaN);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

async function joinRoom(wb: Workbench, invite: string, name: string): Promise<void> {
  await wb.runCommand('SMC: Join Room');
  await wb.pick(/Paste an invite link/);
  await wb.answerInput(invite, { promptContains: 'Paste the invite link' });
  await wb.statusItem(new RegExp(name)).first().waitFor({ state: 'visible', timeout: 120_000 });
}

async function twoFrames(frame: Frame): Promise<void> {
  await frame.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(undefined))))');
}

/** Opens the panel `rounds` times (after one untimed open); ns from click to first paint. */
async function timePanelOpen(wb: Workbench, label: string, rounds: number): Promise<number[]> {
  const firstMessage = (): Promise<void> =>
    wb.webview().locator('#messages .message', { hasText: label }).first().waitFor({ state: 'visible', timeout: 120_000 });
  await wb.runCommand('SMC: Open Chat');
  await firstMessage();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await wb.runCommand('View: Close All Editors');
    await wb.page.locator('iframe.webview').first().waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
    const row = await wb.findCommand('SMC: Open Chat');
    const t0 = nowNs();
    await row.click();
    await firstMessage();
    await twoFrames(await wb.webviewFrame());
    times.push(nowNs() - t0);
  }
  await wb.runCommand('View: Close All Editors');
  return times;
}

export const extensionHost: Scenario = {
  id: 'extension-host',
  title: '9–10. Extension in the real host (code-server + Chromium): activation, and the panel on 10 000 messages',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    let paths: HostPaths;
    try {
      paths = hostPathsFromEnv();
    } catch (e) {
      r.status = 'not measured';
      r.notes.push(`The real host is not available: ${e instanceof Error ? e.message : String(e)} (\`node scripts/provision.mjs\` installs code-server, Node 24 and Chromium). Nothing was measured in its place.`);
      return r;
    }
    const count = ctx.quick ? 2_000 : 10_000;
    const rounds = ctx.quick ? 1 : 3;
    const relay = await startRelay();
    const workspace = makeTempDir('bench-ws');
    // The extension as it ships (production bundles), not the development build in dist/.
    const extensionDir = makeTempDir('bench-ext');
    let server: CodeServer | undefined;
    let failureShot: (() => Promise<unknown>) | undefined;
    try {
      await productionExtensionCopy(extensionDir);
      ctx.log(`extension host: seeding rooms of 10 and ${count} messages`);
      const bigKey = generateRoomKey();
      const smallKey = generateRoomKey();
      const big = sealRoom(count, bigKey, 'Big-room message');
      const small = sealRoom(10, smallKey, 'Small-room message');
      await seedMessages(relay.port, big.cipher, big.messages);
      await seedMessages(relay.port, small.cipher, small.messages);
      ctx.log('extension host: starting code-server and Chromium');
      server = await CodeServer.start(paths, {
        name: 'bench',
        workspace,
        settings: {
          'smc.displayName': 'Bench',
          'smc.relay.host': '127.0.0.1',
          'smc.relay.port': relay.port,
          'smc.notifications': false,
        },
      });
      const wb = await openWithDevelopmentExtension(await launchBrowser(paths), server, extensionDir);
      failureShot = () => wb.screenshot('bench-extension-host-failure');

      ctx.log('extension host: activation time');
      // The first sample is the workbench's first start; more come from "Developer: Reload
      // Window" (the web workbench has no "Restart Extension Host"): a new extension host in
      // which every extension activates again and VS Code records anew.
      const samples: { ours: number; others: RuntimeRow[] }[] = [];
      const activationSamples = ctx.quick ? 1 : 5;
      for (let i = 0; i < activationSamples; i++) {
        if (i > 0) {
          await wb.runCommand('Developer: Reload Window');
          await wb.page.waitForTimeout(2_000);
          await wb.waitUntilReady();
          await wb.statusItem(/SMC/).first().waitFor({ state: 'visible', timeout: 90_000 });
        }
        const rows = await runningExtensions(wb);
        const mine = rows.find((x) => EXTENSION_NAME.test(x.name));
        samples.push({ ours: msOf(mine?.time ?? ''), others: rows.filter((x) => x !== mine && /\d+ms/.test(x.time)) });
      }
      const activationMs = median(samples.map((x) => x.ours));
      const others = samples[samples.length - 1]?.others ?? [];
      const othersMs = samples.map((x) => median(x.others.map((o) => msOf(o.time))));

      ctx.log('extension host: panel on 10 messages');
      await joinRoom(wb, formatInvite({ host: '127.0.0.1', port: relay.port, name: 'bench-small', key: smallKey }), 'bench-small');
      const smallTimes = await timePanelOpen(wb, 'Small-room message', rounds);
      ctx.log(`extension host: panel on ${count} messages`);
      await joinRoom(wb, formatInvite({ host: '127.0.0.1', port: relay.port, name: 'bench-big', key: bigKey }), 'bench-big');
      const bigTimes = await timePanelOpen(wb, 'Big-room message', rounds);
      await wb.screenshot('bench-panel-10k').catch(() => undefined);
      const bigNs = median(bigTimes);
      ctx.log(`extension host: activation ${activationMs} ms; panel ${fmt.s(bigNs)}`);

      r.metrics.push(
        { name: `activation time (VS Code's record: code loading + activate()), median of ${samples.length}`, value: fmt.ms(activationMs), baseline: others.length ? `${fmt.ms(median(othersMs))} (built-in extensions' median, same activations)` : 'none activated', target: '≤ 50 ms', met: activationMs <= TARGET_ACTIVATION_MS },
        { name: `open the panel on ${fmt.int(count)} messages, to first paint (median)`, value: fmt.ms(bigNs / 1e6), baseline: `${fmt.ms(median(smallTimes) / 1e6)} (room of 10 messages)`, target: '≤ 1 s', met: bigNs <= TARGET_PANEL_NS },
      );
      r.notes.push(
        `Activation: ${samples.map((x) => `${x.ours} ms`).join(', ')} in Running Extensions (first at the workbench's first start, then after each "Developer: Reload Window") for a copy of the extension as it ships (package.json, media/, and dist/ with the production bundles built from the work tree as in scripts/build.mjs --production), loaded as the extension under development in code-server; it activates on \`onStartupFinished\`, together with the built-in extensions that start then, all competing for the same 2 cores. Built-in extensions in the last sample: ${others.map((x) => `${x.name} ${msOf(x.time)} ms`).join(', ') || 'none'}.`,
        `Panel: ${rounds} timed open(s) per room after one untimed open, each after "View: Close All Editors"; the clock runs from the click on the "SMC: Open Chat" palette row to the first message of that room visible in the webview plus two animation frames. Room of ${fmt.int(count)}: ${bigTimes.map((t) => fmt.ms(t / 1e6)).join(', ')}; room of 10: ${smallTimes.map((t) => fmt.ms(t / 1e6)).join(', ')}. The messages were already loaded by the extension host (the room was joined before), as when a user opens the panel on a room they are in.`,
        'Headless Chromium with no GPU on the shared 2-core machine: code-server, its extension host, the browser and the relay all ran on it at once.',
      );
      if (!(activationMs <= TARGET_ACTIVATION_MS)) {
        const best = Math.min(...samples.map((x) => x.ours));
        r.limits.push(`VS Code's figure is wall-clock time from starting to load the bundle to activate() returning, and the extension activates on \`onStartupFinished\` at the same moment as the built-in extensions, on 2 cores that code-server, Chromium and other engineers' work also use: the samples range from ${best} ms to ${Math.max(...samples.map((x) => x.ours))} ms, and the built-in extensions' median moves with them. The fastest sample (${best} ms) is the best estimate of the extension's own cost; the median is reported against the target.`);
      }
      if (!(bigNs <= TARGET_PANEL_NS)) r.limits.push('The panel receives the room\'s messages from the extension host over postMessage and renders them; the difference from the 10-message room is what the 10 000 messages cost.');
    } catch (e) {
      // Keep a picture of the workbench for whoever reads the failure (test-results/ is git-ignored).
      await failureShot?.().catch(() => undefined);
      throw e;
    } finally {
      await stopAll();
      await server?.stop();
      await relay.stop();
      rmSync(workspace, { recursive: true, force: true });
      rmSync(extensionDir, { recursive: true, force: true });
    }
    return r;
  },
};
