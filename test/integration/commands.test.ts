// Every SMC command the issue names is contributed under the "SMC" category and registered by
// the running extension (issue 4 §1).
import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { activateExtension } from './extension';

interface ContributedCommand { command: string; title: string; category?: string }

/** Palette titles from issue 4 §1 (src/shared/messages.ts lists the exact ones). */
const REQUIRED_TITLES = [
  'Start Relay', 'Stop Relay', 'Open Chat', 'Create Room', 'Join Room', 'Copy Invite Link',
  'Share Selection', 'Show My Fingerprint', 'Connect to Relay', 'Disconnect from Relay',
];

describe('commands', () => {
  let contributed: ContributedCommand[] = [];

  before(async () => {
    const { ext } = await activateExtension();
    const pkg = ext.packageJSON as { contributes?: { commands?: ContributedCommand[] } };
    contributed = pkg.contributes?.commands ?? [];
  });

  it('contributes every command of the issue under the SMC category', () => {
    const titles = contributed.filter((c) => c.category === 'SMC').map((c) => c.title);
    for (const t of REQUIRED_TITLES) assert.ok(titles.includes(t), `no "SMC: ${t}" command; contributed: ${titles.join(', ')}`);
  });

  it('keeps palette titles distinct, none a prefix of another (the palette runs the top match)', () => {
    const titles = contributed.map((c) => `${c.category ?? ''}: ${c.title}`);
    for (const a of titles) {
      for (const b of titles) {
        if (a !== b) assert.ok(!b.startsWith(a), `"${a}" is a prefix of "${b}"`);
      }
    }
  });

  it('registers every contributed command in the running extension', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c.command)).map((c) => c.command);
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  it('offers Share Selection in the editor context menu', () => {
    const ext = vscode.extensions.getExtension('smc-chat.smc');
    const menus = (ext?.packageJSON as { contributes?: { menus?: Record<string, { command: string }[]> } }).contributes?.menus ?? {};
    const ctx = menus['editor/context'] ?? [];
    assert.ok(ctx.some((m) => m.command === 'smc.shareSelection'), 'smc.shareSelection is not in editor/context');
  });
});
