// Shared helpers of the integration suite: the extension under test, its test-only API (free of
// secrets, documented in src/shared/messages.ts), and polling for state that changes
// asynchronously.
import * as vscode from 'vscode';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestingApi } from '../../src/vscode/extension';

export const EXTENSION_ID = 'smc-chat.smc';

/** The extension's `testing` export (src/shared/messages.ts, "extension API"). */
export type { TestingApi };

export async function activateExtension(): Promise<{ ext: vscode.Extension<unknown>; testing: TestingApi }> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded in this host`);
  const exported = (await ext.activate()) as { testing?: TestingApi } | undefined;
  if (!exported?.testing) throw new Error(`extension ${EXTENSION_ID} does not export its testing API`);
  return { ext, testing: exported.testing };
}

/** Polls until `check` returns something other than undefined, or fails naming `what`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up after ${timeoutMs / 1000}s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await sleep(100);
  }
}

/** Sets a global (user) setting of the extension and returns a function that restores it. */
export async function setSetting(key: string, value: unknown): Promise<() => Promise<void>> {
  const [section, ...rest] = key.split('.');
  const cfg = vscode.workspace.getConfiguration(section);
  const name = rest.join('.');
  const before = cfg.inspect(name)?.globalValue;
  await cfg.update(name, value, vscode.ConfigurationTarget.Global);
  return async () => {
    await vscode.workspace.getConfiguration(section).update(name, before, vscode.ConfigurationTarget.Global);
  };
}
